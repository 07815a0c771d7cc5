import {
  cardLinks,
  digestMade,
  eventsOfPeriod,
  heldBefore,
  lastDigestEnd,
  makeDigest,
  scheduledRoutes,
  type DigestKind,
  type ScheduledRoute,
} from '../db/digests.js';
import type { Database } from '../db/database.js';
import type { Route } from '../db/schema.js';
import type { Clock, Timer } from '../delivery/clock.js';
import type { GuildId } from '../ids.js';
import type { Logger } from '../logger.js';
import { buildDigest } from './digest.js';
import {
  isQuiet,
  LATE_AFTER_MS,
  lastDigestDue,
  lastQuietPeriod,
  periodsIn,
  previousDigestDue,
  scheduleOf,
  type Period,
  type RouteSchedule,
} from './route-schedule.js';

/** One digest to draw or make: of which route, what kind, over which period, and how late. */
interface DigestRequest {
  route: Route;
  guildId: GuildId;
  schedule: RouteSchedule;
  kind: DigestKind;
  period: Period;
  /** How long after its due time it is made (shown when LATE_AFTER_MS or more). */
  lateByMs?: number;
  /** How many of the schedule's periods it covers. */
  periods?: number;
}

/** How often due digests are looked for: a digest goes out within this long of its time. */
export const DIGEST_CHECK_EVERY_MS = 30_000;

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
 * its daily or weekly schedule. Every replica looks; the digest's row in the database is the claim
 * (see `makeDigest`), so one is made once, and one due while Dispatch was down is made when it
 * comes back (saying it is late). The digest then travels as a stored event, like a webhook.
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

  /** Makes every digest due now; how many were made. One pass at a time. */
  tick(): Promise<number> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(): Promise<number> {
    let made = 0;
    try {
      for (const scheduled of await scheduledRoutes(this.deps.db)) made += await this.dueFor(scheduled);
    } catch (error) {
      this.deps.logger.error({ err: error }, 'digests: could not look for due digests; trying again shortly');
    }
    if (made > 0) this.deps.wake();
    return made;
  }

  private async dueFor({ route, guildId }: ScheduledRoute): Promise<number> {
    const now = this.deps.clock.now();
    const schedule = scheduleOf(route);
    let made = 0;
    const quietSince = route.quietSince ?? route.createdAt;
    const quiet = lastQuietPeriod(schedule, now);
    if (quiet && quiet.end > quietSince && !(await digestMade(this.deps.db, route.id, 'quiet', quiet.end))) {
      // Held events of an earlier quiet period whose digest was never made (down all day) are in this one.
      const held = await heldBefore(this.deps.db, route.id, quiet.end);
      const start = Math.min(Math.max(quiet.start, quietSince), held.oldest ?? Number.POSITIVE_INFINITY);
      if (await this.make({ route, guildId, schedule, kind: 'quiet', period: { start, end: quiet.end }, lateByMs: now - quiet.end }))
        made++;
    }
    if (schedule.quiet && !isQuiet(schedule, now) && (await this.leftOver(route, guildId, schedule, now))) made++;
    const digestSince = route.digestSince ?? route.createdAt;
    const due = lastDigestDue(schedule, now);
    if (due !== undefined && due > digestSince && !(await digestMade(this.deps.db, route.id, 'scheduled', due))) {
      const usual = previousDigestDue(schedule, due) ?? due;
      // After missed periods (Dispatch was down) the digest reaches back to the last one it made; not
      // past when this schedule was set (a digest turned off for a month covers its last day, not the month).
      const last = await lastDigestEnd(this.deps.db, route.id, 'scheduled');
      const start = last !== undefined && last >= digestSince ? Math.min(last, usual) : usual;
      const period = { start: Math.min(start, due), end: due };
      if (
        await this.make({ route, guildId, schedule, kind: 'scheduled', period, lateByMs: now - due, periods: periodsIn(schedule, period) })
      )
        made++;
    }
    return made;
  }

  /**
   * Outside quiet hours, nothing should be held: events held after their period's digest was made
   * (received in the last instant of quiet hours, in the hour a clock going back repeats, or under
   * quiet hours changed at night to a window already over) get a digest of their own. Its period
   * ends just after the newest of them, so every replica that sees the same held events makes the
   * same claim, and one makes it.
   */
  private async leftOver(route: Route, guildId: GuildId, schedule: RouteSchedule, now: number): Promise<boolean> {
    const held = await heldBefore(this.deps.db, route.id, now);
    if (held.count === 0 || held.oldest === null || held.newest === null) return false;
    const period = { start: held.oldest, end: held.newest + 1 };
    if (await digestMade(this.deps.db, route.id, 'quiet', period.end)) return false;
    return this.make({ route, guildId, schedule, kind: 'quiet', period });
  }

  /** `/dispatch route digest`: the route's digest from its last one (or the last day) until now, made now. */
  async makeNow(route: Route, guildId: GuildId): Promise<boolean> {
    const now = this.deps.clock.now();
    const schedule = scheduleOf(route);
    const start = (await lastDigestEnd(this.deps.db, route.id, 'scheduled')) ?? now - 86_400_000;
    const made = await this.make({ route, guildId, schedule, kind: 'now', period: { start, end: now } });
    if (made) this.deps.wake();
    return made;
  }

  /** What a digest would say, without making it (an ephemeral `/dispatch route digest`). */
  async preview(route: Route, guildId: GuildId): Promise<ReturnType<typeof buildDigest>> {
    const now = this.deps.clock.now();
    const start = (await lastDigestEnd(this.deps.db, route.id, 'scheduled')) ?? now - 86_400_000;
    return this.draw({ route, guildId, schedule: scheduleOf(route), kind: 'now', period: { start, end: now } });
  }

  private async draw({ route, guildId, schedule, kind, period, lateByMs = 0, periods = 1 }: DigestRequest) {
    const { events, unread } = await eventsOfPeriod(this.deps.db, route.id, period);
    const links = await cardLinks(
      this.deps.db,
      route.id,
      guildId,
      events.flatMap((e) => (e.cardKey ? [e.cardKey] : [])),
    );
    const embeds = buildDigest(
      {
        kind,
        schedule,
        period,
        routeName: route.name,
        cardLinks: links,
        lateByMs: lateByMs >= LATE_AFTER_MS ? lateByMs : 0,
        periods,
        unread,
      },
      events,
    );
    return Object.assign(embeds, { counted: events.length + unread });
  }

  private async make(request: DigestRequest): Promise<boolean> {
    const { route, kind, period, lateByMs = 0 } = request;
    const embeds = await this.draw(request);
    const made = await makeDigest(
      this.deps.db,
      { route, kind, period, events: embeds.counted, embeds, takesHeld: kind === 'quiet' },
      this.deps.clock.now(),
    );
    if (made) {
      this.deps.logger.info(
        { route_id: route.id, source_id: route.sourceId, kind, events: embeds.counted, messages: embeds.length, late_ms: lateByMs },
        'digest made',
      );
    }
    return made;
  }
}
