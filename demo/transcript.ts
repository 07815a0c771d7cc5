import { ChannelType, Client, MessageFlags, type Message, type TextChannel, type ThreadChannel } from 'discord.js';
import { ExportReturnType, generateFromMessages } from 'discord-html-transcripts';
import { messageFrom } from '../test/support/fake-discord.js';

/**
 * Messages drawn as Discord draws them, by discord-html-transcripts (which renders discord.js
 * Message objects with the discord-components web components, rendered to static HTML on the
 * server: the page needs no script and no network).
 *
 * Why this library: it takes discord.js messages as they are (embeds with colors, fields, footers
 * and timestamps, buttons, select menus, Discord's markdown and `<t:…>` times, thread previews),
 * while @derockdev/discord-components-core, which it is built on, is only the web components: a
 * message, an embed or a button is an element to fill in, and the markdown inside embeds (escaped
 * payload text, code spans, links, time tags) would be ours to parse. Three workarounds: 3.3.0
 * requires `debug` without declaring it, and declares React 19 while its components package asks
 * npm for React 18 (two Reacts fail to render), so package.json adds `debug` and pins React with
 * an override; it draws an embed's title as written, not as markdown (see `titleAsShown`).
 */

/** A message as the loopback Discord holds it: Discord's JSON shapes. */
export interface MessageView {
  id: string;
  /** When it was posted (or, for a state of a card, when it took that state). */
  at: number;
  editedAt?: number;
  content?: string;
  embeds: Record<string, unknown>[];
  components: unknown[];
  /** Only the clicker sees it (an ephemeral answer). */
  ephemeral?: boolean;
  /** The thread started on it, if any: its name and how many messages it holds. */
  thread?: { id: string; name: string; messageCount: number; lastMessage?: MessageView };
}

export interface ChannelView {
  id: string;
  name: string;
  /** The server, with its channels and threads by name, so that `<#id>` in a message reads `#name`. */
  guild: { id: string; name: string; channels: { id: string; name: string }[] };
  /** Set for a thread: the channel it was started in. */
  parent?: { id: string; name: string };
  messages: MessageView[];
}

/**
 * A rendered transcript: the stylesheets of the components it uses (by name: the same component has
 * the same stylesheet in every transcript), its markup, and each message's element id by MessageView id.
 */
export interface Transcript {
  styles: Map<string, string>;
  body: string;
  elementIds: Map<string, string>;
}

const BOT = { id: '900000000000000001', username: 'Dispatch', discriminator: '0', bot: true, avatar: null, global_name: 'Dispatch' };
const DISCORD_EPOCH = 1_420_070_400_000n;

/** A snowflake for a time: discord.js reads a message's time from its id, as Discord does. */
function snowflakeAt(at: number, sequence: number): string {
  return String(((BigInt(Math.round(at)) - DISCORD_EPOCH) << 22n) | BigInt(sequence & 0xfff));
}

/** The bot's avatar, drawn here: Discord's default avatars live on its CDN, which this page never calls. */
const AVATAR = `data:image/svg+xml,${encodeURIComponent(
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><circle cx="32" cy="32" r="32" fill="#5865f2"/><path d="M20 18h14a14 14 0 0 1 0 28H20z" fill="none" stroke="#fff" stroke-width="6"/><circle cx="44" cy="20" r="6" fill="#f04747"/></svg>',
)}`;

/**
 * An embed's title is markdown in Discord (payload text in it is escaped, and Discord hides the
 * backslashes); the library draws a title as it is written, so it gets the title as Discord shows it.
 */
