import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { openSqlite } from '../../src/db/sqlite.js';
import type { Database } from '../../src/db/database.js';
import { acceptEvents } from '../../src/db/events.js';
import { isOwnEventSql } from '../../src/own-events.js';
import { inSteps } from '../../src/db/deliveries.js';
import { releaseQuiet } from '../../src/db/delivery-state/index.js';
import { createSource } from '../../src/db/sources.js';
import { findRoute, updateRoute } from '../../src/db/routes.js';
import type { Route } from '../../src/db/schema.js';
import { DigestScheduler } from '../../src/schedule/digest-scheduler.js';
import { cardKeyOf } from '../../src/cards/state.js';
import { eventFacts } from '../../src/sentry/facts.js';
import { createLogger } from '../../src/logger.js';
import { asChannelId, asGuildId, type CardKey } from '../../src/ids.js';
import type { Clock } from '../../src/delivery/clock.js';
import { payloadOf, type EventKind, type Marks } from '../simulation/payloads.js';
import { DIGEST_EVENT_TYPE } from '../../src/schedule/digest-formatter.js';

/** A SQLite database with one source (route `main`), a clock the test moves, and the digest scheduler on it. */
export async function scheduleWorld(layout: 'feed' | 'card' = 'feed') {
  const dir = mkdtempSync(join(tmpdir(), 'dispatch-schedule-'));
  const db: Database = openSqlite(join(dir, 'd.db'));
  let t = 0;
  const clock: Clock = { now: () => t, after: () => ({ cancel() {} }) };
  const setClock = (iso: string) => void (t = Date.parse(iso));
  setClock('2026-01-10T12:00:00Z');
  const { source, route } = await createSource(
    db,
    {
      guildId: asGuildId('100000000000000001'),
      channelId: asChannelId('200000000000000001'),
      layout,
      name: 'web',
      signingSecret: null,
      createdBy: '1',
    },
    t,
  );
  const scheduler = new DigestScheduler({ db, logger: createLogger({ level: 'silent', pretty: false }), clock, wake: () => {} });
  const current = async (): Promise<Route> => (await findRoute(db, source.id, route.name))!;
  /** Changes the route, then lets the worker's housekeeping step run (quiet hours turned off let go of what they held). */
  const edit = async (changes: Parameters<typeof updateRoute>[2]) => {
    const updated = await updateRoute(db, await current(), changes, t);
    await inSteps(() => releaseQuiet(db, t));
    return updated;
  };
  let n = 0;
  /** Stores an event as the webhook would (quiet treatment on the route as it is now). */
  const send = async (kind: EventKind, issue: string, level: Marks['level'] = 'error', edit?: (payload: any) => void) => {
    const marks: Marks = { event: `EV${++n}X`, issue: `ISS-${issue}`, issueId: `9${issue.replace(/\D/g, '')}00${issue.length}`, level };
    const payload = payloadOf(kind, marks) as Record<string, unknown>;
    edit?.(payload);
    const text = JSON.stringify(payload);
    const r = await current();
    const facts = eventFacts(kind, payload);
    const cardKey = cardKeyOf(facts) as CardKey | undefined;
    const [res] = await acceptEvents(
      db,
      [
        {
          sourceId: source.id,
          eventType: kind,
          level: facts.level,
          body: Buffer.from(text),
          text,
          routes: [{ id: r.id }],
          filteredBy: [],
          ...(cardKey ? { cardKey } : {}),
        },
      ],
      t,
      0,
    );
    if (!res!.ok) throw res!.error;
    return marks.event;
  };
  const statuses = async () =>
    (
      await db.all<{ status: string; n: number }>(sql`select d.status, count(*) as n from deliveries d join events e on e.seq = d.event_seq
      where not ${isOwnEventSql(sql`e.event_type`)} group by d.status order by d.status`)
    ).map((r) => `${r.status}:${Number(r.n)}`);
  const digests = async () =>
    (
      await db.all<{ kind: string; period_start: number; period_end: number; events: number; event_id: string | null }>(
        sql`select kind, period_start, period_end, events, event_id from digests order by id`,
      )
    ).map((d) => ({ ...d, period_start: Number(d.period_start), period_end: Number(d.period_end), events: Number(d.events) }));
  const digestBodies = async () =>
    (await db.all<{ body: string }>(sql`select body from events where event_type = ${DIGEST_EVENT_TYPE} order by seq`)).map(
      (r) => JSON.parse(r.body) as { data: { title: string; description: string } },
    );
  return {
    db,
    source,
    clock,
    setClock,
    now: () => t,
    scheduler,
    current,
    edit,
    send,
    statuses,
    digests,
    digestBodies,
    close: async () => {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
