import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { SourceId } from '../ids.js';

/** The spool holds SPOOL_MAX_BYTES of bodies already: the webhook is refused (503), not acknowledged. */
export class SpoolFull extends Error {}

/** Another process has the spool file open: two replicas must not share one (each drains its own). */
export class SpoolInUse extends Error {}

/** A verified webhook, kept as Sentry sent it: routed only when it is drained. */
export interface SpoolEntry {
  receivedAt: number;
  sourceId: SourceId;
  /** How the drain finds the source and its routes again. */
  slug: string;
  eventType: string;
  body: Buffer;
}

export interface SpooledRow extends SpoolEntry {
  seq: number;
}

export interface SpoolBatch {
  rows: SpooledRow[];
  /**
   * Set when this batch was handed to Postgres before and not removed since (the replica was
   * killed in between, or Postgres went away mid-commit): it may be committed already. It is
   * drained again with this same time, so that Postgres's dedupe key finds what was committed.
   */
  drainAt: number | null;
}

/**
 * The spool's own schema: plain SQL, not a Drizzle migration (the file is this replica's, and
 * empties itself). `drain_at` marks the batch being handed to Postgres (see SpoolBatch).
 */
const SCHEMA = `
  create table if not exists spooled (
    seq integer primary key autoincrement,
    received_at integer not null,
    source_id integer not null,
    slug text not null,
    event_type text not null,
    body blob not null,
    body_hash text not null,
    drain_at integer
  );
  create index if not exists spooled_by_body on spooled (source_id, body_hash);
`;

const hashOf = (body: Buffer) => createHash('sha256').update(body).digest('hex');

type Row = { seq: number; received_at: number; source_id: number; slug: string; event_type: string; body: Buffer };
const toRow = (r: Row): SpooledRow => ({
  seq: r.seq,
  receivedAt: r.received_at,
  sourceId: r.source_id as SourceId,
  slug: r.slug,
  eventType: r.event_type,
  body: r.body,
});

/**
 * A replica's local SQLite file of webhooks acknowledged while Postgres was away. Every write is
 * synchronous (better-sqlite3) and durable as DATABASE_SYNCHRONOUS says before the caller goes on,
 * so a `202` answered after `append` survives a kill -9 (and with FULL, an OS crash).
 *
 * The file is locked for this process alone (SQLite's exclusive locking mode): a second replica
 * pointed at it fails to start instead of draining the same events.
 */
export class SpoolFile {
  private events: number;
  private bodyBytes: number;
  /** A webhook was refused for room since the spool last shrank. */
  private refusedForRoom = false;
  private readonly statements;

  private constructor(
    private readonly sqlite: BetterSqlite3.Database,
    readonly path: string,
    private readonly maxBytes: number,
  ) {
    this.statements = {
      earlier: sqlite.prepare<[number, string, number], { seq: number }>(
        'select seq from spooled where source_id = ? and body_hash = ? and received_at >= ? order by seq limit 1',
      ),
      insert: sqlite.prepare('insert into spooled (received_at, source_id, slug, event_type, body, body_hash) values (?, ?, ?, ?, ?, ?)'),
      inDoubt: sqlite.prepare<[], { at: number | null }>('select min(drain_at) as at from spooled where drain_at is not null'),
      drainingAt: sqlite.prepare<[number], Row>('select * from spooled where drain_at = ? order by seq'),
      sizes: sqlite.prepare<[number], { seq: number; size: number }>('select seq, length(body) as size from spooled order by seq limit ?'),
      upTo: sqlite.prepare<[number], Row>('select * from spooled where seq <= ? order by seq'),
      mark: sqlite.prepare('update spooled set drain_at = ? where seq = ?'),
      remove: sqlite.prepare<[number], { size: number }>('delete from spooled where seq = ? returning length(body) as size'),
      removeIdle: sqlite.prepare<[number], { size: number }>(
        'delete from spooled where seq = ? and drain_at is null returning length(body) as size',
      ),
      oldest: sqlite.prepare<[], { at: number | null }>('select min(received_at) as at from spooled'),
    };
    const held = sqlite.prepare('select count(*) as n, coalesce(sum(length(body)), 0) as bytes from spooled').get() as {
      n: number;
      bytes: number;
    };
    this.events = held.n;
    this.bodyBytes = held.bytes;
  }

