import { sql } from 'drizzle-orm';
import type { Database } from './database.js';
import type { RoleId, SourceId } from '../ids.js';

/** The settings check accepted this role for alerts of the source (saving it again renews when). */
export async function acceptAlertPingRole(db: Database, sourceId: SourceId, roleId: RoleId, now: number): Promise<void> {
  await db.run(sql`
    insert into alert_ping_roles (source_id, role_id, accepted_at) values (${sourceId}, ${roleId}, ${now})
    on conflict (source_id, role_id) do update set accepted_at = excluded.accepted_at`);
}

/**
 * Whether the settings check accepted this role for the source's alerts: only such a role is pinged
 * by them. Only while the source has a signing secret: without one, anyone who has the webhook URL
 * can send an alert naming the role (a secret cleared after the check, or a role accepted before
 * the check required a signature).
 */
export async function alertPingRoleAccepted(db: Database, sourceId: SourceId, roleId: RoleId): Promise<boolean> {
  const row = await db.get(sql`
    select 1 as accepted from alert_ping_roles join sources on sources.id = alert_ping_roles.source_id
    where alert_ping_roles.source_id = ${sourceId} and alert_ping_roles.role_id = ${roleId} and sources.signing_secret is not null`);
  return row !== undefined;
}
