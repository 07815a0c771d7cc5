import type { CardReconciler } from '../src/cards/reconciler.js';
import type { DigestScheduler } from '../src/schedule/digest-scheduler.js';
import type { KeyPlace } from '../src/db/key-file.js';
import type {
  AutocompleteInteraction,
  ButtonInteraction,
  ChatInputCommandInteraction,
  InteractionEditReplyOptions,
  ModalBuilder,
  MessageContextMenuCommandInteraction,
  ModalSubmitInteraction,
  RESTPostAPIChatInputApplicationCommandsJSONBody,
  RESTPostAPIContextMenuApplicationCommandsJSONBody,
  StringSelectMenuInteraction,
} from 'discord.js';
import type { Database } from '../src/db/database.js';
import type { SecretBox } from '../src/db/secret-box.js';
import type { FloodSettings } from '../src/delivery/policy.js';
import type { SendMessage } from '../src/delivery/sender.js';
import type { Logger } from '../src/logger.js';
import type { UrlPolicy } from '../src/sentry-api/url-guard.js';
import type { DiscordPeople } from '../src/discord/people.js';

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
  /**
   * Tells the worker's housekeeping that a change left it work: a removed route or deleted source
   * to purge, quiet hours that no longer hold what they held. Done within seconds anyway; this is now.
   */
  tidy: () => void;
  /** Which Sentry base URLs may be called (SENTRY_ALLOW_INSECURE_URLS, SENTRY_ALLOW_PRIVATE_URLS). */
  sentryUrls: UrlPolicy;
  /** Reads an issue back a few seconds after a change Sentry did not confirm. */
  cardChecks: Pick<CardReconciler, 'checkSoon'>;
  /** Makes a route's digest now (`/dispatch route digest`), or shows what it would say. */
  digests: Pick<DigestScheduler, 'makeNow' | 'preview'>;
  /** Where the key that seals secrets is kept, for `info`. */
  keyPlace: KeyPlace;
  /** True while this replica knows Postgres is away (src/spool): commands are answered that it is, at once. */
  databaseAway?: () => boolean;
  /** A member's DM channel with the bot, for `/dispatch me` (src/discord/people.ts). */
  people: Pick<DiscordPeople, 'openDm'>;
}

/**
 * How an interaction is first answered. Discord allows 3 s for that, and on SQLite a handler's
 * database work holds the one event loop (no timer fires meanwhile), so the router sends it before
 * the handler runs, and runs the handler only once Discord has taken it:
 * - `reply`: an ephemeral deferred reply ("Dispatch is thinking…"); the handler's answer replaces it.
 * - `update`: a deferred update of the message the button or menu sits on; the answer edits that
 *   message when it is the member's own (ephemeral) one, and comes as an ephemeral follow-up on a
 *   shared one (a card): an answer never edits a card.
 * - `modal`: the handler's form is the first answer (Discord allows nothing before a form), so the
 *   handler may only do bounded indexed reads (a source or route by name) before returning it.
 */
export type Acknowledgement = 'reply' | 'update' | 'modal';

/** A handler's answer once its work is done; the router sends it, ephemeral and pinging nobody. */
export type Answer = Omit<InteractionEditReplyOptions, 'allowedMentions' | 'message' | 'content'> & { content?: string };

/** The methods that answer an interaction: the router's alone (see Acknowledgement). */
type AnswerMethod =
  | 'reply'
  | 'deferReply'
  | 'editReply'
  | 'deleteReply'
  | 'fetchReply'
  | 'followUp'
  | 'showModal'
  | 'awaitModalSubmit'
  | 'launchActivity'
  | 'sendPremiumRequired';

/** A `/dispatch` invocation as its handler sees it: what was asked, not how to answer. */
export type CommandInvocation = Omit<ChatInputCommandInteraction<'cached'>, AnswerMethod>;

/**
 * A subcommand's handler: deferred, it returns its answer; opening a form, it returns the form.
 * `anyMember`: not only members with Manage Server (a member's own settings, `/dispatch me`; or a
 * handler that checks who may itself, `/dispatch issue`).
 */
export type SlashHandler = { anyMember?: true } & (
  | { acknowledge: 'reply'; run(interaction: CommandInvocation, ctx: CommandContext): Promise<Answer> }
  | { acknowledge: 'modal'; run(interaction: CommandInvocation, ctx: CommandContext): Promise<ModalBuilder> }
);

/** A message command (a message's Apps menu) as its handler sees it: the message it was used on, and who used it. */
export type MessageInvocation = Omit<MessageContextMenuCommandInteraction<'cached'>, AnswerMethod>;

/**
 * A message command: its definition and its handler, deferred like a subcommand's. Discord hands it
 * the target message, so it needs no Message Content intent. Its handler checks who may use it.
 */
export interface MessageCommand {
  data: { name: string; toJSON(): RESTPostAPIContextMenuApplicationCommandsJSONBody };
  acknowledge: 'reply';
  run(interaction: MessageInvocation, ctx: CommandContext): Promise<Answer>;
}

/** A slash command: its definition and its handlers (the discord.js guide's `{ data, execute }`, one handler per subcommand). */
export interface Command {
  data: { name: string; toJSON(): RESTPostAPIChatInputApplicationCommandsJSONBody };
  /** Its handlers by subcommand path (`source create`), each declaring how it is acknowledged. */
  handlers: Readonly<Record<string, SlashHandler>>;
  autocomplete?(interaction: AutocompleteInteraction<'cached'>, ctx: CommandContext): Promise<void>;
  /** Whether this autocomplete is one a member without Manage Server may use (it then shows only what they may see). */
  memberAutocomplete?(interaction: AutocompleteInteraction<'cached'>): boolean;
}

/** The acknowledgements that come before the work: a button, menu or form submit of ours never answers with a form. */
export type Deferral = Exclude<Acknowledgement, 'modal'>;

export type ComponentInteraction = ModalSubmitInteraction<'cached'> | ButtonInteraction<'cached'> | StringSelectMenuInteraction<'cached'>;

/**
 * A modal or button of ours. Its custom id is `<command>:<action>:<args…>`; `action` picks the
 * handler, `args` carry what the handler needs (never a secret: custom ids are visible to clients).
 */
export interface ComponentHandler {
  action: string;
  /** Any member may use it: the handler checks who may itself (triage: Manage Server or the route's role). Otherwise Manage Server only. */
  anyMember?: true;
  /**
   * How it is acknowledged (see Acknowledgement): a form submit or a new ephemeral message is a
   * `reply`, a button or menu that changes the message it sits on an `update`. A function of the
   * custom id's args where they differ (triage: Assign… opens a menu, Resolve changes the card).
   */
  acknowledge: Deferral | ((args: readonly string[]) => Deferral);
  /** Its work, after the acknowledgement; undefined (after an `update` only): nothing to say beyond it (a card the delivery will edit). */
  handle(interaction: ComponentInteraction, args: string[], ctx: CommandContext): Promise<Answer | undefined>;
}
