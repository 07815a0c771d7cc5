import { dispatchCommand } from './dispatch.js';
import { routeRemoveButton } from './route.js';
import { createModalHandler } from './source-create.js';
import { deleteButtonHandler } from './source-delete.js';
import { listPageButton } from './source-manage.js';
import { secretModalHandler } from './source-secret.js';
import { connectModalHandler } from './source-connect.js';
import { triageHandler, triagePickHandler } from './triage.js';
import { templateSetModal } from './template.js';
import type { Command, ComponentHandler } from './types.js';

/** Every slash command, in one static list: what deploy-commands registers and the router serves. */
export const commands: readonly Command[] = [dispatchCommand];

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
];

export type { Answer, Command, CommandContext, ComponentHandler, Deferral, SlashHandler } from './types.js';
