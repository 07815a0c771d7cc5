import fc from 'fast-check';
import { request as httpRequest } from 'node:http';
import { expect } from 'vitest';
import { createRoute, deleteRoute, RouteChannelTaken, updateRoute } from '../../src/db/routes.js';
import type { Route } from '../../src/db/schema.js';
import { createSource, deleteSource, renameSource, setSentryConnection, setSourceEnabled } from '../../src/db/sources.js';
import { sql } from 'drizzle-orm';
import { clearTemplate, setTemplate } from '../../src/db/templates.js';
import { asChannelId, asGuildId, asUserId, type EventId } from '../../src/ids.js';
import { disconnect, saveLink } from '../../src/db/member-links.js';
import { findCardByKey } from '../../src/db/cards.js';
import { issueCardKey } from '../../src/cards/state.js';
import { sentryApiOf } from '../../src/sentry-api/for-source.js';
import { carryOut } from '../../src/triage/carry-out.js';
import { routesOf } from '../../src/db/routes.js';
import { findSourceById } from '../../src/db/sources.js';
import { selectRoutes } from '../../src/routing/select-routes.js';
import { quietTreatment } from '../../src/schedule/route-schedule.js';
import { eventFacts } from '../../src/sentry/facts.js';
import { PERMISSIONS, snowflake } from '../support/fake-discord.js';
import { sentryRequest } from '../support/sentry.js';
import { checkAfterStep, checkNothingStale } from './invariants.js';
import { SAFETY_PASS_MS } from '../../src/delivery/worker.js';
import type { CardState } from '../../src/cards/state.js';
import {
  channelOf,
  eventToken,
  guildOfSlot,
  issueToken,
  liveRoutes,
  SLOTS,
  type Model,
  type SimEvent,
  type SimRoute,
  type SimSource,
} from './model.js';
import { EVENT_KINDS, FILTERS, LEVELS, payloadOf, ruleSettings, TEMPLATE, type EventKind } from './payloads.js';
import { SENTRY_TOKEN, type World } from './world.js';

/** With Discord healthy, nothing due waits longer than this (two passes' worth). */
const STALE_AFTER_MS = 2 * SAFETY_PASS_MS;

type Cmd = fc.AsyncCommand<Model, World>;

/** Runs one user action or fault, then lets the engine go quiet and checks what must hold after every step. */
abstract class Step implements Cmd {
  abstract check(model: Readonly<Model>): boolean;
  abstract act(model: Model, world: World): Promise<void>;
  abstract toString(): string;
  async run(model: Model, world: World): Promise<void> {
    model.wave += 1;
    const before = { ...world.costs };
    await this.act(model, world);
    expect(await world.quiet(), `the engine went quiet after ${this}`).toBe(true);
    await checkAfterStep(model, world, before, this.toString());
  }
}

const source = (model: Readonly<Model>, slot: number) => model.sources[slot];
const usable = (model: Readonly<Model>, slot: number) => !!source(model, slot) && !source(model, slot)!.deleted;
const channelOfGuild = (world: World, guild: number, index: number) => world.guilds[guild]!.channels[index]!.id;
const toSimRoute = (route: Route): SimRoute => ({
  id: route.id,
  name: route.name,
  channels: [route.channelId],
  history: [{ channel: route.channelId, since: snowflake() }],
  quietHistory: [],
  layout: route.layout,
  everCard: route.layout === 'card',
  filter: route.filter,
  removed: false,
  releasedAt: [],
  reformed: [],
});

/** A source in a slot: made at the start, and again after a delete (with new ids, so source and route ids drift apart). */
export async function makeSource(model: Model, world: World, slot: number, layout: 'card' | 'feed', channel: number): Promise<SimSource> {
  const guild = guildOfSlot(slot);
  const name = `s${slot}-${model.nextName++}`;
  const secret = `secret-${name}`;
  const { source, route } = await createSource(
    world.db,
    {
      guildId: asGuildId(world.guilds[guild]!.id),
      channelId: asChannelId(channelOfGuild(world, guild, channel)),
      layout,
      name,
      signingSecret: secret,
      createdBy: 'sim',
    },
    world.clock.now(),
  );
  // Connected to Sentry's API: its cards are read back when a story says so.
  await setSentryConnection(
    world.db,
    source,
    { token: SENTRY_TOKEN, baseUrl: world.sentry.url, org: 'example-org', identity: 'sim' },
    world.clock.now(),
  );
  const made: SimSource = {
    slot,
    guild,
    id: source.id,
    name,
    slug: source.slug,
    secret,
    enabled: true,
    deleted: false,
    routes: [toSimRoute(route)],
    issues: [],
    dropped: 0,
    disabledSpans: [],
  };
  model.sources[slot] = made;
  return made;
}

/** Another route for a slot's source; refused (as it must be) in a channel one of its routes already posts to. */
export async function addRoute(model: Model, world: World, slot: number, channel: number, layout: 'card' | 'feed', filter: number) {
  const s = model.sources[slot]!;
  const channelId = channelOfGuild(world, s.guild, channel);
  const input = {
    sourceId: s.id,
    name: `r${model.nextName++}`,
    channelId: asChannelId(channelId),
    layout,
    filter: FILTERS[filter]!,
    pingRoleId: null,
    pingLevel: 'error',
    createdBy: 'sim',
  };
  const taken = liveRoutes(s).some((r) => channelOf(r) === channelId);
  const added = createRoute(world.db, input, world.clock.now());
  if (taken) return void (await expect(added).rejects.toBeInstanceOf(RouteChannelTaken));
  s.routes.push(toSimRoute(await added));
}

/** The source is enabled or disabled from `now` on. */
function toggled(s: SimSource, enabled: boolean, now: number): void {
  if (s.enabled && !enabled) s.disabledSpans.push({ from: now });
  if (!s.enabled && enabled) s.disabledSpans[s.disabledSpans.length - 1]!.until = now;
  s.enabled = enabled;
}

/** The route posts to another channel from now on (Discord's next message). */
function moveTo(route: SimRoute, channel: string): void {
  route.channels.push(channel);
  route.history.push({ channel, since: snowflake() });
}

/** The route's quiet hours from now on. */
function setQuiet(route: SimRoute, quiet: SimRoute['quiet']): void {
  route.quiet = quiet;
  route.quietHistory.push({ ...(quiet ? { quiet } : {}), since: snowflake() });
}

/** What an issue webhook says the issue now is, kept as Sentry's own state of it. */
function mirrorInSentry(world: World, kind: EventKind, payload: Record<string, unknown>): void {
  if (!kind.startsWith('issue.')) return;
  const issue = (payload.data as { issue: Record<string, unknown> }).issue;
  const id = String(issue.id);
  const before = world.sentry.issues.get(id) ?? { assignedTo: null };
  if (kind === 'issue.assigned') return void world.sentry.issues.set(id, { ...before, assignedTo: issue.assignedTo });
  const status = String(issue.status);
  world.sentry.issues.set(id, { ...before, status, substatus: status === 'resolved' ? null : (issue.substatus ?? null) });
}

class Webhook extends Step {
  constructor(
    readonly slot: number,
    readonly kind: EventKind,
    readonly issuePick: number,
    readonly level: number,
  ) {
    super();
  }
  check(model: Readonly<Model>) {
    return !!source(model, this.slot);
  }
  async act(model: Model, world: World) {
    await postEvent(model, world, this.slot, this.kind, this.issuePick, this.level);
  }
  toString() {
    return `Webhook(slot ${this.slot}, ${this.kind}, issue ${this.issuePick}, ${LEVELS[this.level]})`;
  }
}

/** The event id of a webhook answered from the spool, until it is drained and its stored id read. */
const SPOOLED = 'spooled' as EventId;

/**
 * Posts one marked event of a kind to a slot's source; records it in the model when acknowledged.
 * With `namedRoute`, an alert whose rule's Dispatch action names that route id.
 */
