import {
  APP_ID,
  PERMISSIONS,
  channelPayload,
  everyoneRole,
  messageFrom,
  rolePayload,
  snowflake,
  type FakeDiscord,
  type FakeGuild,
} from './fake-discord.js';

/** Who is clicking: a member of a guild with some permissions. */
export interface Member {
  guild: FakeGuild;
  userId: string;
  permissions: bigint;
  /** Its roles besides @everyone (ids of the guild's roles). */
  roles?: string[];
  /** Its username (default user<last 4 digits of its id>). */
  username?: string;
}

/** A new member of the guild (the loopback Discord then knows them as one: GET /guilds/{id}/members/{user}). */
function joined(guild: FakeGuild, permissions: bigint): Member {
  const userId = snowflake();
  guild.members = [...(guild.members ?? []), userId];
  return { guild, userId, permissions };
}

export function admin(guild: FakeGuild): Member {
  return joined(guild, PERMISSIONS.ManageGuild | PERMISSIONS.ViewChannel | PERMISSIONS.SendMessages);
}

export function plainMember(guild: FakeGuild): Member {
  return joined(guild, PERMISSIONS.ViewChannel | PERMISSIONS.SendMessages);
}

type Option = { name: string; type: number; value?: string | number | boolean; focused?: boolean; options?: Option[] };

function base(type: number, member: Member, data: unknown, extra: Record<string, unknown> = {}) {
  const id = snowflake();
  const channel = member.guild.channels[0]!;
  return {
    id,
    application_id: APP_ID,
    type,
    token: `token-${id}`,
    version: 1,
    guild_id: member.guild.id,
    channel_id: channel.id,
    channel: channelPayload(channel, member.guild.id),
    guild: { id: member.guild.id, locale: 'en-US', features: [] },
    member: {
      user: {
        id: member.userId,
        username: member.username ?? `user${member.userId.slice(-4)}`,
        discriminator: '0',
        avatar: null,
        global_name: null,
      },
      roles: member.roles ?? [],
      permissions: member.permissions.toString(),
      joined_at: new Date().toISOString(),
      deaf: false,
      mute: false,
      flags: 0,
    },
    app_permissions: (PERMISSIONS.ViewChannel | PERMISSIONS.SendMessages | PERMISSIONS.EmbedLinks).toString(),
    locale: 'en-US',
    guild_locale: 'en-US',
    entitlements: [],
    authorizing_integration_owners: {},
    context: 0,
    attachment_size_limit: 8 * 1024 * 1024,
    data,
    ...extra,
  };
}

export type InteractionPayload = ReturnType<typeof base>;

/** `/dispatch <group> <sub> …options`; a channel or role option gets its resolved entry, as Discord sends it. */
export function slash(member: Member, sub: string, options: Option[] = [], group = 'source'): InteractionPayload {
  const channels: Record<string, unknown> = {};
  const roles: Record<string, unknown> = {};
  for (const option of options) {
    if (option.type === 7) {
      const found = member.guild.channels.find((c) => c.id === option.value);
      channels[String(option.value)] = found
        ? { ...channelPayload(found, member.guild.id), permissions: '0' }
        : { id: option.value, type: 0, name: 'gone', permissions: '0' };
    }
    if (option.type === 8) {
      const found = member.guild.roles?.find((r) => r.id === option.value);
      roles[String(option.value)] =
        option.value === member.guild.id
          ? everyoneRole(member.guild)
          : found
            ? rolePayload(found)
            : { id: option.value, name: 'gone', permissions: '0', position: 0 };
    }
  }
  const resolved = { ...(Object.keys(channels).length > 0 ? { channels } : {}), ...(Object.keys(roles).length > 0 ? { roles } : {}) };
  return base(2, member, {
    id: snowflake(),
    name: 'dispatch',
    type: 1,
    guild_id: member.guild.id,
    options: [{ name: group, type: 2, options: [{ name: sub, type: 1, options }] }],
    ...(Object.keys(resolved).length > 0 ? { resolved } : {}),
  });
}

/** `/dispatch <sub> …options`: a subcommand at the top of /dispatch (`/dispatch issue find:…`). */
export function topSlash(member: Member, sub: string, options: Option[] = []): InteractionPayload {
  return base(2, member, {
    id: snowflake(),
    name: 'dispatch',
    type: 1,
    guild_id: member.guild.id,
    options: [{ name: sub, type: 1, options }],
  });
}

/** A message command ("Show Sentry issue", from a message's Apps menu): Discord sends the target message with it. */
export function messageCommand(
  member: Member,
  name: string,
  message: { id: string; channel_id: string; content?: string; embeds?: unknown[]; components?: unknown[] },
): InteractionPayload {
  return base(2, member, {
    id: snowflake(),
    name,
    type: 3,
    guild_id: member.guild.id,
    target_id: message.id,
    resolved: { messages: { [message.id]: messageFrom(message.id, message.channel_id, message) } },
  });
}