  static open(path: string, options: { synchronous: 'FULL' | 'NORMAL'; maxBytes: number }): SpoolFile {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const sqlite = new BetterSqlite3(path);
    try {
      sqlite.pragma('busy_timeout = 0');
      sqlite.pragma('locking_mode = EXCLUSIVE');
      sqlite.pragma('journal_mode = WAL');
      sqlite.pragma(`synchronous = ${options.synchronous}`);
      // The first write takes the exclusive lock, held until the file is closed.
      sqlite.exec(`begin immediate; ${SCHEMA} commit;`);
    } catch (error) {
      sqlite.close();
      if ((error as { code?: string }).code === 'SQLITE_BUSY')
        throw new SpoolInUse(`the spool file ${path} is in use by another process: give each replica its own DATABASE_PATH`);
      throw error;
    }
    return new SpoolFile(sqlite, path, options.maxBytes);
  }

  /** Events in the spool. */
  get count(): number {
    return this.events;
  }

  get bytes(): number {
    return this.bodyBytes;
  }

  /** It refused a webhook for room, and nothing was drained since. */
  get full(): boolean {
    return this.refusedForRoom;
  }

  /**
   * Keeps an event; the same bytes for the same source kept since `dedupeSince` are the same event
   * (as on the normal path), kept once. Throws SpoolFull past the cap.
   */
  append(entry: SpoolEntry, dedupeSince: number): { seq: number; duplicate: boolean } {
    const [kept] = this.appendAll([{ entry, dedupeSince }]);
    if (kept instanceof SpoolFull) throw kept;
    return kept!;
  }

  /**
   * `append` for several events in one transaction (one sync to disk for them all): each kept,
   * found kept already, or refused for room (SpoolFull) on its own.
   */
  appendAll(entries: readonly { entry: SpoolEntry; dedupeSince: number }[]): ({ seq: number; duplicate: boolean } | SpoolFull)[] {
    return this.counted(() => entries.map(({ entry, dedupeSince }) => this.appendOne(entry, dedupeSince)));
  }

  /** `work` in one transaction; if it fails, the counts go back with the rows. */
  private counted<T>(work: () => T): T {
    const before = { events: this.events, bodyBytes: this.bodyBytes };
    try {
      return this.sqlite.transaction(work)();
    } catch (error) {
      Object.assign(this, before);
      throw error;
    }
  }

  private appendOne(entry: SpoolEntry, dedupeSince: number): { seq: number; duplicate: boolean } | SpoolFull {
    const hash = hashOf(entry.body);
    const earlier = this.statements.earlier.get(entry.sourceId, hash, dedupeSince);
    if (earlier) return { seq: earlier.seq, duplicate: true };
    if (this.bodyBytes + entry.body.length > this.maxBytes) {
      this.refusedForRoom = true;
      return new SpoolFull(`the spool holds ${this.bodyBytes} bytes of ${this.maxBytes}`);
    }
    const { lastInsertRowid } = this.statements.insert.run(entry.receivedAt, entry.sourceId, entry.slug, entry.eventType, entry.body, hash);
    this.events += 1;
    this.bodyBytes += entry.body.length;
    return { seq: Number(lastInsertRowid), duplicate: false };
  }

  /**
   * The next events to drain, oldest first: the batch left in doubt if there is one, else up to
   * `maxRows` events and `maxBytes` of bodies (always at least one). Undefined when empty.
   */
  nextBatch(maxRows: number, maxBytes: number): SpoolBatch | undefined {
    const doubt = this.statements.inDoubt.get()!;
    if (doubt.at !== null) return { rows: this.statements.drainingAt.all(doubt.at).map(toRow), drainAt: doubt.at };
    const sizes = this.statements.sizes.all(maxRows);
    if (sizes.length === 0) return undefined;
    let total = 0;
    let last = sizes[0]!.seq;
    for (const { seq, size } of sizes) {
      if (total > 0 && total + size > maxBytes) break;
      total += size;
      last = seq;
    }
    return { rows: this.statements.upTo.all(last).map(toRow), drainAt: null };
  }

  /** The batch is about to be handed to Postgres at `at`: until it is removed, it is in doubt. */
  markDraining(seqs: readonly number[], at: number): void {
    this.sqlite.transaction(() => {
      for (const seq of seqs) this.statements.mark.run(at, seq);
    })();
  }

  /** Removes events Postgres has (or that are dropped). */
  remove(seqs: readonly number[]): void {
    this.counted(() => {
      for (const seq of seqs) this.removed(this.statements.remove.get(seq));
    });
  }

  /** Removes one event unless a drain has it in hand: its write reached Postgres after all, late. */
  removeUnlessDraining(seq: number): void {
    this.removed(this.statements.removeIdle.get(seq));
  }

  private removed(row: { size: number } | undefined): void {
    if (!row) return;
    this.events -= 1;
    this.bodyBytes -= row.size;
    this.refusedForRoom = false;
  }

  /** When the oldest event in the spool arrived. */
  oldestReceivedAt(): number | undefined {
    return this.statements.oldest.get()!.at ?? undefined;
  }

  close(): void {
    if (this.sqlite.open) this.sqlite.close();
  }
}
