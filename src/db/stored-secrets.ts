import { sql, type SQL } from 'drizzle-orm';
import type { Database } from './database.js';
import { targetsChanged } from './target-cache.js';

/** The columns that hold secrets: signing secrets, Sentry API tokens and members' own Sentry tokens, sealed alike. */
export type SecretColumn = 'signing_secret' | 'sentry_token' | 'member_token';

/** Every stored secret, for sealing them at start-up. */
export async function storedSecrets(db: Database): Promise<{ id: number; column: SecretColumn; secret: string }[]> {
  return db.all<{ id: number; column: SecretColumn; secret: string }>(sql`
    select id, 'signing_secret' as "column", signing_secret as secret from sources where signing_secret is not null
    union all
    select id, 'sentry_token' as "column", sentry_token as secret from sources where sentry_token is not null
    union all
    select id, 'member_token' as "column", token as secret from member_links where token is not null`);
}

const SECRET_UPDATES: Record<SecretColumn, (id: number, sealed: string) => SQL> = {
  signing_secret: (id, sealed) => sql`update sources set signing_secret = ${sealed} where id = ${id}`,
  sentry_token: (id, sealed) => sql`update sources set sentry_token = ${sealed} where id = ${id}`,
  member_token: (id, sealed) => sql`update member_links set token = ${sealed} where id = ${id}`,
};

export async function replaceStoredSecret(db: Database, id: number, column: SecretColumn, sealed: string): Promise<void> {
  targetsChanged();
  await db.run(SECRET_UPDATES[column](id, sealed));
}
