import { PermissionFlagsBits, Routes, type ChannelType, type REST } from 'discord.js';
import { asChannelId, asRoleId, type ChannelId, type GuildId, type RoleId } from '../ids.js';

/**
 * What Dispatch reads of a Discord server over REST, for requests any replica may answer (only the
 * leader holds the gateway and its cache): the server's roles, its channels, and what the bot may
 * do in one of them. Answers are kept briefly, so that Sentry opening an alert rule form (a request
 * per select) costs Discord a few requests at most.
 */
export interface ServerRole {
  id: RoleId;
  name: string;
  mentionable: boolean;
  /** Managed by an integration (a bot's own role): never offered for pings. */
  managed: boolean;
  position: number;
  permissions: bigint;
}

/** @everyone: the role whose id is the server's. */
export const isEveryone = (role: Pick<ServerRole, 'id'>, guildId: GuildId): boolean => (role.id as string) === guildId;

export interface ServerChannel {
  id: ChannelId;
  name: string;
  type: ChannelType;
  overwrites: { id: string; type: number; allow: bigint; deny: bigint }[];
}

export interface GuildView {
  roles(guildId: GuildId): Promise<ServerRole[]>;
  channels(guildId: GuildId): Promise<ServerChannel[]>;
  /** The bot's permission bits in a channel of the server, as Discord computes them. */
  botPermissions(guildId: GuildId, channel: ServerChannel): Promise<bigint>;
}

/** How long an answer is kept: a role made mentionable shows in Sentry's form this much later at most. */
export const GUILD_VIEW_TTL_MS = 10_000;
const MAX_ENTRIES = 500;

/** Keeps each answer `ttlMs`; requests for the same key meanwhile share one call. A failure is not kept. */
function briefly(ttlMs: number, now: () => number) {
  const entries = new Map<string, { at: number; value: Promise<unknown> }>();
  return <T>(key: string, load: () => Promise<T>): Promise<T> => {
    const hit = entries.get(key);
    if (hit && now() - hit.at < ttlMs) return hit.value as Promise<T>;
    if (entries.size >= MAX_ENTRIES) entries.clear();
    const value = load();
    entries.set(key, { at: now(), value });
    value.catch(() => entries.get(key)?.value === value && entries.delete(key));
    return value;
  };
}

type RawRole = { id: string; name: string; mentionable?: boolean; managed?: boolean; position?: number; permissions: string };
type RawChannel = {
  id: string;
  name?: string;
  type: number;
  permission_overwrites?: { id: string; type: number; allow: string; deny: string }[];
};

const ALL = (1n << 64n) - 1n;

/**
 * Discord's permission computation (discord.com/developers/docs/topics/permissions): @everyone's
 * and the member's roles' permissions, then the channel's overwrites for @everyone, for the
 * member's roles together, and for the member. Administrator has everything.
 */
export function permissionsIn(
  guildId: GuildId,
  roles: readonly { id: string; permissions: bigint }[],
  memberId: string,
  memberRoleIds: readonly string[],
  channel: Pick<ServerChannel, 'overwrites'>,
): bigint {
  const mine = new Set(memberRoleIds);
  let bits = 0n;
  for (const role of roles) if (role.id === guildId || mine.has(role.id)) bits |= role.permissions;
  if (bits & PermissionFlagsBits.Administrator) return ALL;
  const apply = (overwrite: { allow: bigint; deny: bigint } | undefined) => {
    if (overwrite) bits = (bits & ~overwrite.deny) | overwrite.allow;
  };
  apply(channel.overwrites.find((o) => o.id === guildId));
  const forRoles = channel.overwrites.filter((o) => o.type === 0 && o.id !== guildId && mine.has(o.id));
  apply({ allow: forRoles.reduce((n, o) => n | o.allow, 0n), deny: forRoles.reduce((n, o) => n | o.deny, 0n) });
  apply(channel.overwrites.find((o) => o.type === 1 && o.id === memberId));
  return bits;
}

export function restGuildView(rest: REST, options: { ttlMs?: number; now?: () => number } = {}): GuildView {
  const cached = briefly(options.ttlMs ?? GUILD_VIEW_TTL_MS, options.now ?? Date.now);
  let botId: Promise<string> | undefined;
  const me = () => {
    botId ??= (rest.get(Routes.user()) as Promise<{ id: string }>).then((user) => user.id);
    return botId.catch((error: unknown) => {
      botId = undefined;
      throw error;
    });
  };
  const roles = (guildId: GuildId) =>
    cached(`roles:${guildId}`, async () =>
      ((await rest.get(Routes.guildRoles(guildId))) as RawRole[]).map(
        (r): ServerRole => ({
          id: asRoleId(r.id),
          name: r.name,
          mentionable: r.mentionable ?? false,
          managed: r.managed ?? false,
          position: r.position ?? 0,
          permissions: BigInt(r.permissions),
        }),
      ),
    );
  return {
    roles,
    channels: (guildId) =>
      cached(`channels:${guildId}`, async () =>
        ((await rest.get(Routes.guildChannels(guildId))) as RawChannel[]).map(
          (c): ServerChannel => ({
            id: asChannelId(c.id),
            name: c.name ?? '',
            type: c.type,
            overwrites: (c.permission_overwrites ?? []).map((o) => ({
              id: o.id,
              type: o.type,
              allow: BigInt(o.allow),
              deny: BigInt(o.deny),
            })),
          }),
        ),
      ),
    async botPermissions(guildId, channel) {
      const id = await me();
      const member = await cached(`member:${guildId}`, () => rest.get(Routes.guildMember(guildId, id)) as Promise<{ roles: string[] }>);
      return permissionsIn(guildId, await roles(guildId), id, member.roles, channel);
    },
  };
}
