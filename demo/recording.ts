import type { FakeDiscord, FakeGuild, PostedMessage } from '../test/support/fake-discord.js';
import type { ChannelView, MessageView } from './transcript.js';

/**
 * What the loopback Discord holds once a story has played, in the shapes the page draws: each
 * channel as it stands, each thread, and each card's states one after the other.
 */
export interface Recording {
  channels: ChannelView[];
  threads: ChannelView[];
  /** A message that changed after it was posted (a card), with every state it went through. */
  lives: { messageId: string; channel: string; states: MessageView[] }[];
  /** Moments the story shows on their own (a card as a member clicked it, and the menu only they saw), with what happened. */
  panels: { id: string; caption: string; messages: MessageView[] }[];
  /** Messages worth a picture, by name: loopback message ids. */
  highlights: Record<string, string>;
}

/** A message body as Discord keeps it: an edit replaces what it sends and keeps the rest. */
type Body = Pick<PostedMessage, 'content' | 'embeds' | 'components'>;
const edited = (before: Body, edit: Partial<Body>): Body => ({
  content: edit.content !== undefined ? edit.content : before.content,
  embeds: edit.embeds ?? before.embeds,
  components: edit.components ?? before.components,
});

/** The message as first posted: the request that carried its nonce (the loopback Discord keeps only the latest state). */
function firstState(discord: FakeDiscord, message: PostedMessage): { body: Body; at: number } {
  const request = discord.requests.find(
    (r) =>
      r.method === 'POST' &&
      r.path === `/channels/${message.channel_id}/messages` &&
      message.nonce !== undefined &&
      (r.body as { nonce?: string } | undefined)?.nonce === message.nonce,
  );
  const body = (request?.body ?? message) as Partial<Body>;
  return { body: { content: body.content, embeds: body.embeds ?? [], components: body.components ?? [] }, at: request?.at ?? message.at };
}

export function view(message: PostedMessage, discord: FakeDiscord): MessageView {
  const thread = discord.threads.get(message.id);
  const inThread = thread ? discord.messagesIn(thread.id) : [];
  return {
    id: message.id,
    at: message.at,
    ...(message.editedAt ? { editedAt: message.editedAt } : {}),
    content: message.content,
    embeds: message.embeds,
    components: message.components,
    ...(thread
      ? {
          thread: {
            id: thread.id,
            name: thread.name,
            messageCount: inThread.length,
            ...(inThread.length > 0 ? { lastMessage: view(inThread.at(-1)!, discord) } : {}),
          },
        }
      : {}),
  };
}

/** Every state of a message, from its post through each edit. */
function statesOf(discord: FakeDiscord, message: PostedMessage): MessageView[] {
  const first = firstState(discord, message);
  const states: MessageView[] = [{ id: `${message.id}-0`, at: first.at, ...first.body }];
  let body = first.body;
  discord.editsOf(message.id).forEach((edit, i) => {
    body = edited(body, edit.body as Partial<Body>);
    states.push({ id: `${message.id}-${i + 1}`, at: first.at, editedAt: edit.at, ...body });
  });
  return states;
}

/** The server as messages name it: its channels and the threads started in them. */
export function serverOf(discord: FakeDiscord, guild: FakeGuild): ChannelView['guild'] {
  const threads = [...discord.threads.values()].map((t) => ({ id: t.id, name: t.name }));
  return { id: guild.id, name: guild.name, channels: [...guild.channels.map((c) => ({ id: c.id, name: c.name })), ...threads] };
}

export function record(discord: FakeDiscord, guild: FakeGuild, extra: Pick<Recording, 'panels' | 'highlights'>): Recording {
  const server = serverOf(discord, guild);
  const channels = guild.channels.map((channel) => ({
    id: channel.id,
    name: channel.name,
    guild: server,
    messages: discord.messagesIn(channel.id).map((m) => view(m, discord)),
  }));
  const threads = [...discord.threads.values()].map((thread) => ({
    id: thread.id,
    name: thread.name,
    guild: server,
    parent: { id: thread.parentId, name: guild.channels.find((c) => c.id === thread.parentId)?.name ?? '?' },
    messages: discord.messagesIn(thread.id).map((m) => view(m, discord)),
  }));
  const lives = guild.channels.flatMap((channel) =>
    discord
      .messagesIn(channel.id)
      .filter((m) => m.edits > 0)
      .map((m) => ({ messageId: m.id, channel: channel.name, states: statesOf(discord, m) })),
  );
  return { channels, threads, lives, ...extra };
}
