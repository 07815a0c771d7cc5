import { digestQuiet } from '../db/delivery-state/index.js';
import { inSteps } from '../db/deliveries.js';
import { firstEventSeqAt, readDigestFacts, seqRangeOf, type DigestScope, type SeqRange } from '../db/digest-read.js';
import {
  cardLinks,
  claimDigest,
  countAttempt,
  digestMade,
  finishDigest,
  lastDigestEnd,
  quietHeld,
  scheduledRoutes,
  unfinishedDigests,
  type DigestKind,
  type ScheduledRoute,
} from '../db/digests.js';
import type { Database } from '../db/database.js';
import { routesByIds } from '../db/routes.js';
import type { DigestRow, Route } from '../db/schema.js';
import { guildsOfSources } from '../db/sources.js';
import type { Clock, Timer } from '../delivery/clock.js';
import type { GuildId } from '../ids.js';
import type { Logger } from '../logger.js';
import { buildDigest } from './digest.js';
import type { DigestFacts } from './digest-facts.js';
import {
  isQuiet,
  LATE_AFTER_MS,
  lastDigestDue,
  lastQuietPeriod,
  periodsIn,
  previousDigestDue,
  scheduleOf,
  type Period,
} from './route-schedule.js';

/** One digest to draw: of which route, what kind, over which period, and how late. */
interface DigestRequest {
  route: Route;
  guildId: GuildId;
  kind: DigestKind;
  period: Period;
  /** How long after its due time it is made (shown when LATE_AFTER_MS or more). */
  lateByMs?: number;
}

/** How often due digests are looked for: a digest goes out within this long of its time. */
export const DIGEST_CHECK_EVERY_MS = 30_000;
/** A digest claimed this long ago and not finished was left by a maker that stopped: it is finished by whoever looks. */
const UNFINISHED_AFTER_MS = 60_000;
/** Tries at drawing one digest before it is given up (a digest that cannot be drawn must not be due again forever). */
const MAX_ATTEMPTS = 3;

export interface DigestSchedulerDeps {
  db: Database;
  logger: Logger;
  /** The delivery engine's clock: the simulation and tests move it. */
  clock: Clock;
  /** A digest was stored: the delivery worker (of whichever replica leads) should look. */
  wake: () => void;
}

/**
 * Makes each route's digests when they are due: when its quiet hours end (what they held), and on
 * its daily or weekly schedule. Every replica looks; the digest's row is the claim, written before
 * it is drawn (see src/db/digests.ts), so a digest is made once, one due while Dispatch was down
 * is made when it comes back (saying it is late), and one a crash interrupted is finished (or,
 * after MAX_ATTEMPTS, given up) rather than due again. It travels as a stored event, like a webhook.
 */
export class DigestScheduler {
  private timer: Timer | undefined;
  private running: Promise<number> | undefined;
  private stopped = false;

  constructor(private readonly deps: DigestSchedulerDeps) {}