function titleAsShown(embed: Record<string, unknown>): Record<string, unknown> {
  return typeof embed.title === 'string' ? { ...embed, title: embed.title.replace(/\\([!-/:-@[-`{-~])/g, '$1') } : embed;
}

type Adder<T> = { _add(data: unknown): T };
type GuildCache = { _add(data: unknown): { channels: { cache: Map<string, unknown> } } };

/** discord.js objects for one channel (or thread) and its messages, built from Discord's JSON without a connection. */
function discordMessages(view: ChannelView): {
  channel: TextChannel | ThreadChannel;
  messages: Message[];
  ids: Map<string, string>;
  client: Client;
} {
  const client = new Client({ intents: [] });
  let sequence = 0;
  const ids = new Map<string, string>();
  const idOf = (message: MessageView) => {
    if (!ids.has(message.id)) ids.set(message.id, snowflakeAt(message.at, (sequence += 1)));
    return ids.get(message.id)!;
  };
  const parent = view.parent ?? { id: view.id, name: view.name };
  const threads = view.parent
    ? [{ id: view.id, name: view.name, parent_id: parent.id, message_count: view.messages.length }]
    : view.messages.flatMap((m) =>
        m.thread
          ? [
              {
                id: idOf(m),
                name: m.thread.name,
                parent_id: parent.id,
                message_count: m.thread.messageCount,
                last_message_id: m.thread.lastMessage ? idOf(m.thread.lastMessage) : null,
              },
            ]
          : [],
      );
  const guild = (client.guilds as unknown as GuildCache)._add({
    id: view.guild.id,
    name: view.guild.name,
    roles: [],
    members: [],
    emojis: [],
    stickers: [],
    channels: [parent, ...view.guild.channels.filter((c) => c.id !== parent.id && !threads.some((t) => t.id === c.id))].map((c) => ({
      id: c.id,
      type: ChannelType.GuildText,
      name: c.name,
      guild_id: view.guild.id,
    })),
    threads: threads.map((t) => ({
      ...t,
      type: ChannelType.PublicThread,
      guild_id: view.guild.id,
      thread_metadata: { archived: false, locked: false, auto_archive_duration: 10080, archive_timestamp: new Date().toISOString() },
    })),
  });
  const channelOf = (id: string) => guild.channels.cache.get(id) as TextChannel | ThreadChannel;
  const channel = channelOf(view.id);
  const toMessage = (message: MessageView, where: typeof channel) =>
    (where.messages as unknown as Adder<Message>)._add({
      // The message as the loopback Discord answers it, at its own time, with its thread and ephemeral flags.
      ...messageFrom(idOf(message), where.id, { ...message, embeds: message.embeds.map(titleAsShown) }),
      author: BOT,
      timestamp: new Date(message.at).toISOString(),
      edited_timestamp: message.editedAt ? new Date(message.editedAt).toISOString() : null,
      flags: (message.thread ? MessageFlags.HasThread : 0) | (message.ephemeral ? MessageFlags.Ephemeral : 0),
    });
  for (const message of view.messages) {
    const last = message.thread?.lastMessage;
    if (message.thread && last) toMessage(last, channelOf(idOf(message)));
  }
  return { channel, messages: view.messages.map((m) => toMessage(m, channel)), ids, client };
}

/** The library's page cut into its styles and its content, made to need nothing from the network. */
function pieces(html: string): Omit<Transcript, 'elementIds'> {
  const head = /<head>([\s\S]*)<\/head>/.exec(html)?.[1] ?? '';
  const body = /<body[^>]*>([\s\S]*)<\/body>/.exec(html)?.[1] ?? '';
  const styles = new Map(
    [...head.matchAll(/<style sty-id="([^"]+)">[\s\S]*?<\/style>/g)].map(([style, name]) => [
      name!,
      // Web fonts from CDNs: the page falls back to the system's sans-serif instead of calling out.
      style.replace(/@import url\([^)]*\);?/g, '').replace(/@font-face\{[^}]*\}/g, ''),
    ]),
  );
  return {
    styles,
    body: body
      // 3.3.0 leaves a stray ";" after its stylesheet, and a script that reveals spoilers (none here).
      .replace(/(<\/style>)(<!--[^>]*-->)?;/, '$1$2')
      .replace(/<script>[\s\S]*?<\/script>/g, '')
      // Emoji as pictures from a CDN: the character itself instead, drawn by the system's emoji font.
      .replaceAll(/<img aria-label=":([^"]+):" src="https:\/\/cdnjs\.cloudflare\.com\/ajax\/libs\/twemoji\/[^"]*"[^>]*>/g, '$1')
      .replaceAll(/ url="https:\/\/cdnjs\.cloudflare\.com\/ajax\/libs\/twemoji\/[^"]*"/g, '')
      .replaceAll(/https:\/\/cdn\.discordapp\.com\/embed\/avatars\/\d+\.png(\?size=\d+)?/g, AVATAR),
  };
}

/** One channel (or thread) as Discord shows it. */
export async function renderTranscript(view: ChannelView): Promise<Transcript> {
  const { channel, messages, ids, client } = discordMessages(view);
  // The library's types see discord.js through its CommonJS declarations, these objects through the ESM ones: the same classes.
  type Library = Parameters<typeof generateFromMessages>;
  const html = await generateFromMessages(messages as unknown as Library[0], channel as unknown as Library[1], {
    returnType: ExportReturnType.String,
    hydrate: true,
    poweredBy: false,
    saveImages: false,
    favicon: AVATAR,
    footerText: `${view.messages.length} message{s}`,
    // Mentions read from what the page knows; the library would ask Discord's API.
    callbacks: {
      resolveChannel: (id) => (client.channels.cache.get(id) as Library[1] | undefined) ?? null,
      resolveUser: () => null,
      resolveRole: () => null,
    },
  });
  return { ...pieces(html), elementIds: new Map([...ids].map(([viewId, snowflake]) => [viewId, `m-${snowflake}`])) };
}
