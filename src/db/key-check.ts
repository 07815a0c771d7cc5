import { createHmac } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Database } from './database.js';

/**
 * Which key a database's secrets are sealed with, kept in the database: an HMAC of a fixed text
 * with the key, which shows whether two processes hold the same key and reveals nothing of it.
 * Recorded by the first start; every later start, of any replica, must hold that key (or, while
 * keys are rotated, have it as the previous key, and then the check follows the new key). Without
 * it, replicas that each made their own key file all start healthy on an empty database, and the
 * first secret sealed by one is answered 500 by the others.
 */

const NAME = 'key_check';
const CHECKED_TEXT = 'dispatch: the key that seals signing secrets and Sentry tokens';

export function keyCheckOf(key: Buffer): string {
  return `v1:${createHmac('sha256', key).update(CHECKED_TEXT).digest('hex')}`;
}

/** `another key`: the database's secrets are sealed with a key this process does not hold. */
export type KeyCheckOutcome = 'recorded' | 'same' | 'rotated' | 'another key';

/**
 * Compares the key with the database's check, recording it on first start and moving it to
 * `key` when the stored one is of a previous key. Meant to run in the transaction that seals the
 * stored secrets with `key`, so that the check and the secrets always name the same key.
 */
export async function adoptKeyCheck(tx: Database, key: Buffer, previous: readonly Buffer[], now: number): Promise<KeyCheckOutcome> {
  const check = keyCheckOf(key);
  const recorded = await tx.all(sql`
    insert into settings (name, value, updated_at) values (${NAME}, ${check}, ${now})
    on conflict (name) do nothing returning name`);
  if (recorded.length > 0) return 'recorded';
  const stored = (await tx.get<{ value: string }>(sql`select value from settings where name = ${NAME}`))?.value;
  if (stored === check) return 'same';
  if (stored === undefined || !previous.some((old) => keyCheckOf(old) === stored)) return 'another key';
  await tx.run(sql`update settings set value = ${check}, updated_at = ${now} where name = ${NAME} and value = ${stored}`);
  return 'rotated';
}
