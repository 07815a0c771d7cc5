import { sql, type SQL } from 'drizzle-orm';
import type { Database } from './database.js';
import { applyEvent, type CardState } from '../cards/state.js';
import type { DeliverySeq, DigestId, EventSeq, RouteId } from '../ids.js';
import type { Period } from '../schedule/route-schedule.js';
import { alertRuleOf, DigestTally, factsOf, issuesToRead, type DigestFacts } from '../schedule/digest-facts.js';
import { parsePayload } from '../sentry/payload.js';
import { isOwnEventSql } from '../own-events.js';

/**
 * Reads what a digest shows, bounded whatever the period holds: every delivery of the period is
 * tallied a page at a time from metadata (type and issue; no body), then a bounded number of bodies
 * are read — the latest few of the issues it will show, one per alert it names — each at most
 * `BODY_MAX_BYTES`, all of them within `BODIES_BUDGET_BYTES`.
 */

/** A route's deliveries numbered in `[fromSeq, toSeq)`: those of a period (see `seqRangeOf`). */
export interface SeqRange {
  routeId: RouteId;
  fromSeq: number;
  toSeq: number;
}

/**
 * Which deliveries a digest covers: those a quiet-hours digest took (`digestId`), and a route's
 * in a period (`range`; a quiet digest's range leaves out what quiet hours held, counted by
 * `digestId`, so nothing is counted twice). A quiet digest has both (what it took, and what went
 * out as usual in the night: events that passed, a card route's muted ones); a left-over one only
 * what it took; a scheduled one only its period.
 */
export interface DigestScope {
  digestId?: DigestId;
  range?: SeqRange;
}

/** Deliveries tallied per statement (one page, a few milliseconds). */
const PAGE = 2000;
/** A body read for a digest is at most this big (a larger one is counted, not read). */
const BODY_MAX_BYTES = 1024 * 1024;
/** All the bodies one digest reads, at most. */
const BODIES_BUDGET_BYTES = 8 * 1024 * 1024;
/** The latest events of each issue shown that are folded into its state (its title, status and assignee are in the latest). */
const EVENTS_PER_ISSUE = 5;

const ALL_STATUSES = sql`('pending', 'sending', 'quiet', 'delivered', 'collapsed', 'digested', 'failed')`;
const NOT_DIGESTED = sql`('pending', 'sending', 'quiet', 'delivered', 'collapsed', 'failed')`;

/**
 * The delivery numbers a route's period spans: from the first delivery of the first event received
 * at or after its start, to that of the first received at or after its end. Events and deliveries
 * are numbered as they arrive, so the period is a range of numbers found through two index seeks,
 * and no event row is read to learn when it arrived.
 */
export async function seqRangeOf(db: Database, period: Period): Promise<{ fromSeq: number; toSeq: number }> {
  const first = (at: number) =>
    db.get<{ seq: number }>(sql`
      select d.seq from deliveries d where d.event_seq >= coalesce(
        (select seq from events where received_at >= ${at} order by received_at, seq limit 1),
        (select coalesce(max(seq), 0) + 1 from events))
      order by d.event_seq, d.seq limit 1`);
  const end = async (at: number) =>
    Number((await first(at))?.seq ?? (await db.get<{ n: number }>(sql`select coalesce(max(seq), 0) + 1 as n from deliveries`))!.n);
  return { fromSeq: await end(period.start), toSeq: await end(period.end) };
}

/** The number of the first event received at or after `at` (one past the last stored when there is none): events before it arrived before `at`. */
export async function firstEventSeqAt(db: Database, at: number): Promise<EventSeq> {
  const row = await db.get<{ seq: number }>(sql`
    select coalesce((select seq from events where received_at >= ${at} order by received_at, seq limit 1),
      (select coalesce(max(seq), 0) + 1 from events)) as seq`);
  return Number(row!.seq) as EventSeq;
}

const COLUMNS = sql`select d.seq, d.card_key, e.event_type from deliveries d join events e on e.seq = d.event_seq`;
type PageRow = { seq: number; card_key: string | null; event_type: string };