async function postEvent(
  model: Model,
  world: World,
  slot: number,
  kind: EventKind,
  issuePick: number,
  level: number,
  namedRoute?: number,
  options: SendOptions = {},
) {
  const s = model.sources[slot]!;
  const { copyOf } = options;
  let n: number;
  let marks: SimEvent['marks'];
  let payload: Record<string, unknown>;
  if (copyOf) {
    // Another integration's copy of a webhook Sentry sent: the same change, the same body, to this source.
    ({ n, marks } = copyOf);
    payload = JSON.parse(copyOf.body) as Record<string, unknown>;
  } else {
    const incident = kind === 'metric_alert.critical';
    const own = s.issues.filter((i) => i.incident === incident);
    const reuse = kind !== 'issue.created' && own.length > 0;
    const issue = reuse
      ? own[issuePick % own.length]!
      : { id: String(1_000_000 + model.nextIssue), token: issueToken(s.guild, slot, model.nextIssue++), incident };
    if (!reuse) s.issues.push(issue);
    n = model.nextEvent++;
    marks = { event: eventToken(s.guild, slot, n), issue: issue.token, issueId: issue.id, level: LEVELS[level]! };
    const drawn = payloadOf(kind, marks, namedRoute === undefined ? undefined : ruleSettings(namedRoute, marks));
    payload = options.assignment ? assignedTo(drawn, options.assignment) : drawn;
    // A body near MAX_BODY_BYTES: a stack trace's worth of padding Dispatch stores and never shows.
    if (options.padTo)
      (payload.data as Record<string, unknown>).padding = 'x'.repeat(Math.max(0, options.padTo - JSON.stringify(payload).length - 20));
    // Sentry has the issue as its webhook says, whether or not Dispatch takes the webhook.
    mirrorInSentry(world, kind, payload);
  }
  const request = sentryRequest(kind.split('.')[0]!, payload, s.secret, Math.floor(world.clock.now() / 1000));
  // What the webhook looks up when it arrives (the source, its routes and their filters), before anything `between` changes.
  const acceptedWhenLookedUp = !s.deleted && s.enabled;
  const routes = liveRoutes(s).map((r) => ({ id: r.id, filter: r.filter }));
  const response = await sendWebhook(world, options.toSpooling ? world.url : world.webhookUrl(), s.slug, request, options.between);
  if (!acceptedWhenLookedUp) return expect(response.status, `a webhook to a ${s.deleted ? 'deleted' : 'disabled'} source`).toBe(404);
  expect(response.status).toBe(202);
  const answer = JSON.parse(response.body) as { event_id?: EventId; spooled?: true };
  // Spooled exactly while the database is away; its id is known once drained (DatabaseAway).
  expect(answer.spooled === true, 'spooled, as the database is away').toBe(world.databaseAway);
  const event_id = answer.event_id ?? SPOOLED;
  // The model's own rule for alerts routed by their settings: the named route of this source, else its first.
  const named = routes.find((r) => Number(r.id) === namedRoute);
  const misrouted = namedRoute !== undefined && !named;
  const facts = eventFacts(kind, payload);
  const takes = namedRoute === undefined ? selectRoutes(routes, kind, facts).through.map((r) => r.id) : [(named ?? routes[0]!).id];
  const at = world.clock.now();
  // Held by a feed route's quiet hours (below `fatal`, and not a metric alert going critical), as
  // the route is when the event is written: after whatever changed while its body was arriving.
  const heldOn = liveRoutes(s)
    .filter((r) => takes.includes(r.id) && r.quiet)
    .filter(
      (r) =>
        quietTreatment(r.layout, { timeZone: 'UTC', quiet: { ...r.quiet!, pass: 'fatal' } }, { type: kind, level: facts.level }, at) ===
        'quiet',
    )
    .map((r) => r.id);
  model.events.push({
    n,
    slot,
    sourceId: s.id,
    kind,
    marks,
    eventId: event_id,
    takes,
    heldOn,
    ...(misrouted ? { misrouted } : {}),
    body: request.body,
    at,
    wave: model.wave,
    ...(options.assignment ? { dmFor: dmsDue(model, s, options.assignment) } : {}),
  });
}

interface SendOptions {
  /** An assignment in Sentry to one of its users (by another user or themselves): the payload says so, and the model expects its DMs. */
  assignment?: Assignment;
  /** Runs between the first half of the body and the rest: after the webhook looked its source up, before it is stored. */
  between?: () => Promise<void>;
  /** Pads the body to about this many bytes. */
  padTo?: number;
  /** To the instance with the spool (on Postgres there are two: see World.webhookUrl), not whichever is next. */
  toSpooling?: boolean;
  /** The same webhook as this event's, as another integration of the organization receives it (its body, its marks). */
  copyOf?: SimEvent;
}

