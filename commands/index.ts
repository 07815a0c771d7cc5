import { dispatchCommand } from './dispatch.js';
import { routeRemoveButton } from './route.js';
import { createModalHandler } from './source-create.js';
import { deleteButtonHandler } from './source-delete.js';
import { listPageButton } from './source-manage.js';
import { secretModalHandler } from './source-secret.js';
import { connectModalHandler } from './source-connect.js';
import { triageHandler, triagePickHandler } from './triage.js';
import { templateSetModal } from './template.js';
import type { Command, ComponentHandler, MessageCommand } from './types.js';
import { meConnectModalHandler } from './me.js';
import { showIssueCommand } from './issue.js';

/** Every slash command, in one static list: what deploy-commands registers and the router serves. */
export const commands: readonly Command[] = [dispatchCommand];

/** Message commands (a message's Apps menu), registered with the slash commands. */
export const messageCommands: readonly MessageCommand[] = [showIssueCommand];

/** Modals and buttons, by the `action` part of their custom id. */
export const componentHandlers: readonly ComponentHandler[] = [
  createModalHandler,
  secretModalHandler,
  deleteButtonHandler,
  listPageButton,
  templateSetModal,
  routeRemoveButton,
  connectModalHandler,
  triageHandler,
  triagePickHandler,
  meConnectModalHandler,
];

export type { Answer, Command, CommandContext, ComponentHandler, Deferral, MessageCommand, SlashHandler } from './types.js';
