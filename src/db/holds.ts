import { sql } from 'drizzle-orm';
import { fromRow, type Database } from './database.js';
import { holds, type Hold } from './schema.js';
import type { ChannelId, GuildId } from '../ids.js';

const toHold = (row: Record<string, unknown>): Hold => fromRow(holds, row);

/** Puts a channel on hold, or renews its hold (keeping when it began) with the next probe time. */
export async function holdChannel(
  db: Database,
  hold: { channelId: ChannelId; guildId: GuildId; code: number; reason: string },
  now: number,
  nextProbeAt: number,
): Promise<void> {
  await db.run(sql`
    insert into holds (channel_id, guild_id, code, reason, since, next_probe_at)
    values (${hold.channelId}, ${hold.guildId}, ${hold.code}, ${hold.reason}, ${now}, ${nextProbeAt})
    on conflict (channel_id) do update set code = excluded.code, reason = excluded.reason, next_probe_at = excluded.next_probe_at`);
}

export async function liftHold(db: Database, channelId: ChannelId): Promise<boolean> {
  return (await db.run(sql`delete from holds where channel_id = ${channelId}`)) > 0;
}

/** Holds whose next probe is due. */
export async function holdsDue(db: Database, now: number): Promise<Hold[]> {
  return (await db.all(sql`select * from holds where next_probe_at <= ${now} order by next_probe_at`)).map(toHold);
}

/**
 * When the next hold probe falls due after `now`, if any channel is held. Not one already due: the
 * pass that read `holdsDue` probed it, or skipped it for a send in flight (to it, or while Discord
 * fails) whose end looks again; waking for it now would spin until that send ends.
 */
export async function nextHoldProbe(db: Database, now: number): Promise<number | undefined> {
  const row = await db.get<{ at: number | null }>(sql`select min(next_probe_at) as at from holds where next_probe_at > ${now}`);
  return row?.at === null || row?.at === undefined ? undefined : Number(row.at);
}

/** Something in the server changed that may have fixed its holds: probe them at `at` (if sooner). */
export async function probeHoldsOfGuild(db: Database, guildId: GuildId, at: number): Promise<number> {
  return db.run(sql`update holds set next_probe_at = ${at} where guild_id = ${guildId} and next_probe_at > ${at}`);
}

export async function holdOf(db: Database, channelId: ChannelId): Promise<Hold | undefined> {
  const row = await db.get(sql`select * from holds where channel_id = ${channelId}`);
  return row ? toHold(row) : undefined;
}

export async function countHolds(db: Database): Promise<number> {
  return Number((await db.get<{ n: number }>(sql`select count(*) as n from holds`))!.n);
}

/** A probe failed for another reason (Discord is down): look again at `at`. */
export async function deferProbe(db: Database, channelId: ChannelId, at: number): Promise<void> {
  await db.run(sql`update holds set next_probe_at = ${at} where channel_id = ${channelId}`);
}

export async function holdsOfChannels(db: Database, channelIds: readonly ChannelId[]): Promise<Map<string, Hold>> {
  if (channelIds.length === 0) return new Map();
  const rows = (await db.all(sql`select * from holds where channel_id in ${channelIds}`)).map(toHold);
  return new Map(rows.map((h) => [h.channelId, h]));
}