/** Autocomplete of one option of a top-level subcommand (`/dispatch issue find:`). */
export function topAutocomplete(member: Member, sub: string, option: string, typed: string): InteractionPayload {
  return base(4, member, {
    id: snowflake(),
    name: 'dispatch',
    type: 1,
    options: [{ name: sub, type: 1, options: [{ name: option, type: 3, value: typed, focused: true }] }],
  });
}

export const str = (name: string, value: string): Option => ({ name, type: 3, value });
export const chan = (name: string, value: string): Option => ({ name, type: 7, value });
export const role = (name: string, value: string): Option => ({ name, type: 8, value });
export const bool = (name: string, value: boolean): Option => ({ name, type: 5, value });

export function autocomplete(member: Member, sub: string, typed: string, group = 'source'): InteractionPayload {
  return base(4, member, {
    id: snowflake(),
    name: 'dispatch',
    type: 1,
    options: [
      { name: group, type: 2, options: [{ name: sub, type: 1, options: [{ name: 'source', type: 3, value: typed, focused: true }] }] },
    ],
  });
}

export function modalSubmit(member: Member, customId: string, values: Record<string, string>): InteractionPayload {
  return base(5, member, {
    custom_id: customId,
    components: Object.entries(values).map(([id, value], i) => ({
      type: 18,
      id: i * 2 + 1,
      component: { type: 4, id: i * 2 + 2, custom_id: id, value },
    })),
  });
}

export function button(member: Member, customId: string): InteractionPayload {
  const channel = member.guild.channels[0]!;
  return base(
    3,
    member,
    { custom_id: customId, component_type: 2 },
    {
      message: messageFrom(snowflake(), channel.id, { flags: 64 }),
    },
  );
}

/**
 * A click on a button, or a choice in a menu, of a message the bot posted (a card): the message as
 * it is now comes with the interaction, as Discord sends it.
 */
export function componentClick(
  member: Member,
  message: { id: string; channel_id: string; components: any[]; embeds: unknown[]; content?: string; flags?: number },
  customId: string,
  values?: string[],
): InteractionPayload {
  const componentType = values ? 3 : 2;
  return base(
    3,
    member,
    { custom_id: customId, component_type: componentType, ...(values ? { values } : {}) },
    { message: messageFrom(message.id, message.channel_id, message), channel_id: message.channel_id },
  );
}

/** Sends an interaction through the gateway and resolves with the bot's first answer to it. */
export async function interact(discord: FakeDiscord, payload: InteractionPayload, kind?: 'callback' | 'edit' | 'followup') {
  discord.dispatch('INTERACTION_CREATE', payload);
  return discord.waitForResponse((r) => r.token === payload.token && (kind === undefined || r.kind === kind));
}

/** Callback types: a reply, and the two acknowledgements that come before the work (a deferred reply, a deferred update). */
export const CALLBACK = { reply: 4, deferredReply: 5, deferredUpdate: 6, update: 7, modal: 9 } as const;

/**
 * The bot's answer to an interaction: its reply or form, or, when it deferred (a reply, type 5, or
 * an update, type 6), the edit or follow-up that followed.
 */
export async function answerOf(discord: FakeDiscord, payload: InteractionPayload) {
  const first = await interact(discord, payload);
  if (first.kind !== 'callback' || (first.body?.type !== CALLBACK.deferredReply && first.body?.type !== CALLBACK.deferredUpdate))
    return first;
  return answerAfterAcknowledgement(discord, payload);
}

/** The edit or follow-up the bot sent after acknowledging an interaction already sent (with `interact`). */
export function answerAfterAcknowledgement(discord: FakeDiscord, payload: InteractionPayload) {
  return discord.waitForResponse((r) => r.token === payload.token && r.kind !== 'callback');
}

/** The message a callback, edit or follow-up shows. */
export function messageOf(response: { kind: string; body: any }): any {
  return response.kind === 'callback' ? response.body?.data : response.body;
}

/** The bot's first answer to an interaction (its callback: a reply, a form, or an acknowledgement), once it has come. */
export function callbackOf(discord: FakeDiscord, payload: InteractionPayload) {
  const callback = discord.interactionResponses.find((r) => r.token === payload.token && r.kind === 'callback');
  if (!callback) throw new Error(`no callback to interaction ${payload.id} yet`);
  return callback;
}

/** Whether the bot answered an interaction only to the member: its reply, or its deferred reply, is ephemeral. */
export function answeredEphemerally(discord: FakeDiscord, payload: InteractionPayload): boolean {
  return (Number(callbackOf(discord, payload).body?.data?.flags ?? 0) & 64) === 64;
}

/** The text a callback, edit or follow-up shows: its content and its embeds' text. */
export function shownText(response: { kind: string; body: any }): string {
  const message = messageOf(response);
  return [message?.content ?? '', ...(message?.embeds ?? []).map((e: unknown) => JSON.stringify(e))].join('\n');
}
