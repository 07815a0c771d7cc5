import { sql } from 'drizzle-orm';
import type { Database } from './database.js';
import type { RoleId, SourceId } from '../ids.js';

/** The settings check accepted this role for alerts of the source (saving it again renews when). */
export async function acceptAlertPingRole(db: Database, sourceId: SourceId, roleId: RoleId, now: number): Promise<void> {
  await db.run(sql`
    insert into alert_ping_roles (source_id, role_id, accepted_at) values (${sourceId}, ${roleId}, ${now})
    on conflict (source_id, role_id) do update set accepted_at = excluded.accepted_at`);
}

/** Whether the settings check accepted this role for the source's alerts: only such a role is pinged by them. */
export async function alertPingRoleAccepted(db: Database, sourceId: SourceId, roleId: RoleId): Promise<boolean> {
  const row = await db.get(sql`select 1 as accepted from alert_ping_roles where source_id = ${sourceId} and role_id = ${roleId}`);
  return row !== undefined;
}
