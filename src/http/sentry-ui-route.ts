import express, { Router, type Request, type RequestHandler } from 'express';
import { PermissionFlagsBits } from 'discord.js';
import { acceptAlertPingRole } from '../db/alert-ping-roles.js';
import type { Database } from '../db/database.js';
import { routesOf } from '../db/routes.js';
import type { Route } from '../db/schema.js';
import type { SecretBox } from '../db/secret-box.js';
import { findWebhookTarget, SLUG_PATTERN, type WebhookTarget } from '../db/sources.js';
import { isPostableType, missingToPost } from '../discord/channel-check.js';
import { isEveryone, type GuildView, type ServerChannel, type ServerRole } from '../discord/guild-view.js';
import { parseRouteId, type GuildId } from '../ids.js';
import type { Logger } from '../logger.js';
import { alertActionIn, NO_PING, type AlertAction } from '../sentry/alert-action.js';
import { SentryUiRefusal } from './http-error.js';
import { checkSourceSignature } from './signature-check.js';

/**
 * What Sentry's UI component (src/sentry/ui-schema.ts) asks Dispatch, at `/sentry-ui/<slug>/…` on
 * the webhook URL's host (see docs/sentry-ui-components.md for the upstream code each shape is from):
 *
 * - `GET routes`, `GET roles`: the options of the Route and Ping role selects, when an alert rule
 *   form opens (select_requester.py). Signed with `Sentry-App-Signature`, the HMAC of an empty
 *   string; query `installationId`, `projectSlug`, `query`, `dependentData`. The answer is a JSON
 *   list of `{label, value, default}`. If it fails, Sentry shows none of the component, so Discord
 *   being slow or down costs labels or roles, never the answer.
 * - `POST settings`: the settings chosen, when a rule is saved (alert_rule_action_requester.py):
 *   `{"fields": [{name, value, label?}], "installationId"}`, signed over the exact body. 200 lets
 *   the rule be saved; 4xx refuses it, and Sentry shows our `message` to the person saving it.
 *
 * Only the source's own routes and its own server's roles are ever listed or accepted.
 */
export interface SentryUiDeps {
  db: Database;
  logger: Logger;
  secrets: SecretBox;
  requireSignature: boolean;
  /** The source's server, over REST: any replica answers these. */
  guilds: GuildView;
  now: () => number;
}

/** At most this many options in an answer: a select with more is no use in a form. */
const MAX_OPTIONS = 100;
/** How long the options may wait for Discord before answering without it (Sentry gives up after 30 s). */
const DISCORD_WAIT_MS = 3000;
/** Longest note accepted: it is shown in an embed field of 1,024 characters, beside the rest. */
const NOTE_MAX = 500;
/** The settings body is a few fields; anything larger is not Sentry's. */
const MAX_SETTINGS_BYTES = 64 * 1024;

interface SelectOption {
  label: string;
  value: string;
  default: boolean;
}

const refuse = (status: number, message: string) => new SentryUiRefusal(status, message);

/** Sentry's `query` (what the person typed, for async selects): options whose label contains it. */
function matching(options: SelectOption[], query: unknown): SelectOption[] {
  const typed = typeof query === 'string' ? query.trim().toLowerCase() : '';
  return typed === '' ? options : options.filter((o) => o.label.toLowerCase().includes(typed));
}

/** A route as the Route select and the settings check name it: `#channel · route`. */
function routeLabel(route: Pick<Route, 'name' | 'channelId'>, channels: ReadonlyMap<string, string>): string {
  const name = channels.get(route.channelId);
  return `#${name ?? `channel ${route.channelId}`} · ${route.name}`;
}

/** The roles an alert may ping: mentionable, not @everyone, not an integration's own. */
const pingableRoles = (guildId: GuildId, roles: readonly ServerRole[]): ServerRole[] =>
  roles.filter((role) => !isEveryone(role, guildId) && role.mentionable && !role.managed).sort((a, b) => b.position - a.position);

