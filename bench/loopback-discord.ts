import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

/**
 * The smallest Discord the benchmarks need, on loopback: `GET /gateway/bot`, a gateway that sends
 * READY and one guild, channel messages with Discord's per-channel rate limit (about 5 per 5 s
 * when asked for), and for cards message edits, threads and their messages. It records when each
 * message and edit arrived and what it carried.
 */
export interface LoopbackDiscord {
  apiUrl: string;
  guildId: string;
  channelId: string;
  /** Two more channels of the guild (the large-database section's other routes post there). */
  otherChannelIds: [string, string];
  /** Each posted message: when it arrived and the text of its embeds. */
  messages: { at: number; text: string; embeds: number }[];
  /** Each edit of a message. */
  edits: { at: number; text: string }[];
  /** Each message posted in a thread. */
  threadMessages: { at: number; text: string }[];
  rateLimited: number;
  /**
   * Sends an interaction through the gateway, as a member allowed to manage the server: `/dispatch
   * <group> <sub> options` or a click on a button. Resolves with how long the bot took to send its
   * callback (Discord's 3 s) and, once it came, its answer (the callback's, or a deferred one's edit).
   */
  interact(what: { group: string; sub: string; options?: Record<string, string | boolean> } | { button: string }): Promise<{
    ackMs: number;
    answeredMs: number;
    answer: { content?: string; components?: { components: { custom_id: string; label: string }[] }[] };
  }>;
  /** Resolves when a message (or an edit) whose embeds contain `marker` has arrived. */
  waitFor(marker: string): Promise<void>;
  /** Resolves once `count` embeds have arrived in all. */
  waitForEmbeds(count: number, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

const BOT_ID = '900000000000000001';
let next = 1_300_000_000_000_000_000n;
const snowflake = () => String((next += 1n));

/** A request's JSON: the body, or with files attached (multipart: a digest's, an answer's) its `payload_json` part. */
function bodyOf(req: IncomingMessage, text: string): any {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(req.headers['content-type'] ?? '');
  if (!boundary) return text ? JSON.parse(text) : {};
  for (const part of text.split(`--${boundary[1] ?? boundary[2]}`)) {
    const [head, ...rest] = part.split('\r\n\r\n');
    if (head?.includes('name="payload_json"')) return JSON.parse(rest.join('\r\n\r\n').replace(/\r\n$/, ''));
  }
  return {};
}

/** A message the bot posted, as Discord returns it. */
function botMessage(channelId: string, fields: Record<string, unknown>): Record<string, unknown> {
  return {
    id: snowflake(),
    channel_id: channelId,
    type: 0,
    content: '',
    embeds: [],
    author: { id: BOT_ID, username: 'dispatch', discriminator: '0', bot: true },
    timestamp: new Date().toISOString(),
    edited_timestamp: null,
    tts: false,
    mention_everyone: false,
    mentions: [],
    mention_roles: [],
    attachments: [],
    pinned: false,
    flags: 0,
    ...fields,
  };
}

export async function startLoopbackDiscord(options: { rateLimit?: { messages: number; windowMs: number } } = {}): Promise<LoopbackDiscord> {
  const guildId = snowflake();
  const channelId = snowflake();
  const otherChannelIds: [string, string] = [snowflake(), snowflake()];
  const messages: LoopbackDiscord['messages'] = [];
  const edits: LoopbackDiscord['edits'] = [];
  const threadMessages: LoopbackDiscord['threadMessages'] = [];
  const threads = new Set<string>();
  const waiters: (() => void)[] = [];
  const sent: number[] = [];
  let rateLimited = 0;
  const interactionAnswers: { token: string; kind: 'callback' | 'edit'; at: number; body: any }[] = [];
  const gateways = new Set<(t: string, d: unknown) => void>();
  const server = createServer((req, res) => void answer(req, res));
  const wss = new WebSocketServer({ server });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  };

  async function answer(req: IncomingMessage, res: ServerResponse) {
    let text = '';
    for await (const chunk of req) text += chunk;
    const path = (req.url ?? '').replace(/^\/api\/v10/, '').split('?')[0];
    if (path === '/gateway/bot') {
      return json(res, 200, {
        url: `ws://127.0.0.1:${port}`,
        shards: 1,
        session_start_limit: { total: 1000, remaining: 999, reset_after: 0, max_concurrency: 1 },
      });
    }
    const callback = /^\/interactions\/(\d+)\/([^/]+)\/callback$/.exec(path ?? '');
    const answered = /^\/webhooks\/\d+\/([^/]+)(\/messages\/(?:@|%40)original)?$/.exec(path ?? '');
    if (req.method === 'POST' && callback) {
      interactionAnswers.push({ token: callback[2]!, kind: 'callback', at: Date.now(), body: bodyOf(req, text) });
      for (const wake of waiters.splice(0)) wake();
      return void res.writeHead(204).end();
    }
    if ((req.method === 'PATCH' || req.method === 'POST') && answered) {
      interactionAnswers.push({ token: answered[1]!, kind: 'edit', at: Date.now(), body: { data: bodyOf(req, text) } });
      for (const wake of waiters.splice(0)) wake();
      return json(res, 200, botMessage(channelId, {}));
    }
    const edit = /^\/channels\/(\d+)\/messages\/(\d+)$/.exec(path ?? '');
    if (req.method === 'PATCH' && edit) {
      edits.push({ at: Date.now(), text });
      for (const wake of waiters.splice(0)) wake();
      return json(res, 200, {
        id: edit[2],
        channel_id: edit[1],
        type: 0,
        content: '',
        embeds: [],
        author: { id: BOT_ID, username: 'dispatch', discriminator: '0', bot: true },
      });
    }
    const thread = /^\/channels\/(\d+)\/messages\/(\d+)\/threads$/.exec(path ?? '');
    if (req.method === 'POST' && thread) {
      threads.add(thread[2]!);
      return json(res, 201, { id: thread[2], type: 11, name: 'card', parent_id: thread[1], guild_id: guildId });
    }
    const inThread = /^\/channels\/(\d+)\/messages$/.exec(path ?? '');
    if (req.method === 'POST' && inThread && threads.has(inThread[1]!)) {
      threadMessages.push({ at: Date.now(), text });
      return json(res, 200, {
        id: snowflake(),
        channel_id: inThread[1],
        type: 0,
        content: '',
        embeds: [],
        author: { id: BOT_ID, username: 'dispatch', discriminator: '0', bot: true },
      });
    }
    const channelMessages = /^\/channels\/(\d+)\/messages$/.exec(path ?? '');
    if (req.method === 'GET' && channelMessages) return json(res, 200, []);
    // Any channel takes messages (the large-database section's sources post in channels of their own).
    if (req.method === 'POST' && channelMessages) {
      const now = Date.now();
      const limit = options.rateLimit;
      while (limit && sent.length > 0 && now - sent[0]! >= limit.windowMs) sent.shift();
      if (limit && sent.length >= limit.messages) {
        rateLimited += 1;
        const retryAfter = (limit.windowMs - (now - sent[0]!)) / 1000;
        return json(
          res,
          429,
          { message: 'rate limited', retry_after: retryAfter, global: false },
          { 'retry-after': String(Math.ceil(retryAfter)) },
        );
      }
      sent.push(now);
      const body = bodyOf(req, text) as { embeds?: unknown[] };
      messages.push({ at: now, text, embeds: body.embeds?.length ?? 0 });
      for (const wake of waiters.splice(0)) wake();
      return json(res, 200, botMessage(channelMessages[1]!, { embeds: body.embeds ?? [] }));
    }
    return json(res, 404, { code: 0, message: `no route ${req.method} ${path}` });
  }

  wss.on('connection', (ws) => {
    let seq = 0;
    const dispatch = (t: string, d: unknown) => ws.send(JSON.stringify({ op: 0, t, s: ++seq, d }));
    gateways.add(dispatch);
    ws.on('close', () => gateways.delete(dispatch));
    ws.send(JSON.stringify({ op: 10, d: { heartbeat_interval: 45_000 } }));
    ws.on('message', (raw) => {
      const frame = JSON.parse(String(raw)) as { op: number };
      if (frame.op === 1) ws.send(JSON.stringify({ op: 11 }));
      if (frame.op !== 2) return;
      dispatch('READY', {
        v: 10,
        user: { id: BOT_ID, username: 'dispatch', discriminator: '0', bot: true, avatar: null, global_name: null },
        guilds: [{ id: guildId, unavailable: true }],
        session_id: 's',
        resume_gateway_url: `ws://127.0.0.1:${port}`,
        application: { id: BOT_ID, flags: 0 },
      });
      dispatch('GUILD_CREATE', {
        id: guildId,
        name: 'Bench',
        unavailable: false,
        owner_id: '1',
        icon: null,
        features: [],
        member_count: 1,
        large: false,
        joined_at: new Date().toISOString(),
        roles: [
          {
            id: guildId,
            name: '@everyone',
            permissions: String((1n << 10n) | (1n << 11n) | (1n << 14n) | (1n << 16n) | (1n << 35n) | (1n << 38n)),
            position: 0,
            color: 0,
            hoist: false,
            managed: false,
            mentionable: false,
            flags: 0,
          },
        ],
        channels: [channelId, ...otherChannelIds].map((id, position) => ({
          id,
          type: 0,
          name: position === 0 ? 'alerts' : `other-${position}`,
          guild_id: guildId,
          position,
          permission_overwrites: [],
        })),
        members: [
          {
            user: { id: BOT_ID, username: 'dispatch', discriminator: '0', bot: true, avatar: null, global_name: null },
            roles: [],
            joined_at: new Date().toISOString(),
            deaf: false,
            mute: false,
            flags: 0,
          },
        ],
        emojis: [],
        stickers: [],
        threads: [],
        presences: [],
        voice_states: [],
        stage_instances: [],
        guild_scheduled_events: [],
        soundboard_sounds: [],
      });
    });
  });

  const adminId = snowflake();
  const interactionOf = (type: number, data: unknown, extra: Record<string, unknown> = {}) => {
    const id = snowflake();
    const user = { id: adminId, username: 'admin', discriminator: '0', avatar: null, global_name: null };
    return {
      id,
      application_id: BOT_ID,
      type,
      token: `token-${id}`,
      version: 1,
      guild_id: guildId,
      channel_id: channelId,
      channel: { id: channelId, type: 0, name: 'alerts', guild_id: guildId, position: 0, permission_overwrites: [] },
      guild: { id: guildId, locale: 'en-US', features: [] },
      member: {
        user,
        roles: [],
        permissions: String((1n << 3n) | (1n << 5n) | (1n << 10n) | (1n << 11n)),
        joined_at: new Date().toISOString(),
        deaf: false,
        mute: false,
        flags: 0,
      },
      app_permissions: String((1n << 10n) | (1n << 11n) | (1n << 14n)),
      locale: 'en-US',
      guild_locale: 'en-US',
      entitlements: [],
      authorizing_integration_owners: {},
      context: 0,
      attachment_size_limit: 8 * 1024 * 1024,
      data,
      ...extra,
    };
  };
  const nextAnswer = () => new Promise<void>((resolve) => waiters.push(resolve));
  const interact: LoopbackDiscord['interact'] = async (what) => {
    const payload =
      'button' in what
        ? interactionOf(
            3,
            { custom_id: what.button, component_type: 2 },
            {
              message: botMessage(channelId, { components: [], flags: 64 }),
            },
          )
        : interactionOf(2, {
            id: snowflake(),
            name: 'dispatch',
            type: 1,
            guild_id: guildId,
            options: [
              {
                name: what.group,
                type: 2,
                options: [
                  {
                    name: what.sub,
                    type: 1,
                    options: Object.entries(what.options ?? {}).map(([name, value]) => ({
                      name,
                      type: typeof value === 'boolean' ? 5 : 3,
                      value,
                    })),
                  },
                ],
              },
            ],
          });
    const sentAt = Date.now();
    for (const send of gateways) send('INTERACTION_CREATE', payload);
    const mine = (kind: 'callback' | 'edit') => interactionAnswers.find((a) => a.token === payload.token && a.kind === kind);
    while (!mine('callback')) await nextAnswer();
    const { body } = mine('callback')!;
    const deferred = body.type === 5 || body.type === 6;
    while (deferred && !mine('edit')) await nextAnswer();
    const answer = deferred ? mine('edit')! : mine('callback')!;
    return { ackMs: mine('callback')!.at - sentAt, answeredMs: answer.at - sentAt, answer: answer.body.data ?? {} };
  };
  const embedCount = () => messages.reduce((n, m) => n + m.embeds, 0);
  const nextMessage = () => new Promise<void>((resolve) => waiters.push(resolve));
  return {
    apiUrl: `http://127.0.0.1:${port}/api`,
    guildId,
    channelId,
    otherChannelIds,
    messages,
    edits,
    threadMessages,
    interact,
    get rateLimited() {
      return rateLimited;
    },
    async waitFor(marker) {
      while (!messages.some((m) => m.text.includes(marker)) && !edits.some((e) => e.text.includes(marker))) await nextMessage();
    },
    async waitForEmbeds(count, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (embedCount() < count) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} embeds (got ${embedCount()})`);
        await Promise.race([nextMessage(), new Promise((r) => setTimeout(r, 100))]);
      }
    },
    async stop() {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
