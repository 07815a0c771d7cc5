import { BOT_PERMISSIONS } from './channel-check.js';

/**
 * The link that adds the bot to a server with what it needs and nothing else: the `bot` scope
 * with the permissions of BOT_PERMISSIONS, and `applications.commands` for /dispatch. With a
 * server id, Discord offers that server first. Opening it again on a server the bot is in grants
 * what it lacks.
 */
export function inviteUrl(applicationId: string, guildId?: string): string {
  const permissions = BOT_PERMISSIONS.reduce((bits, permission) => bits | permission.bit, 0n);
  const query = new URLSearchParams({ client_id: applicationId, scope: 'bot applications.commands', permissions: String(permissions) });
  if (guildId) query.set('guild_id', guildId);
  return `https://discord.com/oauth2/authorize?${query}`;
}

/** The permissions the invite asks for, grouped by what needs them, for a person reading it. */
export function describeInvitePermissions(): string {
  const byNeed = new Map<string, string[]>();
  for (const { name, neededFor } of BOT_PERMISSIONS) byNeed.set(neededFor, [...(byNeed.get(neededFor) ?? []), name]);
  return [...byNeed].map(([need, names]) => `${names.join(', ')} (${need})`).join('; ');
}