export function sentryUiRouter(deps: SentryUiDeps): Router {
  const router = Router();
  /** Discord's answer, or undefined if it fails or takes longer than the options can wait. */
  const withinWait = async <T>(what: string, about: object, read: () => Promise<T>): Promise<T | undefined> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), DISCORD_WAIT_MS)));
    try {
      const value = await Promise.race([read(), late]);
      if (value === undefined) deps.logger.warn(about, `Discord did not answer in time: ${what} left out of the options`);
      return value;
    } catch (error) {
      deps.logger.warn({ ...about, err: error }, `could not read ${what} from Discord: left out of the options`);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  };

  const findSource: RequestHandler<{ slug: string }> = async (req, res, next) => {
    const slug = req.params.slug;
    const source = SLUG_PATTERN.test(slug) ? await findWebhookTarget(deps.db, slug) : undefined;
    if (!source) throw refuse(404, 'Dispatch has no source at this address: check the webhook URL of the integration.');
    res.locals.source = source;
    next();
  };

  /**
   * Sentry signs a select's GET over an empty string, the settings POST over its exact body. The
   * settings check is signed even without REQUIRE_SIGNATURE (`secretRequired`): it makes a role
   * pingable by the source's alerts, which nobody but Sentry may do.
   */
  const verified = (req: Request, source: WebhookTarget, signed: Buffer, secretRequired = deps.requireSignature) => {
    const verdict = checkSourceSignature(
      source,
      { secrets: deps.secrets, requireSignature: secretRequired },
      signed,
      req.get('sentry-app-signature'),
    );
    if (verdict.ok) return;
    deps.logger.info(
      { source_id: source.id, guild_id: source.guildId, endpoint: req.path.split('/').pop(), reason: verdict.reason },
      'Sentry UI request refused',
    );
    throw refuse(
      401,
      verdict.reason !== 'signature required'
        ? `Dispatch refused the request: ${verdict.reason} (is the Client Secret given to Dispatch this integration's?).`
        : deps.requireSignature
          ? 'Dispatch requires a signing secret: set the Client Secret with /dispatch source secret.'
          : 'Dispatch checks alert rule settings only when they are signed: set the signing secret with /dispatch source secret.',
    );
  };

  const channelNames = async (source: WebhookTarget) =>
    new Map(
      ((await withinWait('channel names', { source_id: source.id }, () => deps.guilds.channels(source.guildId))) ?? []).map((c) => [
        c.id as string,
        c.name,
      ]),
    );

  router.get('/:slug/routes', findSource, async (req, res) => {
    const source = res.locals.source as WebhookTarget;
    verified(req, source, Buffer.alloc(0));
    const [routes, names] = await Promise.all([routesOf(deps.db, source.id), channelNames(source)]);
    // No default: Sentry would preselect it over the choice a saved rule already has.
    const options = routes.map((route) => ({ label: routeLabel(route, names), value: String(route.id), default: false }));
    res.json(matching(options, req.query.query).slice(0, MAX_OPTIONS));
  });

  router.get('/:slug/roles', findSource, async (req, res) => {
    const source = res.locals.source as WebhookTarget;
    verified(req, source, Buffer.alloc(0));
    const roles = (await withinWait('roles', { source_id: source.id }, () => deps.guilds.roles(source.guildId))) ?? [];
    const options = [
      { label: 'No ping', value: NO_PING, default: false },
      ...pingableRoles(source.guildId, roles).map((role) => ({ label: `@${role.name}`, value: role.id as string, default: false })),
    ];
    res.json(matching(options, req.query.query).slice(0, MAX_OPTIONS));
  });

  router.post(
    '/:slug/settings',
    findSource,
    express.raw({ type: () => true, limit: MAX_SETTINGS_BYTES, inflate: false }),
    async (req, res) => {
      const source = res.locals.source as WebhookTarget;
      const body: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      verified(req, source, body, true);
      const about = { source_id: source.id, guild_id: source.guildId };
      try {
        const accepted = await checkSettings(deps, source, readSettings(body));
        deps.logger.info({ ...about, route_id: accepted.route.id, outcome: 'accepted' }, 'alert rule settings accepted');
        res.json({ message: `Dispatch will post these alerts in ${accepted.label}.` });
      } catch (error) {
        if (error instanceof SentryUiRefusal)
          deps.logger.info({ ...about, outcome: 'refused', reason: error.message }, 'alert rule settings refused');
        throw error;
      }
    },
  );

  router.all(['/:slug/routes', '/:slug/roles', '/:slug/settings'], () => {
    throw refuse(405, 'Dispatch answers GET for options and POST for settings here.');
  });
  return router;
}