/** Sends a signed webhook; with `between`, its body in two halves around it. */
async function sendWebhook(
  world: World,
  url: string,
  slug: string,
  request: { body: string; headers: Record<string, string> },
  between?: () => Promise<void>,
): Promise<{ status: number; body: string }> {
  if (!between) {
    const response = await fetch(`${url}/hooks/${slug}`, { method: 'POST', body: request.body, headers: request.headers });
    return { status: response.status, body: await response.text() };
  }
  const bytes = Buffer.from(request.body);
  const first = bytes.subarray(0, bytes.length >> 1);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${url}/hooks/${slug}`,
      { method: 'POST', headers: { ...request.headers, 'content-length': String(bytes.length) } },
      (res) => {
        let body = '';
        res.on('data', (chunk) => (body += String(chunk)));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    // The change is made once the server has looked the source up (the request line and headers are
    // enough), however slow the machine: a fixed wait lost that race under load (a disable came first: 404).
    const lookedUp = world.lookedUp(slug);
    req.write(
      first,
      () =>
        void lookedUp
          .then(between)
          .catch(reject)
          .finally(() => req.end(bytes.subarray(bytes.length >> 1))),
    );
  });
}

/** A member's change to a slot's source or route while something is on its way (a webhook's body, a send). */
type MemberChange = 'quiet-off' | 'quiet-on' | 'cards' | 'layout' | 'move' | 'disable' | 'remove' | 'delete-source' | 'restart';

/** Makes the change, as its command does, and records it in the model (a change that cannot be made here is skipped). */
async function memberChange(world: World, s: SimSource, route: SimRoute, change: MemberChange): Promise<void> {
  const routes = liveRoutes(s);
  const real = (await routesOf(world.db, s.id)).find((r) => r.id === route.id)!;
  const now = world.clock.now();
  const source = async () => (await findSourceById(world.db, asGuildId(world.guilds[s.guild]!.id), s.id))!;
  switch (change) {
    case 'quiet-off':
    case 'quiet-on': {
      const minute = Math.floor((now % 86_400_000) / 60_000);
      const quiet = change === 'quiet-on' ? { from: minute, to: (minute + 5) % 1440 } : undefined;
      const schedule = { timeZone: 'UTC', quietFrom: quiet?.from ?? null, quietTo: quiet?.to ?? null, quietPass: 'fatal' };
      await updateRoute(world.db, real, { schedule }, now);
      if (route.quiet && !quiet) route.releasedAt.push(now);
      setQuiet(route, quiet);
      return void (await world.worker.tidy());
    }
    case 'cards':
    case 'layout': {
      const layout = change === 'cards' || route.layout === 'feed' ? 'card' : 'feed';
      if (layout === route.layout) return;
      await updateRoute(world.db, real, { layout }, now);
      // Into cards: what the feed's quiet hours held goes out now, as cards.
      if (layout === 'card') route.releasedAt.push(now);
      route.layout = layout;
      route.reformed.push(snowflake());
      if (layout === 'card') route.everCard = true;
      return void (await world.worker.tidy());
    }
    case 'move': {
      const free = world.guilds[s.guild]!.channels.map((c) => c.id).find((id) => !routes.some((r) => channelOf(r) === id));
      if (!free) return;
      await updateRoute(world.db, real, { channelId: asChannelId(free) }, now);
      return moveTo(route, free);
    }
    case 'disable':
      await setSourceEnabled(world.db, await source(), false, now);
      return toggled(s, false, now);
    case 'remove':
      if (routes.length < 2) return;
      s.dropped += await deleteRoute(world.db, real, now);
      route.removed = true;
      return void (await world.worker.tidy());
    case 'delete-source':
      await deleteSource(world.db, await source(), now);
      s.deleted = true;
      return void (await world.worker.tidy());
    case 'restart':
      return world.restart();
  }
}

/**
 * A webhook whose body arrives in two parts with a member's change in between (issue 28 item 1):
 * the webhook decided from the route as it was, and is stored after the change. Quiet hours turned
 * off or on, the route turned into cards, moved, its source disabled or the route removed.
 */
class SplitWebhook extends Step {
  constructor(
    readonly slot: number,
    readonly pick: number,
    readonly change: Extract<MemberChange, 'quiet-off' | 'quiet-on' | 'cards' | 'move' | 'disable' | 'remove'>,
    readonly level: number,
  ) {
    super();
  }
  check(model: Readonly<Model>) {
    return usable(model, this.slot) && model.sources[this.slot]!.enabled;
  }
  async act(model: Model, world: World) {
    const s = model.sources[this.slot]!;
    const routes = liveRoutes(s);
    const route = routes[this.pick % routes.length]!;
    const between = () => memberChange(world, s, route, this.change);
    const before = model.events.length;
    await postEvent(model, world, this.slot, 'issue.created', this.pick, this.level, undefined, { between });
    // Its delivery on a route removed meanwhile is dropped when it is written, and counted so.
    const event = model.events[before];
    if (event && route.removed && event.takes.includes(route.id)) s.dropped += 1;
  }
  toString() {
    return `SplitWebhook(slot ${this.slot}, route ${this.pick}, ${this.change} while its body arrives, ${LEVELS[this.level]})`;
  }
}

/**
 * A source disabled over several digest periods (issue 28 item 7): its route has a daily digest,
 * the source is off for `days` days (the clock jumping a day at a time), then on again for a day.
 * No digest is made while it is off (none piles up to be posted at once), one on its first day back.
 */
class DaysOff extends Step {
  constructor(
    readonly slot: number,
    readonly days: number,
  ) {
    super();
  }
  check(model: Readonly<Model>) {
    // Discord healthy: a day's jump past a failing send would reach its DELIVERY_DEADLINE.
    return usable(model, this.slot) && model.sources[this.slot]!.enabled && model.gates.length === 0 && model.faults === 0;
  }
  async act(model: Model, world: World) {
    // Sends that failed before a heal finish first (their retries go within minutes): a day's jump past one still
    // waiting would resend it after Discord forgot its nonce (seed 1348460518, path 14: a card posted twice).
    expect(await world.advance(5 * 60_000), 'quiet before the days off').toBe(true);
    const s = model.sources[this.slot]!;
    const route = liveRoutes(s)[0]!;
    const real = (await routesOf(world.db, s.id)).find((r) => r.id === route.id)!;
    const minute = (Math.floor((world.clock.now() % 86_400_000) / 60_000) + 1) % 1440;
    await updateRoute(
      world.db,
      real,
      { schedule: { digestEvery: 'daily', digestAt: minute, digestWeekday: 0, digestWhenEmpty: true } },
      world.clock.now(),
    );
    const toggle = async (enabled: boolean) => {
      await setSourceEnabled(
        world.db,
        (await findSourceById(world.db, asGuildId(world.guilds[s.guild]!.id), s.id))!,
        enabled,
        world.clock.now(),
      );
      toggled(s, enabled, world.clock.now());
    };
    await toggle(false);
    for (let day = 0; day < this.days; day++) expect(await world.sleep(86_400_000), 'quiet after a day off').toBe(true);
    await toggle(true);
    // A look a second after it is back, a minute before its next digest falls due: the one due while it was off is not made now.
    expect(await world.advance(1_000), 'quiet a second after it is back').toBe(true);
    expect(await world.sleep(86_400_000), 'quiet after a day back').toBe(true);
  }
  toString() {
    return `DaysOff(slot ${this.slot}, ${this.days} days, with a daily digest)`;
  }
}

/** A webhook whose body is near MAX_BODY_BYTES (a large stack trace): stored, drawn and posted like any. */
class LargeWebhook extends Step {
  constructor(
    readonly slot: number,
    readonly kind: EventKind,
    readonly pick: number,
  ) {
    super();
  }
  check(model: Readonly<Model>) {
    return !!source(model, this.slot);
  }
  async act(model: Model, world: World) {
    await postEvent(model, world, this.slot, this.kind, this.pick, 1, undefined, { padTo: world.config.maxBodyBytes - 2048 });
  }
  toString() {
    return `LargeWebhook(slot ${this.slot}, ${this.kind}, issue ${this.pick})`;
  }
}

/** An assignment in Sentry to one of its users, made by another user or by themselves. */
interface Assignment {
  to: string;
  by: string;
}

/** The marked `issue.assigned` payload, made an assignment to `to` by `by` (Sentry's webhook names both by user id). */
function assignedTo(payload: Record<string, any>, { to, by }: Assignment): Record<string, unknown> {
  const who = (id: string) => ({ type: 'user', id: Number(id), name: `Sentry user ${id}` });
  return {
    ...payload,
    actor: who(by),
    data: { ...payload.data, issue: { ...payload.data.issue, assignedTo: { ...who(to), id: to } }, assignee: who(to) },
  };
}

/** The model's rule for DMs: the people connected in the source's server who are the assignee, unless the assignee did it. */
function dmsDue(model: Model, source: SimSource, { to, by }: Assignment): number[] {
  return model.people.flatMap((p, i) =>
    p.linked && !p.closed && p.guild === source.guild && p.sentryUserId === to && by !== to ? [i] : [],
  );
}

/**
 * An alert whose rule (in Sentry) names a route: one of the source's own, one removed since, or a
 * route of another slot's source (another server's, half the time). Filters do not apply to it.
 */
class RuleAlert extends Step {
  constructor(
    readonly slot: number,
    readonly kind: 'event_alert.triggered' | 'metric_alert.critical',
    readonly target: 'own' | 'removed' | 'other',
    readonly pick: number,
  ) {
    super();
  }
  check(model: Readonly<Model>) {
    return !!source(model, this.slot);
  }
  private named(model: Readonly<Model>): number {
    const s = model.sources[this.slot]!;
    const removed = s.routes.filter((r) => r.removed);
    const others = model.sources.filter((o) => o && o.slot !== this.slot).flatMap((o) => o.routes);
    const from =
      this.target === 'removed' && removed.length > 0 ? removed : this.target === 'other' && others.length > 0 ? others : s.routes;
    return Number(from[this.pick % from.length]!.id);
  }
  async act(model: Model, world: World) {
    await postEvent(model, world, this.slot, this.kind, this.pick, 1, this.named(model));
  }
  toString() {
    return `RuleAlert(slot ${this.slot}, ${this.kind}, names ${this.target} route ${this.pick})`;
  }
}

class Burst extends Step {
  constructor(
    readonly slot: number,
    readonly count: number,
  ) {
    super();
  }
  check(model: Readonly<Model>) {
    return usable(model, this.slot) && model.sources[this.slot]!.enabled;
  }
  async act(model: Model, world: World) {
    // Concurrent requests share group commits.
    await Promise.all(Array.from({ length: this.count }, (_, i) => postEvent(model, world, this.slot, 'issue.created', 0, i % 3)));
  }
  toString() {
    return `Burst(slot ${this.slot}, ${this.count} new issues)`;
  }
}

/**
 * The database away (a Postgres failover) while webhooks arrive for a source: each is verified
 * against the last read of the source, spooled and acknowledged, the same bytes again kept once;
 * once the database is back, the spool is drained into the queue, routed as the routes are then,
 * and delivered like any event (the invariants hold them to it). The source had a webhook just
 * before, as a source with traffic has: its last good read is fresh.
 */
class DatabaseAway extends Burst {
  override async act(model: Model, world: World) {
    // The spooling instance reads the source once while the database answers: what it spools from later.
    await postEvent(model, world, this.slot, 'issue.created', 0, 1, undefined, { toSpooling: true });
    const first = model.events.length;
    world.setDatabaseAway(true);
    try {
      for (let i = 0; i < this.count; i++) await postEvent(model, world, this.slot, i % 2 ? 'comment.created' : 'issue.created', i, i % 3);
      expect((await postAgain(model, world, model.events[first]!)).status, 'the same bytes again, while away').toBe(202);
    } finally {
      world.setDatabaseAway(false);
    }
    await world.drainSpool();
    for (const event of model.events.slice(first)) event.eventId = await world.eventIdOf(event.sourceId, event.body);
  }
  override toString() {
    return `DatabaseAway(slot ${this.slot}, ${this.count} webhooks)`;
  }
}

/** Discord fails a slot's first channel a few times while a burst arrives, and the clock moves past FLOOD_AFTER. */
export class Flood extends Step {
  constructor(
    readonly slot: number,
    readonly count: number,
    readonly failures: number,
    /**
     * Discord fails everywhere (an outage: every channel's backlog grows), or in one of the slot's
     * channels (then a success elsewhere ends the outage at once, and a flood is rarer).
     */
    readonly everywhere: boolean,
    readonly pick: number,
    /**
     * Events of another slot's source (`beside` slots on) sent first, so that they wait beside the
     * flood: in the same channel (a source sharing it) or, with Discord failing everywhere, anywhere.
     */
    readonly beside: { slot: number; count: number },
  ) {
    super();
  }
  check(model: Readonly<Model>) {
    return usable(model, this.slot) && model.sources[this.slot]!.enabled;
  }
  async act(model: Model, world: World) {
    const routes = liveRoutes(model.sources[this.slot]!);
    const channelId = this.everywhere ? undefined : channelOf(routes[this.pick % routes.length]!);
    world.discord.inject(Array(this.failures).fill({ status: 503, body: { message: 'Service Unavailable', code: 0 } }), channelId);
    model.faults += 1;
    const other = (this.slot + this.beside.slot) % SLOTS;
    if (source(model, other))
      for (let i = 0; i < this.beside.count; i++)
        await postEvent(model, world, other, i % 2 ? 'comment.created' : 'issue.created', i, (i + 1) % 3);
    await Promise.all(Array.from({ length: this.count }, (_, i) => postEvent(model, world, this.slot, 'issue.created', 0, i % 3)));
    releaseBeforeLongWait(model, 25_000);
    expect(await world.advance(25_000), 'the engine went quiet during the flood').toBe(true);
  }
  toString() {
    const beside = this.beside.count > 0 ? `, ${this.beside.count} of slot ${(this.slot + this.beside.slot) % SLOTS} first` : '';
    return `Flood(slot ${this.slot}, ${this.count} events, ${this.failures} failures ${this.everywhere ? 'everywhere' : `in route ${this.pick}'s channel`}${beside})`;
  }
}

/** The exact bytes of an event sent before, signed again now. */
function postAgain(model: Readonly<Model>, world: World, event: SimEvent): Promise<{ status: number; body: string }> {
  const s = model.sources[event.slot]!;
  const request = sentryRequest(event.kind.split('.')[0]!, JSON.parse(event.body), s.secret, Math.floor(world.clock.now() / 1000));
  expect(request.body).toBe(event.body);
  return sendWebhook(world, world.webhookUrl(), s.slug, request);
}

class Duplicate extends Step {
  constructor(readonly pick: number) {
    super();
  }
  /** Still within DEDUPE_WINDOW (1 h), so it is the same event; after it, the same bytes would be a new one. */
  private candidates(model: Readonly<Model>, now: number) {
    return model.events.filter((e) => usable(model, e.slot) && model.sources[e.slot]!.id === e.sourceId && now - e.at < 50 * 60_000);
  }
  check(model: Readonly<Model>) {
    return model.events.some((e) => usable(model, e.slot) && model.sources[e.slot]!.id === e.sourceId);
  }
  async act(model: Model, world: World) {
    const candidates = this.candidates(model, world.clock.now());
    if (candidates.length === 0) return;
    const event = candidates[this.pick % candidates.length]!;
    const response = await postAgain(model, world, event);
    if (!model.sources[event.slot]!.enabled) return expect(response.status).toBe(404);
    expect(response.status).toBe(202);
    expect((JSON.parse(response.body) as { event_id: string }).event_id).toBe(event.eventId);
  }
  toString() {
    return `Duplicate(${this.pick})`;
  }
}

class AddRoute extends Step {
  constructor(
    readonly slot: number,
    readonly channel: number,
    readonly layout: 'card' | 'feed',
    readonly filter: number,
  ) {
    super();
  }
  check(model: Readonly<Model>) {
    return usable(model, this.slot);
  }
  async act(model: Model, world: World) {
    await addRoute(model, world, this.slot, this.channel, this.layout, this.filter);
  }
  toString() {
    return `AddRoute(slot ${this.slot}, channel ${this.channel}, ${this.layout}, filter ${FILTERS[this.filter]})`;
  }
}

class EditRoute extends Step {
  constructor(
    readonly slot: number,
    readonly pick: number,
    readonly change: { channel?: number; filter?: number; layout?: 'card' | 'feed' },
  ) {
    super();
  }
  check(model: Readonly<Model>) {
    return usable(model, this.slot);
  }
  async act(model: Model, world: World) {
    const s = model.sources[this.slot]!;
    const routes = liveRoutes(s);
    const route = routes[this.pick % routes.length]!;
    const real = (await routesOf(world.db, s.id)).find((r) => r.id === route.id)!;
    const channelId = this.change.channel === undefined ? undefined : channelOfGuild(world, s.guild, this.change.channel);
    const changes = {
      ...(channelId !== undefined ? { channelId: asChannelId(channelId) } : {}),
      ...(this.change.filter !== undefined ? { filter: FILTERS[this.change.filter]! } : {}),
      ...(this.change.layout !== undefined ? { layout: this.change.layout } : {}),
    };
    const edited = updateRoute(world.db, real, changes, world.clock.now());
    if (channelId !== undefined && channelId !== channelOf(route) && routes.some((r) => channelOf(r) === channelId))
      return void (await expect(edited).rejects.toBeInstanceOf(RouteChannelTaken));
    await edited;
    if (channelId !== undefined && channelId !== channelOf(route)) moveTo(route, channelId);
    if (changes.filter) route.filter = changes.filter;
    if (changes.layout === 'card' && route.layout === 'feed') route.releasedAt.push(world.clock.now());
    if (changes.layout && changes.layout !== route.layout) route.reformed.push(snowflake());
    if (changes.layout) route.layout = changes.layout;
    if (route.layout === 'card') route.everCard = true;
    // As the command does: a layout change lets go of what quiet hours held.
    if (changes.layout) await world.worker.tidy();
  }
  toString() {
    return `EditRoute(slot ${this.slot}, route ${this.pick}, ${JSON.stringify(this.change)})`;
  }
}

class RemoveRoute extends Step {
  constructor(
    readonly slot: number,
    readonly pick: number,
  ) {
    super();
  }
  check(model: Readonly<Model>) {
    return usable(model, this.slot) && liveRoutes(model.sources[this.slot]!).length > 1;
  }
  async act(model: Model, world: World) {
    const s = model.sources[this.slot]!;
    const routes = liveRoutes(s);
    const route = routes[this.pick % routes.length]!;
    const real = (await routesOf(world.db, s.id)).find((r) => r.id === route.id)!;
    s.dropped += await deleteRoute(world.db, real, world.clock.now());
    route.removed = true;
    await world.worker.tidy();
  }
  toString() {
    return `RemoveRoute(slot ${this.slot}, route ${this.pick})`;
  }
}

class SourceAction extends Step {
  constructor(
    readonly slot: number,
    readonly action: 'disable' | 'enable' | 'rename' | 'delete' | 'template' | 'untemplate',
  ) {
    super();
  }
  check(model: Readonly<Model>) {
    return usable(model, this.slot);
  }
  async act(model: Model, world: World) {
    const s = model.sources[this.slot]!;
    const real = (await findSourceById(world.db, asGuildId(world.guilds[s.guild]!.id), s.id))!;
    const now = world.clock.now();
    switch (this.action) {
      case 'disable':
      case 'enable':
        await setSourceEnabled(world.db, real, this.action === 'enable', now);
        toggled(s, this.action === 'enable', now);
        return;
      case 'rename':
        s.name = `s${this.slot}-${model.nextName++}`;
        await renameSource(world.db, real, s.name, now);
        return;
      case 'delete':
        await deleteSource(world.db, real, world.clock.now());
        s.deleted = true;
        await world.worker.tidy();
        return;
      case 'template':
        return setTemplate(world.db, { sourceId: s.id, routeId: null, eventPattern: 'issue.*', body: TEMPLATE, updatedBy: 'sim' }, now);
      case 'untemplate':
        return void (await clearTemplate(world.db, { sourceId: s.id, routeId: null }, 'issue.*'));
    }
  }
  toString() {
    return `Source(slot ${this.slot}, ${this.action})`;
  }
}

class Recreate extends Step {
  constructor(
    readonly slot: number,
    readonly layout: 'card' | 'feed',
    readonly channel: number,
  ) {
    super();
  }
  check(model: Readonly<Model>) {
    return !!model.sources[this.slot]?.deleted;
  }
  async act(model: Model, world: World) {
    await makeSource(model, world, this.slot, this.layout, this.channel);
  }
  toString() {
    return `Recreate(slot ${this.slot}, ${this.layout}, channel ${this.channel})`;
  }
}

/**
 * A change made while a send is in flight: the next message to one of a slot's route channels is
 * posted by Discord but its answer held, a webhook makes one, the source or route is deleted,
 * removed, moved, disabled or edited, and then the answer arrives.
 */
class MidSend extends Step {
  constructor(
    readonly slot: number,
    readonly pick: number,
    readonly change: Extract<MemberChange, 'delete-source' | 'remove' | 'move' | 'disable' | 'layout' | 'restart'>,
    readonly kind: EventKind,
  ) {
    super();
  }
  check(model: Readonly<Model>) {
    return usable(model, this.slot) && model.sources[this.slot]!.enabled;
  }
  async act(model: Model, world: World) {
    const s = model.sources[this.slot]!;
    const routes = liveRoutes(s);
    const route = routes[this.pick % routes.length]!;
    let open: () => void = () => {};
    const opened = new Promise<void>((resolve) => (open = resolve));
    model.gates.push(open);
    world.discord.inject([{ status: 200, answerAfter: opened }], channelOf(route));
    await postEvent(model, world, this.slot, this.kind, this.pick, 1);
    expect(await world.quiet(), 'quiet with the send held').toBe(true);
    await memberChange(world, s, route, this.change);
    world.worker.kick();
    expect(await world.quiet(), 'quiet after the change, the send still held').toBe(true);
    for (const release of model.gates.splice(0)) release();
  }
  toString() {
    return `MidSend(slot ${this.slot}, route ${this.pick}, ${this.kind}, then ${this.change})`;
  }
}

type FaultKind = '5xx' | 'posted-then-5xx' | '429' | 'outage' | 'deny' | 'delete-card' | 'edit-cap' | 'hold-send';

class Fault extends Step {
  constructor(
    readonly kind: FaultKind,
    readonly guild: number,
    readonly channel: number,
    readonly count: number,
  ) {
    super();
  }
  check() {
    return true;
  }
  async act(model: Model, world: World) {
    const channelId = channelOfGuild(world, this.guild, this.channel);
    const { discord } = world;
    switch (this.kind) {
      case '5xx':
        model.faults += 1;
        return discord.inject(Array(this.count).fill({ status: 500, body: { message: 'Internal Server Error', code: 0 } }), channelId);
      case 'posted-then-5xx':
        // Discord posts, then answers 500: the bot cannot tell, and must not post it twice.
        model.faults += 1;
        return discord.inject(Array(this.count).fill({ status: 500, postThenFail: 500 }), channelId);
      case '429':
        model.faults += 1;
        return discord.inject(
          Array(this.count).fill({
            status: 429,
            body: { message: 'You are being rate limited.', retry_after: 0.02, global: false },
            headers: { 'retry-after': '0.02' },
          }),
          channelId,
        );
      case 'outage': {
        model.faults += 1;
        const down = { status: 503, body: { message: 'Service Unavailable', code: 0 } };
        discord.inject(Array(this.count * 2).fill(down));
        return discord.injectEdits(Array(this.count).fill(down));
      }
      case 'deny':
        model.faults += 1;
        return discord.updateChannel(channelId, PERMISSIONS.SendMessages | PERMISSIONS.EmbedLinks);
      case 'delete-card': {
        const cards = discord.messagesIn(channelId).filter((m) => JSON.stringify(m.embeds).includes('live card'));
        const card = cards[this.count % Math.max(1, cards.length)];
        if (card) discord.deleteMessage(card.id);
        return;
      }
      case 'edit-cap': {
        // A card of its own (a message shared by several cards keeps their stale embeds: a known limit).
        const cards = discord.messagesIn(channelId).filter((m) => m.embeds.length === 1 && JSON.stringify(m.embeds).includes('live card'));
        const card = cards[this.count % Math.max(1, cards.length)];
        if (!card) return;
        model.faults += 1;
        // The cap holds for a while: every edit of that message is refused until healed.
        const cap = { code: 30046, message: 'Maximum number of edits to messages older than 1 hour reached. Try again later.' };
        return discord.injectEdits(Array(6).fill({ status: 400, body: cap }), card.id);
      }
      case 'hold-send': {
        let open: () => void = () => {};
        const opened = new Promise<void>((resolve) => (open = resolve));
        model.gates.push(open);
        return discord.inject([{ status: 200, answerAfter: opened }], channelId);
      }
    }
  }
  toString() {
    return `Fault(${this.kind}, server ${this.guild}, channel ${this.channel}, ${this.count})`;
  }
}

/**
 * A request cannot stay in flight longer than discord.js's timeout (15 s of wall time): before the
 * simulated clock moves further than that, held answers are given. Otherwise the simulation would
 * hold a send across more time than Discord remembers its nonce, which cannot happen.
 */
function releaseBeforeLongWait(model: Model, ms: number): void {
  if (ms > 10_000) for (const open of model.gates.splice(0)) open();
}

/** What Sentry may do to an issue without Dispatch hearing of it (a release, another integration, a lost webhook). */
const SENTRY_CHANGES = {
  resolve: { status: 'resolved', substatus: null, statusDetails: { inNextRelease: true } },
  escalate: { status: 'unresolved', substatus: 'escalating' },
  archive: { status: 'ignored', substatus: 'archived_forever' },
  'assign-team': { assignedTo: { type: 'team', id: '77', name: 'backend' } },
  unassign: { assignedTo: null },
} as const;

/** An issue changes in Sentry and no webhook tells Dispatch. */
class SentryChange extends Step {
  constructor(
    readonly slot: number,
    readonly pick: number,
    readonly change: keyof typeof SENTRY_CHANGES,
  ) {
    super();
  }
  check(model: Readonly<Model>) {
    return !!source(model, this.slot);
  }
  async act(model: Model, world: World) {
    const known = model.sources[this.slot]!.issues.filter((i) => !i.incident && world.sentry.issues.has(i.id));
    const issue = known[this.pick % Math.max(1, known.length)];
    if (issue) world.sentry.issues.set(issue.id, { ...world.sentry.issues.get(issue.id), ...SENTRY_CHANGES[this.change] });
  }
  toString() {
    return `SentryChange(slot ${this.slot}, issue ${this.pick}, ${this.change})`;
  }
}

/** The cards are read back from Sentry; read back again at once, nothing more is set right. */
class ReadBack extends Step {
  check() {
    return true;
  }
  async act(_model: Model, world: World) {
    await world.reconciler.syncAll(0);
    await world.reconciler.syncAll(0);
    const fixed = await world.db.all<{ id: number; cards_fixed: number }>(sql`select id, cards_fixed from sources where cards_fixed > 0`);
    expect(fixed, 'a second read-back right after the first set cards right again').toEqual([]);
  }
  toString() {
    return 'ReadBack()';
  }
}

/**
 * Quiet hours on one of a slot's routes, from the current minute for five minutes (UTC), or off
 * again: events that do not pass are held on a feed route (shown in the digest when they end) and
 * posted silently on a card route; turning them off sends what they held.
 */
class Quiet extends Step {
  constructor(
    readonly slot: number,
    readonly pick: number,
    readonly on: boolean,
  ) {
    super();
  }
  check(model: Readonly<Model>) {
    return usable(model, this.slot);
  }
  async act(model: Model, world: World) {
    const s = model.sources[this.slot]!;
    const routes = liveRoutes(s);
    const route = routes[this.pick % routes.length]!;
    const real = (await routesOf(world.db, s.id)).find((r) => r.id === route.id)!;
    const minute = Math.floor((world.clock.now() % 86_400_000) / 60_000);
    const quiet = this.on ? { from: minute, to: (minute + 5) % 1440 } : undefined;
    const schedule = { timeZone: 'UTC', quietFrom: quiet?.from ?? null, quietTo: quiet?.to ?? null, quietPass: 'fatal' };
    await updateRoute(world.db, real, { schedule }, world.clock.now());
    if (route.quiet && !quiet) route.releasedAt.push(world.clock.now());
    setQuiet(route, quiet);
    // As the command does: what quiet hours no longer hold goes out now.
    await world.worker.tidy();
  }
  toString() {
    return `Quiet(slot ${this.slot}, route ${this.pick}, ${this.on ? 'on for 5 min' : 'off'})`;
  }
}

class Release extends Step {
  check(model: Readonly<Model>) {
    return model.gates.length > 0;
  }
  async act(model: Model) {
    for (const open of model.gates.splice(0)) open();
  }
  toString() {
    return 'Release()';
  }
}

class Tick extends Step {
  constructor(readonly ms: number) {
    super();
  }
  check() {
    return true;
  }
  async act(model: Model, world: World) {
    releaseBeforeLongWait(model, this.ms);
    expect(await world.advance(this.ms), `the engine went quiet while the clock moved ${this.ms} ms`).toBe(true);
    // Discord healthy: what is due goes within a pass or two, kicked or not (the worker looks every SAFETY_PASS_MS by itself;
    // a source enabled, a wait that ended, a command that forgot to wake it).
    if (this.ms >= STALE_AFTER_MS + SAFETY_PASS_MS && model.faults === 0 && model.gates.length === 0)
      await checkNothingStale(world, STALE_AFTER_MS);
  }
  toString() {
    return `Tick(${this.ms} ms)`;
  }
}

class Restart extends Step {
  check() {
    return true;
  }
  async act(_model: Model, world: World) {
    await world.restart();
  }
  toString() {
    return 'Restart()';
  }
}

/** Everything that was failing is fixed: Discord answers, denied channels are open again (and the server says so). */
export async function heal(model: Model, world: World): Promise<void> {
  world.discord.clearInjected();
  // DMs open again at Discord; a member Dispatch marked closed gets DMs once they connect again.
  world.discord.closedDms.clear();
  for (const open of model.gates.splice(0)) open();
  for (const guild of world.guilds) {
    for (const channel of guild.channels) if (channel.deny) world.discord.updateChannel(channel.id, undefined);
    await world.worker.serverChanged(asGuildId(guild.id));
  }
  model.faults = 0;
}

class Heal extends Step {
  check(model: Readonly<Model>) {
    return model.faults > 0 || model.gates.length > 0;
  }
  async act(model: Model, world: World) {
    await heal(model, world);
  }
  toString() {
    return 'Heal()';
  }
}

/** A member connects their own Sentry identity, as `/dispatch me connect` saves it (their DM channel opened), or disconnects. */
class Link extends Step {
  constructor(
    readonly person: number,
    readonly link: boolean,
  ) {
    super();
  }
  check() {
    return true;
  }
  async act(model: Model, world: World) {
    await linkPerson(model, world, this.person, this.link);
  }
  toString() {
    return `${this.link ? 'Link' : 'Unlink'}(person ${this.person})`;
  }
}

/** A person connects (or disconnects) their own Sentry identity in their server; the model follows. */
export async function linkPerson(model: Model, world: World, index: number, link: boolean): Promise<void> {
  const person = model.people[index]!;
  const guildId = asGuildId(world.guilds[person.guild]!.id);
  const userId = asUserId(person.userId);
  const now = world.clock.now();
  if (!link) {
    await disconnect(world.db, userId, guildId, now);
    if (person.linked) person.stops.push(model.wave);
    person.linked = false;
    return;
  }
  {
    const { sentryUserId } = person;
    await saveLink(
      world.db,
      {
        guildId,
        userId,
        baseUrl: world.sentry.url,
        org: 'example-org',
        token: person.token,
        sentryUserId,
        sentryName: `Sentry user ${sentryUserId}`,
        sentryEmail: `u${sentryUserId}@example.com`,
        scopes: ['event:read', 'event:write', 'member:read'],
        dmChannelId: await world.discordPeople.openDm(userId),
      },
      now,
    );
    // Connecting again lifts Dispatch's closed-DMs mark; while Discord still refuses their DMs
    // (until healed), a DM fails for good with 50007 and marks them again: none is due.
    person.linked = true;
    person.closed = world.discord.closedDms.has(person.userId);
  }
}

/** Sentry assigns one of a slot's issues to a Sentry user (one that people are, or nobody's), by another user or by themselves. */
class Assign extends Step {
  constructor(
    readonly slot: number,
    readonly issuePick: number,
    readonly to: string,
    readonly own: boolean,
  ) {
    super();
  }
  check(model: Readonly<Model>) {
    return !!source(model, this.slot);
  }
  async act(model: Model, world: World) {
    const by = this.own ? this.to : '799';
    await postEvent(model, world, this.slot, 'issue.assigned', this.issuePick, 1, undefined, { assignment: { to: this.to, by } });
  }
  toString() {
    return `Assign(slot ${this.slot}, issue ${this.issuePick}, to Sentry user ${this.to}${this.own ? ', by themselves' : ''})`;
  }
}

/**
 * Sentry's webhook for one change as each integration of the organization gets it: an assignment in
 * Sentry, sent to a slot's source and, the same body, to the other source of its server (their
 * copies arrive within seconds). A member connected there is told once (dm_sent), whichever copy
 * goes first; a copy that cannot go (its source disabled, deleted) leaves the DM to the other.
 */
class TwinAssign extends Step {
  constructor(
    readonly slot: number,
    readonly issuePick: number,
    readonly to: string,
  ) {
    super();
  }
  check(model: Readonly<Model>) {
    return !!source(model, this.slot) && !!source(model, this.slot ^ 1);
  }
  async act(model: Model, world: World) {
    const first = model.events.length;
    const assignment = { to: this.to, by: '799' };
    await postEvent(model, world, this.slot, 'issue.assigned', this.issuePick, 1, undefined, { assignment });
    const original = model.events[first];
    if (original) await postEvent(model, world, this.slot ^ 1, 'issue.assigned', 0, 1, undefined, { assignment, copyOf: original });
  }
  toString() {
    return `TwinAssign(slot ${this.slot} and ${this.slot ^ 1}, issue ${this.issuePick}, to Sentry user ${this.to})`;
  }
}

/**
 * Discord fails a route's channel a few times (a 5xx, or a 5xx after it posted the message), so a
 * webhook's send there fails and waits to go again under its nonce; while it waits, a member moves
 * the route, disables its source, removes the route, changes its layout or restarts Dispatch; then
 * the clock moves across the retries (the channel still failing for some of them).
 */
class RetryThenChange extends Step {
  constructor(
    readonly slot: number,
    readonly pick: number,
    readonly fault: '5xx' | 'posted-then-5xx',
    readonly failures: number,
    readonly change: Extract<MemberChange, 'move' | 'disable' | 'remove' | 'layout' | 'restart'>,
    readonly kind: EventKind,
    /** A comment on the same issue arrives with it: the two gather into one batch (one message of two embeds on a feed route). */
    readonly withComment: boolean,
  ) {
    super();
  }
  check(model: Readonly<Model>) {
    return usable(model, this.slot) && model.sources[this.slot]!.enabled;
  }
  async act(model: Model, world: World) {
    const s = model.sources[this.slot]!;
    const routes = liveRoutes(s);
    const route = routes[this.pick % routes.length]!;
    const failure =
      this.fault === '5xx' ? { status: 500, body: { message: 'Internal Server Error', code: 0 } } : { status: 500, postThenFail: 500 };
    world.discord.inject(Array(this.failures).fill(failure), channelOf(route));
    model.faults += 1;
    const issues = () => s.issues.filter((i) => !i.incident).length;
    const before = issues();
    const sent = postEvent(model, world, this.slot, this.kind, this.pick, 1);
    // The issue the first is about (postEvent picks or makes it before its first await): a new one is the last.
    const sameIssue = issues() > before ? issues() - 1 : this.pick;
    await Promise.all([sent, this.withComment ? postEvent(model, world, this.slot, 'comment.created', sameIssue, 1) : undefined]);
    // Past the batch's linger: its first send failed, and it waits for its retry.
    expect(await world.advance(1_200), 'quiet while the send waits for its retry').toBe(true);
    await memberChange(world, s, route, this.change);
    world.worker.kick();
    expect(await world.advance(6_000), 'quiet after the retries').toBe(true);
    if (this.change === 'disable' && model.gates.length === 0) {
      // The batch whose send began goes again under its nonce though its source is off (Discord may have it already).
      expect(await world.advance(STALE_AFTER_MS + SAFETY_PASS_MS), 'quiet with the source off').toBe(true);
      await checkNothingStale(world, STALE_AFTER_MS);
    }
  }
  toString() {
    const comment = this.withComment ? ' with a comment on its issue' : '';
    return `RetryThenChange(slot ${this.slot}, route ${this.pick}, ${this.kind}${comment}, ${this.failures} × ${this.fault}, then ${this.change})`;
  }
}

/**
 * A member clicks a card (the triage carried out as the command handler does it): as themselves
 * when connected in the card's server (the PUT carries their personal token), else through the
 * integration. Assign to me needs a connection; without one the member resolves.
 */
class PersonalClick extends Step {
  constructor(
    readonly slot: number,
    readonly issuePick: number,
    /** Which member of the card's server clicks: the first or second person of it (by index among the people there), or one who never connected. */
    readonly who: number,
    readonly action: 'resolve' | 'unresolve' | 'archive-24h' | 'assign-me',
  ) {
    super();
  }
  check(model: Readonly<Model>) {
    return usable(model, this.slot) && model.sources[this.slot]!.enabled;
  }
  async act(model: Model, world: World) {
    const s = model.sources[this.slot]!;
    const route = liveRoutes(s).find((r) => r.layout === 'card');
    const issues = s.issues.filter((i) => !i.incident);
    if (!route || issues.length === 0) return;
    const issue = issues[this.issuePick % issues.length]!;
    if (!(await findCardByKey(world.db, route.id, issueCardKey(issue.id)))) return; // only cards there are clicked
    const member = model.people.filter((p) => p.guild === s.guild)[this.who];
    const linked = member?.linked === true;
    const guildId = asGuildId(world.guilds[s.guild]!.id);
    const realSource = (await findSourceById(world.db, guildId, s.id))!;
    const realRoute = (await routesOf(world.db, s.id)).find((r) => r.id === route.id)!;
    const change =
      this.action === 'assign-me' && linked
        ? { kind: 'assign-to' as const, actor: 'me' }
        : { kind: this.action === 'assign-me' ? ('resolve' as const) : this.action };
    const updates = world.sentry.updates().length;
    const outcome = await carryOut(world.triage, {
      route: realRoute,
      source: realSource,
      issueId: issue.id,
      org: 'example-org',
      member: { guildId, userId: asUserId(member?.userId ?? '1'), name: 'sim' },
      change,
      integration: sentryApiOf(realSource, world.triage.secrets, world.triage.sentryUrls)!,
      onCard: true,
    });
    expect(outcome.done, `the click ${this} was carried out`).toBe(true);
    const puts = world.sentry.updates().slice(updates);
    expect(
      puts.map((r) => r.authorization),
      'the PUT carries the member’s own token when connected in this server, else the integration’s',
    ).toEqual([`Bearer ${linked ? member!.token : SENTRY_TOKEN}`]);
  }
  toString() {
    return `PersonalClick(slot ${this.slot}, issue ${this.issuePick}, member ${this.who}, ${this.action})`;
  }
}

/**
 * A channel is put on hold (Discord refuses for want of a permission); the permission is given
 * back (the server's change makes the hold's probe due at once) just as Discord starts failing
 * everywhere and a burst arrives: the probe waits for the outage's pace, and the engine does not
 * spin at one instant while sends are in flight.
 */
class HeldThroughOutage extends Step {
  constructor(
    readonly slot: number,
    readonly pick: number,
    readonly count: number,
    readonly failures: number,
  ) {
    super();
  }
  check(model: Readonly<Model>) {
    return usable(model, this.slot) && model.sources[this.slot]!.enabled && model.gates.length === 0;
  }
  async act(model: Model, world: World) {
    const s = model.sources[this.slot]!;
    const routes = liveRoutes(s);
    const channelId = channelOf(routes[this.pick % routes.length]!);
    world.discord.updateChannel(channelId, PERMISSIONS.SendMessages | PERMISSIONS.EmbedLinks);
    model.faults += 1;
    await postEvent(model, world, this.slot, 'issue.created', 0, 1);
    expect(await world.advance(1_000), 'quiet with the channel held').toBe(true);
    world.discord.updateChannel(channelId, undefined);
    await world.worker.serverChanged(asGuildId(world.guilds[s.guild]!.id));
    world.discord.inject(Array(this.failures).fill({ status: 503, body: { message: 'Service Unavailable', code: 0 } }));
    await Promise.all(Array.from({ length: this.count }, (_, i) => postEvent(model, world, this.slot, 'issue.created', 0, i % 3)));
    releaseBeforeLongWait(model, 25_000);
    expect(await world.advance(25_000), 'the engine went quiet through the outage').toBe(true);
  }
  toString() {
    return `HeldThroughOutage(slot ${this.slot}, route ${this.pick}, ${this.count} events, ${this.failures} failures everywhere)`;
  }
}

/**
 * A burst arrives and, while it gathers into one message, its source is disabled; the source is
 * enabled again later, in the database (no command, so nothing kicks the worker): with Discord
 * healthy, what waited goes within the worker's own periodic passes, woken by nothing else.
 */
class OffAndOn extends Step {
  constructor(
    readonly slot: number,
    readonly count: number,
  ) {
    super();
  }
  check(model: Readonly<Model>) {
    return usable(model, this.slot) && model.sources[this.slot]!.enabled && model.gates.length === 0 && model.faults === 0;
  }
  async act(model: Model, world: World) {
    const s = model.sources[this.slot]!;
    const toggle = async (enabled: boolean) => {
      const real = (await findSourceById(world.db, asGuildId(world.guilds[s.guild]!.id), s.id))!;
      await setSourceEnabled(world.db, real, enabled, world.clock.now());
      toggled(s, enabled, world.clock.now());
    };
    // Several at once: past the first, they wait for one another (the batch linger) on a clock that stands still.
    await Promise.all(Array.from({ length: this.count }, (_, i) => postEvent(model, world, this.slot, 'issue.created', i, i % 3)));
    expect(await world.quiet(), 'quiet with the burst gathering').toBe(true);
    await toggle(false);
    expect(await world.advance(5_000), 'quiet with the source off').toBe(true);
    await toggle(true);
    expect(await world.advance(STALE_AFTER_MS + SAFETY_PASS_MS), 'quiet after the source is back').toBe(true);
    await checkNothingStale(world, STALE_AFTER_MS);
  }
  toString() {
    return `OffAndOn(slot ${this.slot}, ${this.count} events)`;
  }
}

/** The lines a card's history has (its text and time), as stored. */
async function cardLines(world: World, routeId: Route['id'], issueId: string): Promise<{ lines: string[]; state?: CardState }> {
  const card = await findCardByKey(world.db, routeId, issueCardKey(issueId));
  if (!card) return { lines: [] };
  const state = JSON.parse(card.state) as CardState;
  return { lines: state.history.map((h) => `${h.at} ${h.text}`), state };
}

/**
 * A member assigns an issue to a Sentry user from its card (through the integration). Before
 * Sentry's webhook for that click comes back, someone in Sentry assigns it to another user, and
 * that webhook arrives first. The click's echo adds no line to the card; the other assignment adds
 * its own, though both name an assignee of the same kind (an echo is recognized by who it names).
 */
class ClickThenEcho extends Step {
  constructor(
    readonly slot: number,
    readonly issuePick: number,
    readonly clicked: string,
    readonly other: string,
  ) {
    super();
  }
  check(model: Readonly<Model>) {
    return usable(model, this.slot) && model.sources[this.slot]!.enabled && model.gates.length === 0 && model.faults === 0;
  }
  async act(model: Model, world: World) {
    const s = model.sources[this.slot]!;
    const route = liveRoutes(s).find((r) => r.layout === 'card');
    const issues = s.issues.filter((i) => !i.incident);
    if (!route || issues.length === 0) return;
    const issue = issues[this.issuePick % issues.length]!;
    if (!(await findCardByKey(world.db, route.id, issueCardKey(issue.id)))) return;
    const guildId = asGuildId(world.guilds[s.guild]!.id);
    const realSource = (await findSourceById(world.db, guildId, s.id))!;
    const realRoute = (await routesOf(world.db, s.id)).find((r) => r.id === route.id)!;
    const outcome = await carryOut(world.triage, {
      route: realRoute,
      source: realSource,
      issueId: issue.id,
      org: 'example-org',
      member: { guildId, userId: asUserId(model.people.find((p) => p.guild === s.guild)?.userId ?? '1'), name: 'sim' },
      change: { kind: 'assign-to', actor: `user:${this.clicked}` },
      integration: sentryApiOf(realSource, world.triage.secrets, world.triage.sentryUrls)!,
      onCard: true,
    });
    expect(outcome.done, `the click ${this} was carried out`).toBe(true);
    expect(await world.advance(3_000), 'quiet after the click').toBe(true);
    const before = await cardLines(world, route.id, issue.id);
    // The click reached the card (it waits for its echo): otherwise there is nothing to tell apart.
    if (!before.state?.echoes?.some((e) => e.assignee?.id === this.clicked)) return;
    await postEvent(model, world, this.slot, 'issue.assigned', this.issuePick, 1, undefined, {
      assignment: { to: this.other, by: '799' },
    });
    await postEvent(model, world, this.slot, 'issue.assigned', this.issuePick, 1, undefined, {
      assignment: { to: this.clicked, by: this.clicked },
    });
    expect(await world.advance(3_000), 'quiet after both webhooks').toBe(true);
    const after = await cardLines(world, route.id, issue.id);
    const added = after.lines.filter((line) => !before.lines.includes(line)).map((line) => line.slice(line.indexOf(' ') + 1));
    expect(added, `the lines ${this} added to the card`).toContain(`Assigned to Sentry user ${this.other}`);
    expect(added, `the lines ${this} added to the card`).not.toContain(`Assigned to Sentry user ${this.clicked}`);
  }
  toString() {
    return `ClickThenEcho(slot ${this.slot}, issue ${this.issuePick}, clicked user ${this.clicked}, then user ${this.other} in Sentry first)`;
  }
}

/** A member's DMs close (Discord will answer 50007): what waits for them may be dropped, and none is written after the refusal. */
class CloseDms extends Step {
  constructor(readonly person: number) {
    super();
  }
  check() {
    return true;
  }
  async act(model: Model, world: World) {
    const person = model.people[this.person]!;
    world.discord.closedDms.add(person.userId);
    person.stops.push(model.wave);
    person.closed = true;
    model.faults += 1;
  }
  toString() {
    return `CloseDms(person ${this.person})`;
  }
}

const slot = fc.integer({ min: 0, max: SLOTS - 1 });
const channel = fc.integer({ min: 0, max: 2 });
const layout = fc.constantFrom<'card' | 'feed'>('card', 'feed');

/** The commands a sequence is made of, weighted towards webhooks and the clock. */
export const commandArbitraries: fc.Arbitrary<Cmd>[] = [
  ...Array.from({ length: 6 }, () =>
    fc
      .tuple(slot, fc.constantFrom(...EVENT_KINDS), fc.nat(5), fc.integer({ min: 0, max: 2 }))
      .map(([s, kind, pick, level]) => new Webhook(s, kind, pick, level)),
  ),
  ...Array.from({ length: 2 }, () =>
    fc
      .tuple(
        slot,
        fc.constantFrom<RuleAlert['kind']>('event_alert.triggered', 'metric_alert.critical'),
        fc.constantFrom<RuleAlert['target']>('own', 'own', 'removed', 'other'),
        fc.nat(5),
      )
      .map(([s, kind, target, pick]) => new RuleAlert(s, kind, target, pick)),
  ),
  fc.tuple(slot, fc.integer({ min: 3, max: 16 })).map(([s, n]) => new Burst(s, n)),
  ...Array.from({ length: 2 }, () =>
    fc
      .tuple(
        slot,
        fc.integer({ min: 8, max: 24 }),
        fc.integer({ min: 3, max: 8 }),
        fc.boolean(),
        fc.nat(3),
        fc.record({ slot: fc.integer({ min: 1, max: SLOTS - 1 }), count: fc.integer({ min: 0, max: 4 }) }),
      )
      .map(([s, n, f, everywhere, pick, beside]) => new Flood(s, n, f, everywhere, pick, beside)),
  ),
  fc.nat(50).map((pick) => new Duplicate(pick)),
  ...Array.from({ length: 2 }, () =>
    fc
      .tuple(
        slot,
        fc.nat(3),
        fc.constantFrom<SplitWebhook['change']>('quiet-off', 'quiet-on', 'cards', 'move', 'disable', 'remove'),
        fc.integer({ min: 0, max: 2 }),
      )
      .map(([s, pick, change, level]) => new SplitWebhook(s, pick, change, level)),
  ),
  fc
    .tuple(slot, fc.constantFrom<EventKind>('error.created', 'issue.created', 'event_alert.triggered'), fc.nat(5))
    .map(([s, kind, pick]) => new LargeWebhook(s, kind, pick)),
  fc.tuple(slot, fc.integer({ min: 2, max: 4 })).map(([s, days]) => new DaysOff(s, days)),
  fc.tuple(slot, fc.integer({ min: 1, max: 6 })).map(([s, n]) => new DatabaseAway(s, n)),
  fc.tuple(slot, channel, layout, fc.nat(FILTERS.length - 1)).map(([s, c, l, f]) => new AddRoute(s, c, l, f)),
  fc
    .tuple(
      slot,
      fc.nat(3),
      fc.oneof(
        channel.map((c) => ({ channel: c })),
        fc.nat(FILTERS.length - 1).map((f) => ({ filter: f })),
        layout.map((l) => ({ layout: l })),
      ),
    )
    .map(([s, pick, change]) => new EditRoute(s, pick, change)),
  fc.tuple(slot, fc.nat(3)).map(([s, pick]) => new RemoveRoute(s, pick)),
  fc
    .tuple(
      slot,
      fc.constantFrom('disable', 'enable', 'enable', 'rename', 'delete', 'template', 'untemplate') as fc.Arbitrary<SourceAction['action']>,
    )
    .map(([s, action]) => new SourceAction(s, action)),
  fc.tuple(slot, layout, channel).map(([s, l, c]) => new Recreate(s, l, c)),
  fc
    .tuple(
      fc.constantFrom<FaultKind>('5xx', 'posted-then-5xx', '429', 'outage', 'deny', 'delete-card', 'edit-cap', 'hold-send', 'hold-send'),
      fc.integer({ min: 0, max: 1 }),
      channel,
      fc.integer({ min: 1, max: 5 }),
    )
    .map(([kind, g, c, n]) => new Fault(kind, g, c, n)),
  fc.constant(new Release()),
  ...Array.from({ length: 2 }, () =>
    fc
      .tuple(
        slot,
        fc.nat(3),
        fc.constantFrom<MidSend['change']>('delete-source', 'remove', 'move', 'disable', 'layout', 'restart'),
        fc.constantFrom<EventKind>(
          'issue.created',
          'issue.assigned',
          'comment.created',
          'metric_alert.critical',
          'preprod_artifact.build_distribution_completed',
        ),
      )
      .map(([s, pick, change, kind]) => new MidSend(s, pick, change, kind)),
  ),
  ...Array.from({ length: 3 }, () => fc.constantFrom(200, 1_200, 5_000, 12_000, 61_000, 11 * 60_000).map((ms) => new Tick(ms))),
  fc.constant(new Restart()),
  fc.constant(new Heal()),
  fc
    .tuple(slot, fc.nat(5), fc.constantFrom(...(Object.keys(SENTRY_CHANGES) as (keyof typeof SENTRY_CHANGES)[])))
    .map(([s, pick, change]) => new SentryChange(s, pick, change)),
  fc.constant(new ReadBack()),
  fc.tuple(slot, fc.nat(3), fc.constantFrom(true, true, false)).map(([s, pick, on]) => new Quiet(s, pick, on)),
  // People: connecting, assignments in Sentry (to a connected member, another server's same Sentry user, nobody's), clicks as them.
  ...Array.from({ length: 2 }, () => fc.tuple(fc.nat(2), fc.constantFrom(true, true, false)).map(([p, on]) => new Link(p, on))),
  ...Array.from({ length: 3 }, () =>
    fc
      .tuple(slot, fc.nat(5), fc.constantFrom('701', '701', '702', '703'), fc.constantFrom(false, false, true))
      .map(([s, pick, to, own]) => new Assign(s, pick, to, own)),
  ),
  ...Array.from({ length: 3 }, () =>
    fc
      .tuple(
        fc.constantFrom(1, 3, 1, 3, 0, 2),
        fc.nat(5),
        fc.constantFrom(0, 0, 1, 2),
        fc.constantFrom<PersonalClick['action']>('resolve', 'unresolve', 'archive-24h', 'assign-me'),
      )
      .map(([s, pick, who, action]) => new PersonalClick(s, pick, who, action)),
  ),
  fc.nat(2).map((p) => new CloseDms(p)),
  fc.tuple(slot, fc.integer({ min: 3, max: 8 })).map(([s, n]) => new OffAndOn(s, n)),
  fc
    .tuple(slot, fc.nat(3), fc.integer({ min: 4, max: 12 }), fc.integer({ min: 2, max: 6 }))
    .map(([s, pick, n, f]) => new HeldThroughOutage(s, pick, n, f)),
  ...Array.from({ length: 2 }, () =>
    fc
      .tuple(slot, fc.nat(5), fc.constantFrom(['701', '702'], ['702', '701'], ['701', '703']))
      .map(([s, pick, [clicked, other]]) => new ClickThenEcho(s, pick, clicked!, other!)),
  ),
  ...Array.from({ length: 2 }, () =>
    fc.tuple(slot, fc.nat(5), fc.constantFrom('701', '701', '702')).map(([s, pick, to]) => new TwinAssign(s, pick, to)),
  ),
  ...Array.from({ length: 2 }, () =>
    fc
      .tuple(
        slot,
        fc.nat(3),
        fc.constantFrom<RetryThenChange['fault']>('5xx', 'posted-then-5xx'),
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom<RetryThenChange['change']>('move', 'move', 'disable', 'disable', 'remove', 'layout', 'layout', 'restart'),
        fc.constantFrom<EventKind>('issue.created', 'comment.created', 'error.created', 'issue.assigned'),
        fc.boolean(),
      )
      .map(([s, pick, fault, failures, change, kind, comment]) => new RetryThenChange(s, pick, fault, failures, change, kind, comment)),
  ),
  // A new issue and a comment on it gathered into one batch that waits for its retry while its route's layout changes.
  fc
    .tuple(slot, fc.nat(3), fc.integer({ min: 2, max: 4 }))
    .map(([s, pick, failures]) => new RetryThenChange(s, pick, '5xx', failures, 'layout', 'issue.created', true)),
];