/** Tallies every delivery of the scope, a page at a time, giving way to the event loop between pages. */
async function tallyOf(db: Database, scope: DigestScope): Promise<DigestTally> {
  const tally = new DigestTally();
  const add = (rows: PageRow[]) =>
    rows.forEach((row) => tally.add({ seq: Number(row.seq), eventType: row.event_type, cardKey: row.card_key }));
  const yieldNow = () => new Promise((resolve) => setImmediate(resolve));
  // What the digest took, through its own index.
  for (let after = 0; scope.digestId !== undefined; ) {
    const rows = await db.all<PageRow>(
      sql`${COLUMNS} where d.digest_id = ${scope.digestId} and d.seq > ${after} order by d.seq limit ${PAGE}`,
    );
    add(rows);
    if (rows.length < PAGE) break;
    after = Number(rows[rows.length - 1]!.seq);
    await yieldNow();
  }
  // The period, a window of numbers at a time on the queue's index (every status of the route).
  const range = scope.range;
  if (!range) return tally;
  const statuses = scope.digestId === undefined ? ALL_STATUSES : NOT_DIGESTED;
  for (let from = range.fromSeq; from < range.toSeq; from += PAGE) {
    add(
      await db.all<PageRow>(sql`${COLUMNS} where d.status in ${statuses} and d.route_id = ${range.routeId}
        and d.seq >= ${from} and d.seq < ${Math.min(from + PAGE, range.toSeq)}`),
    );
    await yieldNow();
  }
  return tally;
}

/** A budget of bytes that bodies are read against. */
class Budget {
  constructor(private left: number) {}
  /** Of these deliveries (seq and body size), the ones to read: each within BODY_MAX_BYTES, together within what is left. */
  take(rows: readonly { seq: number; bytes: number }[]): number[] {
    const taken: number[] = [];
    for (const row of rows) {
      const bytes = Number(row.bytes);
      if (bytes > BODY_MAX_BYTES || bytes > this.left) continue;
      this.left -= bytes;
      taken.push(Number(row.seq));
    }
    return taken;
  }
}

async function bodies(
  db: Database,
  seqs: readonly number[],
): Promise<{ seq: number; event_type: string; body: string; received_at: number }[]> {
  if (seqs.length === 0) return [];
  return db.all(sql`
    select d.seq, e.event_type, e.body, e.received_at from deliveries d join events e on e.seq = d.event_seq
    where d.seq in ${seqs} order by d.seq`);
}

const payloadOf = (body: string): unknown => {
  try {
    return parsePayload(body);
  } catch {
    return undefined;
  }
};

/** An issue's latest deliveries in the scope, newest first, with their body sizes (read from the rows' headers). */
function latestOfIssue(scope: DigestScope, key: string): SQL {
  const parts: SQL[] = [];
  if (scope.digestId !== undefined) parts.push(sql`d.digest_id = ${scope.digestId}`);
  if (scope.range)
    parts.push(sql`(d.route_id = ${scope.range.routeId} and d.seq >= ${scope.range.fromSeq} and d.seq < ${scope.range.toSeq})`);
  return sql`select d.seq, octet_length(e.body) as bytes from deliveries d join events e on e.seq = d.event_seq
    where d.card_key = ${key} and (${sql.join(parts, sql` or `)}) and not ${isOwnEventSql(sql`e.event_type`)} order by d.seq desc limit ${EVENTS_PER_ISSUE}`;
}

/** What a digest of this scope shows: tallied in full, with the states of the issues it may show and the names of the alerts' rules. */
export async function readDigestFacts(db: Database, scope: DigestScope): Promise<DigestFacts> {
  const tally = await tallyOf(db, scope);
  const budget = new Budget(BODIES_BUDGET_BYTES);
  const states = new Map<string, CardState>();
  for (const issue of issuesToRead(tally)) {
    const rows = await bodies(db, budget.take(await db.all(latestOfIssue(scope, issue.key))));
    let state: CardState | undefined;
    for (const row of rows)
      state = applyEvent(state, { type: row.event_type, payload: payloadOf(row.body), key: issue.key, at: Number(row.received_at) }).state;
    if (state) states.set(issue.key, state);
    await new Promise((resolve) => setImmediate(resolve));
  }
  const rules = new Map<string, string>();
  const alerts = [...tally.alerts].sort((a, b) => b[1].count - a[1].count).slice(0, 50);
  const sized = await sizesOf(
    db,
    alerts.map(([, alert]) => alert.latest as DeliverySeq),
  );
  const readable = new Set(budget.take(sized));
  for (const row of await bodies(db, [...readable])) {
    const entry = alerts.find(([, alert]) => alert.latest === Number(row.seq));
    if (entry) rules.set(entry[0], alertRuleOf(row.event_type, payloadOf(row.body), entry[1].cardKey));
  }
  return factsOf(tally, states, rules);
}

async function sizesOf(db: Database, seqs: readonly DeliverySeq[]): Promise<{ seq: number; bytes: number }[]> {
  if (seqs.length === 0) return [];
  return db.all(
    sql`select d.seq, octet_length(e.body) as bytes from deliveries d join events e on e.seq = d.event_seq where d.seq in ${seqs}`,
  );
}