  start(): void {
    this.stopped = false;
    const loop = () => {
      if (this.stopped) return;
      void this.tick().finally(() => {
        if (!this.stopped) this.timer = this.deps.clock.after(DIGEST_CHECK_EVERY_MS, loop);
      });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.running?.catch(() => undefined);
  }

  /** Makes every digest due now (and finishes any left unfinished); how many were made. One pass at a time. */
  tick(): Promise<number> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(): Promise<number> {
    let made = 0;
    try {
      made += await this.finishLeftOver();
      for (const scheduled of await scheduledRoutes(this.deps.db)) {
        if (this.stopped) break;
        made += await this.dueFor(scheduled);
      }
    } catch (error) {
      this.deps.logger.error({ err: error }, 'digests: could not look for due digests; trying again shortly');
    }
    if (made > 0) this.deps.wake();
    return made;
  }

  private async dueFor({ route, guildId }: ScheduledRoute): Promise<number> {
    const { db, clock } = this.deps;
    const now = clock.now();
    const schedule = scheduleOf(route);
    let made = 0;
    const quietSince = route.quietSince ?? route.createdAt;
    const quiet = lastQuietPeriod(schedule, now);
    if (quiet && quiet.end > quietSince && !(await digestMade(db, route.id, 'quiet', quiet.end))) {
      // Held events of an earlier quiet period whose digest was never made (down all day) are in this one.
      const { oldest } = await quietHeld(db, route.id);
      const start = Math.min(Math.max(quiet.start, quietSince), oldest ?? Number.POSITIVE_INFINITY);
      if (await this.make({ route, guildId, kind: 'quiet', period: { start, end: quiet.end }, lateByMs: now - quiet.end })) made++;
    }
    // Outside quiet hours nothing should be held: events held after their period's digest was made
    // (the last instant of quiet hours, the hour a clock going back repeats, quiet hours changed at
    // night) get a digest of their own, unless one of the route's is underway (it takes them).
    if (schedule.quiet && !isQuiet(schedule, now)) {
      const held = await quietHeld(db, route.id);
      if (
        held.oldest !== null &&
        !held.digestUnderway &&
        (await this.make({ route, guildId, kind: 'leftover', period: { start: held.oldest, end: now } }))
      )
        made++;
    }
    const digestSince = route.digestSince ?? route.createdAt;
    const due = lastDigestDue(schedule, now);
    if (due !== undefined && due > digestSince && !(await digestMade(db, route.id, 'scheduled', due))) {
      const usual = previousDigestDue(schedule, due) ?? due;
      // After missed periods (Dispatch was down) the digest reaches back to the last one it made; not
      // past when this schedule was set (a digest turned off for a month covers its last day, not the month).
      const last = await lastDigestEnd(db, route.id, 'scheduled');
      const start = last !== undefined && last >= digestSince ? Math.min(last, usual) : usual;
      if (await this.make({ route, guildId, kind: 'scheduled', period: { start: Math.min(start, due), end: due }, lateByMs: now - due }))
        made++;
    }
    return made;
  }

  /** `/dispatch route digest post:true`: the route's digest from its last one (or the last day) until now, made now. */
  async makeNow(route: Route, guildId: GuildId): Promise<boolean> {
    const made = await this.make({ route, guildId, kind: 'now', period: await this.sinceLast(route) });
    if (made) this.deps.wake();
    return made;
  }

  /** What a digest would say, without making it (an ephemeral `/dispatch route digest`). */
  async preview(route: Route, guildId: GuildId): Promise<ReturnType<typeof buildDigest>> {
    const period = await this.sinceLast(route);
    return this.draw({ route, guildId, kind: 'now', period }, await this.factsOf({ range: await this.rangeOf(route, period) }));
  }

  private async sinceLast(route: Route): Promise<Period> {
    const now = this.deps.clock.now();
    return { start: (await lastDigestEnd(this.deps.db, route.id, 'scheduled')) ?? now - 86_400_000, end: now };
  }

  /** Claims the digest, then makes it; false when it was claimed already. */
  private async make(request: DigestRequest): Promise<boolean> {
    const claimed = await claimDigest(
      this.deps.db,
      { routeId: request.route.id, kind: request.kind, period: request.period },
      this.deps.clock.now(),
    );
    if (!claimed) return false;
    return this.finish(claimed, request);
  }

  /** Digests a maker left unfinished (it stopped mid-way): finished here, with what they need read again. */
  private async finishLeftOver(): Promise<number> {
    const { db, clock } = this.deps;
    let made = 0;
    for (const digest of await unfinishedDigests(db, clock.now() - UNFINISHED_AFTER_MS)) {
      const route = (await routesByIds(db, [digest.routeId])).get(digest.routeId);
      if (!route) continue;
      const guildId = (await guildsOfSources(db, [route.sourceId])).get(route.sourceId);
      const request = { route, guildId: guildId!, kind: digest.kind, period: { start: digest.periodStart, end: digest.periodEnd } };
      if (await this.finish(digest, request)) made++;
    }
    return made;
  }

  /** Takes what a quiet digest shows, draws it from bounded reads, and stores it: each step repeatable after a crash. */
  private async finish(digest: DigestRow, request: DigestRequest): Promise<boolean> {
    const { db, logger, clock } = this.deps;
    const about = { route_id: request.route.id, source_id: request.route.sourceId, kind: request.kind, digest_id: digest.id };
    const attempt = await countAttempt(db, digest.id);
    if (attempt > MAX_ATTEMPTS) {
      logger.error({ ...about, attempts: attempt - 1 }, 'digest could not be made after several tries: given up');
      await finishDigest(db, { digest, route: request.route, events: 0, embeds: [] }, clock.now());
      return false;
    }
    const quiet = request.kind === 'quiet' || request.kind === 'leftover';
    if (quiet) {
      const before = await firstEventSeqAt(db, request.period.end);
      await inSteps(() => digestQuiet(db, request.route.id, digest.id, before));
    }
    // A quiet digest shows what it took and what went out as usual in the night; a left-over one only what it took.
    const scope: DigestScope = {
      ...(quiet ? { digestId: digest.id } : {}),
      ...(request.kind !== 'leftover' ? { range: await this.rangeOf(request.route, request.period) } : {}),
    };
    const facts = await this.factsOf(scope);
    const embeds = await this.draw(request, facts);
    const made = await finishDigest(db, { digest, route: request.route, events: facts.total, embeds }, clock.now());
    if (made) logger.info({ ...about, events: facts.total, messages: embeds.length, late_ms: request.lateByMs ?? 0 }, 'digest made');
    return made;
  }

  private async rangeOf(route: Route, period: Period): Promise<SeqRange> {
    return { routeId: route.id, ...(await seqRangeOf(this.deps.db, period)) };
  }

  private factsOf(scope: DigestScope): Promise<DigestFacts> {
    return readDigestFacts(this.deps.db, scope);
  }

  private async draw({ route, guildId, kind, period, lateByMs = 0 }: DigestRequest, facts: DigestFacts) {
    const schedule = scheduleOf(route);
    const links = await cardLinks(
      this.deps.db,
      route.id,
      guildId,
      facts.issues.map((issue) => issue.key),
    );
    return buildDigest(
      {
        kind: kind === 'leftover' ? 'quiet' : kind,
        schedule,
        period,
        routeName: route.name,
        cardLinks: links,
        lateByMs: lateByMs >= LATE_AFTER_MS ? lateByMs : 0,
        periods: kind === 'scheduled' ? periodsIn(schedule, period) : 1,
      },
      facts,
    );
  }
}
