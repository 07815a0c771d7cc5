import type { CardReconciler } from '../src/cards/reconciler.js';
import type { DigestScheduler } from '../src/schedule/digest-scheduler.js';
import type { KeyPlace } from '../src/db/key-file.js';
import type {
  AutocompleteInteraction,
  ButtonInteraction,
  ChatInputCommandInteraction,
  ModalSubmitInteraction,
  RESTPostAPIChatInputApplicationCommandsJSONBody,
  StringSelectMenuInteraction,
} from 'discord.js';
import type { Database } from '../src/db/database.js';
import type { SecretBox } from '../src/db/secret-box.js';
import type { FloodSettings } from '../src/delivery/policy.js';
import type { SendMessage } from '../src/delivery/sender.js';
import type { Logger } from '../src/logger.js';
import type { UrlPolicy } from '../src/sentry-api/url-guard.js';

/** What handlers may use; built once at start-up and passed down. */
export interface CommandContext {
  db: Database;
  logger: Logger;
  /** Base of webhook URLs shown to users. */
  publicUrl: string;
  /** Posts a message to a channel now (used by `test`), outside the delivery queue. */
  send: SendMessage;
  now: () => number;
  /** Seals a signing secret before it is stored. */
  secrets: SecretBox;
  /** REQUIRE_SIGNATURE: no source may be created or left without a signing secret. */
  requireSignature: boolean;
  /** The flood settings, to show a source's flood state. */
  flood: FloodSettings;
  /** Tells the delivery worker that events became due (after `retry`, a triage action). */
  wakeDelivery: () => void;
  /** Which Sentry base URLs may be called (SENTRY_ALLOW_INSECURE_URLS, SENTRY_ALLOW_PRIVATE_URLS). */
  sentryUrls: UrlPolicy;
  /** Reads an issue back a few seconds after a change Sentry did not confirm. */
  cardChecks: Pick<CardReconciler, 'checkSoon'>;
  /** Makes a route's digest now (`/dispatch route digest`), or shows what it would say. */
  digests: Pick<DigestScheduler, 'makeNow' | 'preview'>;
  /** Where the key that seals secrets is kept, for `info`. */
  keyPlace: KeyPlace;
}

/** A slash command: its definition and its handlers (the discord.js guide's `{ data, execute }`). */
export interface Command {
  data: { name: string; toJSON(): RESTPostAPIChatInputApplicationCommandsJSONBody };
  execute(interaction: ChatInputCommandInteraction<'cached'>, ctx: CommandContext): Promise<void>;
  autocomplete?(interaction: AutocompleteInteraction<'cached'>, ctx: CommandContext): Promise<void>;
}

/**
 * A modal or button of ours. Its custom id is `<command>:<action>:<args…>`; `action` picks the
 * handler, `args` carry what the handler needs (never a secret: custom ids are visible to clients).
 */
export interface ComponentHandler {
  action: string;
  /** Any member may use it: the handler checks who may itself (triage: Manage Server or the route's role). Otherwise Manage Server only. */
  anyMember?: true;
  handle(
    interaction: ModalSubmitInteraction<'cached'> | ButtonInteraction<'cached'> | StringSelectMenuInteraction<'cached'>,
    args: string[],
    ctx: CommandContext,
  ): Promise<void>;
}
