import type { Layout } from '../../src/db/routes.js';
import type { EventId, RouteId, SourceId } from '../../src/ids.js';
import type { EventKind, Marks } from './payloads.js';

/**
 * What should have happened, kept beside the real thing: the sources, their routes (with every
 * channel each has had, since an event may be posted wherever its route was between its arrival
 * and its send), and every webhook Dispatch acknowledged, with the routes that took it then.
 */

export const SLOTS = 4;
/** Slots 0 and 1 are sources of server 0, slots 2 and 3 of server 1. */
export const guildOfSlot = (slot: number) => (slot < 2 ? 0 : 1);

export interface SimRoute {
  id: RouteId;
  name: string;
  /** Every channel it has posted to, the current one last. */
  channels: string[];
  /**
   * The same, each with a snowflake Discord issued when the route took the channel: Discord's ids
   * grow, so whether the route pointed there when a message was posted is a comparison of ids,
   * whatever the clocks say.
   */
  history: { channel: string; since: string }[];
  /** Its quiet hours as they were set, each with the snowflake issued when they were (none: `quiet` undefined). */
  quietHistory: { quiet?: { from: number; to: number }; since: string }[];
  layout: Layout;
  /** It has been a card route (cards keep order per issue, not per channel). */
  everCard: boolean;
  filter: string;
  removed: boolean;
  /** Its quiet hours (UTC minutes after midnight, `fatal` passes), when set. */
  quiet?: { from: number; to: number };
  /** When what its quiet hours held was let go (quiet hours turned off, or the route turned into cards): it then went out as usual. */
  releasedAt: number[];
  /** A snowflake issued at each change of its layout (what waits for a retry is sent again in the new one). */
  reformed: string[];
}

export interface SimSource {
  slot: number;
  guild: number;
  id: SourceId;
  name: string;
  slug: string;
  secret: string;
  enabled: boolean;
  deleted: boolean;
  routes: SimRoute[];
  /** Its issues and incidents so far: follow-ups pick one of them. */
  issues: { id: string; token: string; incident: boolean }[];
  /** What `events_dropped` must say: deliveries that waited when a route of it was removed. */
  dropped: number;
  /** When it was disabled and enabled again (simulated time; `until` unset while it still is). */
  disabledSpans: { from: number; until?: number }[];
}

export interface SimEvent {
  n: number;
  slot: number;
  sourceId: SourceId;
  kind: EventKind;
  marks: Marks;
  /** Dispatch's answer: the event id, the same for a duplicate. */
  eventId: EventId;
  /** The routes that took it when it arrived. */
  takes: RouteId[];
  /** Of those, the feed routes whose quiet hours held it for their digest. */
  heldOn: RouteId[];
  /** An alert whose rule named a route its source did not have: its first route took it, and must say why. */
  misrouted?: boolean;
  /** The exact bytes, for sending a duplicate. */
  body: string;
  /** When it arrived (simulated time). */
  at: number;
  /** The step that sent it: events of one step were sent concurrently and have no order among them. */
  wave: number;
  /** The people a DM about it is for (linked in its server, the Sentry user it assigns, not its author): indexes into `people`. */
  dmFor?: number[];
}

/**
 * A member of one of the two servers who may connect their own Sentry identity: a Sentry user
 * (two members of different servers can be the same Sentry user), with their personal token.
 */
export interface SimPerson {
  guild: number;
  userId: string;
  sentryUserId: string;
  token: string;
  linked: boolean;
  /** Their DMs were closed at Discord (and may be marked so): no DM is due until they connect again. */
  closed: boolean;
  /** Steps at which their DMs stopped being wanted or possible: unlinked, or their DMs closed (a DM of an event before that may be dropped). */
  stops: number[];
}

export interface Model {
  sources: SimSource[];
  events: SimEvent[];
  people: SimPerson[];
  nextEvent: number;
  nextIssue: number;
  nextName: number;
  /** Faults injected and not healed yet (Discord failing, a channel denied): the idle check waits for a heal. */
  faults: number;
  /** Sends the loopback Discord holds in flight until released. */
  gates: (() => void)[];
  /** Steps run so far. */
  wave: number;
}

export const liveRoutes = (source: SimSource) => source.routes.filter((r) => !r.removed);
export const channelOf = (route: SimRoute) => route.channels[route.channels.length - 1]!;
export const liveSources = (model: Model) => model.sources.filter((s) => !s.deleted);

/** The token an event's embeds carry: `G<server>S<slot>E<n>`. */
export const eventToken = (guild: number, slot: number, n: number) => `G${guild}S${slot}E${n}`;
export const issueToken = (guild: number, slot: number, n: number) => `G${guild}S${slot}I${n}`;