/** Our action in the body Sentry posts; a body that is not one is refused in words. */
function readSettings(body: Buffer): AlertAction {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw refuse(400, 'Dispatch could not read these settings: the request is not JSON.');
  }
  const fields = (parsed as { fields?: unknown } | null)?.fields;
  if (!Array.isArray(fields)) throw refuse(400, 'Dispatch could not read these settings: they have no fields.');
  const action = alertActionIn(fields);
  if (!action) throw refuse(400, 'Pick a Route: Dispatch needs to know where to post these alerts.');
  return action;
}

/**
 * The check of a rule's settings: the route is this source's, its source is enabled, the bot can
 * post in its channel, the ping role (if any) is a role of the source's server the bot can
 * mention there, and the note is not too long. The accepted ping role is recorded: only such a
 * role is ever pinged by an alert (see src/delivery/plan.ts).
 */
async function checkSettings(deps: SentryUiDeps, source: WebhookTarget, action: AlertAction) {
  const route = (await routesOf(deps.db, source.id)).find((r) => r.id === parseRouteId(action.route));
  // Another source's route, or another server's: the same as no route at all.
  if (!route)
    throw refuse(400, 'That route is not one of this Dispatch source’s routes (removed, or another source’s): pick one from the list.');
  if (action.note !== undefined && action.note.length > NOTE_MAX)
    throw refuse(400, `The note is ${action.note.length} characters long: Dispatch shows at most ${NOTE_MAX}.`);
  const channels = await fromDiscord(deps, () => deps.guilds.channels(source.guildId), `route ${route.name}`);
  const channel = channels.find((c) => c.id === route.channelId);
  const label = routeLabel(route, new Map(channels.map((c) => [c.id as string, c.name])));
  if (!source.enabled) throw refuse(400, `Route ${label} is disabled in Dispatch: its source is disabled (/dispatch source enable).`);
  if (!channel || !isPostableType(channel.type))
    throw refuse(400, `Dispatch cannot post in the channel of route ${route.name}: it is gone, or not a text channel the bot can see.`);
  const permissions = await fromDiscord(deps, () => deps.guilds.botPermissions(source.guildId, channel), `#${channel.name}`);
  const missing = missingToPost((bit) => (permissions & bit) === bit);
  if (missing.length > 0) throw refuse(400, `Dispatch cannot post in #${channel.name}: missing ${missing.join(', ')}.`);
  if (action.pingRole !== undefined) await checkPingRole(deps, source, channel, permissions, action.pingRole);
  return { route, label };
}

async function checkPingRole(deps: SentryUiDeps, source: WebhookTarget, channel: ServerChannel, permissions: bigint, roleId: string) {
  const roles = await fromDiscord(deps, () => deps.guilds.roles(source.guildId), 'the ping role');
  const role = roles.find((r) => r.id === roleId);
  // A role of another server (or @everyone) is no role Dispatch knows here.
  if (!role || isEveryone(role, source.guildId) || role.managed)
    throw refuse(400, 'That ping role is not a role of this Discord server: pick one from the list.');
  const mayMentionAll = (permissions & PermissionFlagsBits.MentionEveryone) !== 0n;
  if (!role.mentionable && !mayMentionAll)
    throw refuse(
      400,
      `Dispatch cannot ping @${role.name} in #${channel.name}: make the role mentionable, or give the bot Mention @everyone, @here, and All Roles there.`,
    );
  await acceptAlertPingRole(deps.db, source.id, role.id, deps.now());
}

/** A Discord read the check cannot do without: its failure refuses the save, asking to try again. */
async function fromDiscord<T>(deps: Pick<SentryUiDeps, 'logger'>, read: () => Promise<T>, what: string): Promise<T> {
  try {
    return await read();
  } catch (error) {
    deps.logger.warn({ err: error }, `could not read ${what} from Discord for an alert rule's settings`);
    throw refuse(503, `Dispatch could not reach Discord to check ${what}: try saving the rule again.`);
  }
}
