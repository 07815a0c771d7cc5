import type { APIEmbed } from 'discord.js';
import type { Database } from '../db/database.js';
import type { DmClaimOutcome } from '../db/dm-sent.js';
import type { QueuedJob } from '../db/queue.js';
import type { Hold, Route } from '../db/schema.js';
import type { RenderedEvent } from '../render/render-event.js';
import type { AlertActions } from '../sentry/alert-action.js';
import { alertActionOn } from '../routing/select-routes.js';
import { alertPingRoleAccepted } from '../db/alert-ping-roles.js';
import { mentions, pingFor } from '../routing/ping.js';
import { feedButtons, type ActionRow } from '../triage/components.js';
import { routesByIds } from '../db/routes.js';
import { isQuiet, scheduleOf, type QuietHours } from '../schedule/route-schedule.js';
import type { Level } from '../sentry/facts.js';
import { staysSilent } from './policy.js';
import type { Failure } from './classify-error.js';
import { asRoleId, type BatchId, type ChannelId, type MessageId, type RoleId, type RouteId, type SourceId } from '../ids.js';

/** One message to post in a channel, and what it stands for. */
export interface SendPlan {
  kind: 'send';
  channelId: ChannelId;
  batchId: BatchId;
  /** Its deliveries (their bodies are drawn already: the parts). */
  batch: QueuedJob[];
  embeds: APIEmbed[];
  /** The batch is a flood summary: its events are counted, not shown one by one. */
  summary: boolean;
  /** A route's ping, or a template's text (a message has one). */
  content?: string;
  allowedRoleIds?: RoleId[];
  /** Its buttons: links to Sentry in a feed; a card's own (see src/triage/components.ts). */
  components?: ActionRow[];
  /** For a normal batch: each event's part (its drawing, its template failure). */
  parts: RenderedEvent[];
  /** Set when this send probes a held channel. */
  probing?: Hold;
  /** Posted without a notification (see `staysSilent`). */
  silent?: boolean;
  /** What else to record with the delivery, in its transaction (new cards: where they now are). */
  record?: (tx: Database, messageId: MessageId, at: number) => Promise<void>;
  /** A member's DM: checked before its request, and told of Discord's refusal (src/people/direct-messages.ts). */
  guard?: SendGuard;
}

/**
 * What a send to a member checks first, and learns from a refusal for good (their DMs closed). Its
 * failures are the member's: never counted on the source, never a hold (src/delivery/record.ts).
 */
export interface SendGuard {
  /** Why the send must not be made at all now (the member left the server), or undefined to make it. */
  before(): Promise<string | undefined>;
  /**
   * Once `before` let it go, just before its request: whether this send is the one that tells the
   * member of its Sentry change (`claimed`); `told` when another source's copy of the change told
   * them: this one is not sent; `wait` while that copy is still on its way (src/people/dm-once.ts).
   */
  claim(): Promise<DmClaimOutcome>;
  refused(failure: Failure): Promise<void>;
}

/**
 * A part's pings go in the message's content, before a template's own text if it has one: its
 * route's role (at the route's level), and the role its alert rule named when the settings check
 * accepted that role for the source (`alertRole`, see `acceptedAlertRole`).
 */
export function withPing(
  part: RenderedEvent,
  route: Pick<Route, 'pingRoleId' | 'pingLevel'> | undefined,
  alertRole?: RoleId,
  muted = false,
): RenderedEvent {
  // An event that arrived in its route's quiet hours (and did not pass them) pings nobody.
  if (muted) return part;
  // An alert's role pings every time its rule fires, whatever the level.
  const roleIds = [...new Set([...((route && pingFor(route, part.facts)?.roleIds) || []), ...(alertRole ? [alertRole] : [])])];
  if (roleIds.length === 0) return part;
  return {
    ...part,
    content: [mentions(roleIds), part.content].filter(Boolean).join(' '),
    allowedRoleIds: [...new Set([...roleIds, ...part.allowedRoleIds])],
  };
}

/**
 * The role an alert's rule named for its delivery on `routeId`, if the settings check accepted it
 * for the event's source (so a role of that source's own server): the only role a payload can have
 * pinged.
 */
export async function acceptedAlertRole(
  db: Database,
  sourceId: SourceId,
  alert: AlertActions | undefined,
  routeId: RouteId,
): Promise<RoleId | undefined> {
  const named = alertActionOn(alert, routeId)?.action?.pingRole;
  if (named === undefined) return undefined;
  // Unchecked text until found among the accepted roles of this very source.
  const roleId = asRoleId(named);
  return (await alertPingRoleAccepted(db, sourceId, roleId)) ? roleId : undefined;
}

/** The message for a batch of parts: their embeds, the content they share, and a link to Sentry for each. */
export function sendPlan(channelId: ChannelId, batchId: BatchId, batch: QueuedJob[], parts: RenderedEvent[], silent: boolean): SendPlan {
  const first = parts[0];
  const embeds = parts.flatMap((p) => p.embeds);
  return {
    kind: 'send',
    channelId,
    batchId,
    batch,
    embeds,
    components: feedButtons(embeds),
    summary: false,
    parts,
    ...(first?.content ? { content: first.content, allowedRoleIds: first.allowedRoleIds } : {}),
    ...(silent ? { silent: true } : {}),
  };
}

/** A route's quiet hours if they are on at `now`. */
export function quietNow(route: Parameters<typeof scheduleOf>[0] | undefined, now: number): QuietHours | undefined {
  if (!route) return undefined;
  const schedule = scheduleOf(route);
  return isQuiet(schedule, now) ? schedule.quiet : undefined;
}

/** Whether a send of these deliveries (with their events' levels) stays silent, with their routes' quiet hours as they are `now` (see `staysSilent`). */
export async function silentSend(
  db: Database,
  jobs: readonly { job: QueuedJob; level: Level | undefined }[],
  now: number,
): Promise<boolean> {
  const routes = await routesByIds(db, [...new Set(jobs.map(({ job }) => job.routeId))]);
  return staysSilent(
    jobs.map(({ job, level }) => ({ muted: job.muted, eventType: job.eventType, level, quietNow: quietNow(routes.get(job.routeId), now) })),
  );
}
