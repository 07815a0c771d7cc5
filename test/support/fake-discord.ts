import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * A loopback Discord for tests: the REST routes Dispatch uses and a JSON gateway that the real
 * discord.js Client logs into. Protocol facts it relies on: login makes one REST call,
 * GET /gateway/bot; the gateway speaks JSON text frames (HELLO, IDENTIFY, READY, then a GUILD_CREATE
 * per guild with `unavailable: false`, heartbeats ACKed); every interaction needs `entitlements` and
 * `authorizing_integration_owners`; JSON answers need `Content-Type: application/json`.
 * It records what the bot sent and lets a test inject failures and rate limits.
 */

export const APP_ID = '900000000000000001';
export const BOT_USER_ID = APP_ID;

export interface FakeChannel {
  id: string;
  name: string;
  /** 0 text, 2 voice, 5 announcement, 15 forum. */
  type: number;
  /** Permission bits denied to @everyone in this channel (e.g. Send Messages). */
  deny?: bigint;
}

export interface FakeRole {
  id: string;
  name: string;
  mentionable?: boolean;
}

export interface FakeGuild {
  id: string;
  name: string;
  channels: FakeChannel[];
  /** Roles besides @everyone. */
  roles?: FakeRole[];
  /** Its members besides the bot, by user id (GET /guilds/{id}/members/{user} finds these; anyone else is 10007 Unknown Member). */
  members?: string[];
}

export interface PostedMessage {
  id: string;
  /** A channel, or a thread (whose id is the id of the message it was started from). */
  channel_id: string;
  /** Date.now() when it was posted. */
  at: number;
  /** Someone else's message (see postAsMember): the bot cannot edit it. */
  byMember?: boolean;
  /** Discord's clock when it was posted: its nonce is remembered for NONCE_MEMORY_MS from then. */
  nonceAt: number;
  /** How many times the bot edited it, and when last. */
  edits: number;
  editedAt?: number;
  content?: string;
  embeds: Record<string, unknown>[];
  allowed_mentions?: unknown;
  /** Message flags as posted (4096: SUPPRESS_NOTIFICATIONS). */
  flags?: number;
  nonce?: string;
  enforce_nonce?: boolean;
  /** Buttons and menus, as last sent. */
  components: any[];
}

export interface RecordedRequest {
  method: string;
  path: string;
  body: unknown;
  authorization: string | undefined;
  /** Date.now() when the request arrived. */
  at: number;
  /** The status it was answered with (unset while unanswered). */
  status?: number;
}

export interface InjectedResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Never answer (the client times out or the connection is reset). */
  hang?: boolean;
  /** Post (or for an edit, make) the message, then never answer: Discord did its part but the bot never hears of it. */
  postThenHang?: boolean;
  /** Post the message, then answer with this error status anyway: Discord did its part, the bot cannot know. */
  postThenFail?: number;
  /** Post (or make the edit) as usual, but answer only once this settles: a send the test holds in flight. */
  answerAfter?: Promise<unknown>;
  /** Close the connection without an answer, the request not taken (a kept-alive connection gone stale). */
  reset?: boolean;
}

/** A thread started from a message: its id is the message's. */
export interface FakeThread {
  id: string;
  parentId: string;
  name: string;
  archived: boolean;
  /** Locked: only members with Manage Threads may unarchive it. */
  locked: boolean;
}

/** Permissions the bot has through @everyone unless a channel denies some. */
export const PERMISSIONS = {
  ViewChannel: 1n << 10n,
  SendMessages: 1n << 11n,
  EmbedLinks: 1n << 14n,
  ReadMessageHistory: 1n << 16n,
  ManageGuild: 1n << 5n,
  Administrator: 1n << 3n,
  ManageThreads: 1n << 34n,
  CreatePublicThreads: 1n << 35n,
  SendMessagesInThreads: 1n << 38n,
} as const;
const EVERYONE_PERMISSIONS =
  PERMISSIONS.ViewChannel |
  PERMISSIONS.SendMessages |
  PERMISSIONS.EmbedLinks |
  PERMISSIONS.ReadMessageHistory |
  PERMISSIONS.CreatePublicThreads |
  PERMISSIONS.SendMessagesInThreads;

/** Discord's answers for a card's edges (discord-api-docs: JSON error codes). */
const ERRORS = {
  unknownChannel: { status: 404, body: { code: 10003, message: 'Unknown Channel' } },
  unknownMessage: { status: 404, body: { code: 10008, message: 'Unknown Message' } },
  missingAccess: { status: 403, body: { code: 50001, message: 'Missing Access' } },
  missingPermissions: { status: 403, body: { code: 50013, message: 'Missing Permissions' } },
  cannotEditOthers: { status: 403, body: { code: 50005, message: 'Cannot edit a message authored by another user' } },
  cannotDm: { status: 403, body: { code: 50007, message: 'Cannot send messages to this user' } },
  threadArchived: { status: 400, body: { code: 50083, message: 'Thread is archived' } },
  threadExists: { status: 400, body: { code: 160004, message: 'A thread has already been created for this message' } },
  editCap: {
    status: 400,
    body: { code: 30046, message: 'Maximum number of edits to messages older than 1 hour reached. Try again later.' },
  },
} as const;

/** Discord remembers an enforced nonce for a few minutes; a resend after that posts again. */
export const NONCE_MEMORY_MS = 5 * 60_000;

let snowflakeCounter = 1_000_000n;
export function snowflake(): string {
  snowflakeCounter += 1n;
  return (1_300_000_000_000_000_000n + snowflakeCounter).toString();
}

export interface FakeDiscordOptions {
  guilds?: FakeGuild[];
  /** Discord's clock, for nonce memory (default Date.now): a test that moves time moves this too. */
  now?: () => number;
  /** Messages a channel takes per window before answering 429 (Discord: about 5 per 5 s). */
  channelRateLimit?: { messages: number; windowMs: number };
}

type Json = (status: number, payload: unknown, headers?: Record<string, string>) => void;

type Waiter<T> = { match: (item: T) => boolean; resolve: (item: T) => void };

export class FakeDiscord {
  readonly requests: RecordedRequest[] = [];
  readonly messages: PostedMessage[] = [];
  /** Messages posted whose answer the bot never got (an injected post-then-fail or post-then-hang), by id. */
  readonly unanswered = new Set<string>();
  /** Threads started from messages, by id. */
  readonly threads = new Map<string, FakeThread>();
  /** Every edit the bot made (PATCH of a message), in order. */
  readonly edits: { messageId: string; channelId: string; at: number; body: any }[] = [];
  /** Interaction callbacks, edits and follow-ups, in arrival order. */
  readonly interactionResponses: {
    interactionId?: string;
    token: string;
    kind: 'callback' | 'edit' | 'followup';
    body: any;
    /** Files attached to the answer (multipart), by name. */
    files?: { name: string; content: string }[];
  }[] = [];
  readonly registeredCommands = new Map<string, unknown[]>();
  /** Messages the bot deleted, by id. */
  readonly deleted: string[] = [];
  /** Messages the bot may not delete (Discord answers 50013 Missing Permissions). */
  readonly undeletable = new Set<string>();
  readonly guilds: FakeGuild[];
  rateLimitHits = 0;
  private readonly injected: { channelId?: string; response: InjectedResponse }[] = [];
  private readonly injectedEdits: { messageId?: string; response: InjectedResponse }[] = [];
  private readonly injectedCallbacks: InjectedResponse[] = [];
  private readonly injectedAnswers: InjectedResponse[] = [];
  private readonly injectedReads: InjectedResponse[] = [];
  private readonly sentTimes = new Map<string, number[]>();
  private readonly messageWaiters: Waiter<PostedMessage>[] = [];
  private readonly responseWaiters: Waiter<FakeDiscord['interactionResponses'][number]>[] = [];
  private readonly sockets = new Set<WebSocket>();
  private readonly hung = new Set<ServerResponse>();
  private seq = 0;
  private gatewayEnabled = true;
  /** Tokens Discord refuses (reset in the portal, or never valid): every REST request with one gets 401. */
  private readonly refusedTokens = new Set<string>();
  private readonly wss: WebSocketServer;
  /**
   * This Discord's own path: a Dispatch left running by another test file (its Discord stopped, its
   * port handed to this one by the kernel) reconnects to the same address; without the path it
   * would answer this file's interactions from its own database, and post its own deliveries here.
   */
  private readonly prefix = `/discord-${randomBytes(6).toString('hex')}`;

  private constructor(
    private readonly server: Server,
    private readonly options: FakeDiscordOptions,
  ) {
    this.guilds = options.guilds ?? [];
    this.ready = new Promise((resolve) => {
      this.onReady = resolve;
    });
    this.wss = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req, socket, head) => {
      if (!this.gatewayEnabled || !req.url?.startsWith(`${this.prefix}/gateway`)) return socket.destroy();
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onGatewayConnection(ws));
    });
  }

  static async start(options: FakeDiscordOptions = {}): Promise<FakeDiscord> {
    const server = createServer();
    const fake = new FakeDiscord(server, options);
    server.on('request', (req, res) => void fake.onRequest(req, res));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return fake;
  }

  /** Discord's clock (the test's, when it moves time). */
  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** What to hand Dispatch as DISCORD_API_URL. */
  get apiUrl(): string {
    return `http://127.0.0.1:${this.port}${this.prefix}/api`;
  }

  private get gatewayUrl(): string {
    return `ws://127.0.0.1:${this.port}${this.prefix}/gateway`;
  }

  async stop(): Promise<void> {
    for (const res of this.hung) res.destroy();
    for (const ws of this.sockets) ws.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The next channel-message requests (optionally to one channel) get these answers, in order. */
  /** DM channels the bot opened (POST /users/@me/channels), by channel id: whose they are. */
  readonly dmChannels = new Map<string, string>();
  /** Users whose DMs are closed to the bot: a message to them is refused with 50007. */
  readonly closedDms = new Set<string>();

  /** The bot's DM channel with a user, if it opened one. */
  dmChannelOf(userId: string): string | undefined {
    return [...this.dmChannels].find(([, user]) => user === userId)?.[0];
  }

  /** The direct messages the bot sent a user. */
  directMessagesTo(userId: string): PostedMessage[] {
    const channelId = this.dmChannelOf(userId);
    return channelId ? this.messagesIn(channelId) : [];
  }

  inject(responses: InjectedResponse[], channelId?: string): void {
    for (const response of responses) this.injected.push({ channelId, response });
  }

  /** Forgets every answer injected and not yet given (Discord is healthy again). */
  clearInjected(): void {
    this.injected.splice(0);
    this.injectedEdits.splice(0);
    this.injectedAnswers.splice(0);
  }

  /** The next message edits (optionally of one message) get these answers, in order (e.g. 30046). */
  injectEdits(responses: InjectedResponse[], messageId?: string): void {
    for (const response of responses) this.injectedEdits.push({ messageId, response });
  }

  /** A member deletes a message (the bot's next edit of it gets 10008). */
  deleteMessage(messageId: string): void {
    const index = this.messages.findIndex((m) => m.id === messageId);
    if (index === -1) throw new Error(`no message ${messageId}`);
    this.messages.splice(index, 1);
  }

  /** Discord archives a thread after its inactivity period; a moderator may lock it too. */
  archiveThread(threadId: string, { locked = false } = {}): void {
    const thread = this.threads.get(threadId);
    if (!thread) throw new Error(`no thread ${threadId}`);
    Object.assign(thread, { archived: true, locked });
  }

  deleteThread(threadId: string): void {
    this.threads.delete(threadId);
    for (const message of this.messagesIn(threadId)) this.messages.splice(this.messages.indexOf(message), 1);
  }

  /** Members talk in a channel: `count` messages the bot did not write. */
  postAsMember(channelId: string, count: number): void {
    for (let i = 0; i < count; i++) this.storeMessage(channelId, { content: `chatter ${i}` }, { byMember: true });
  }

  /** The bot's message with this id, as it now is. */
  message(messageId: string): PostedMessage | undefined {
    return this.messages.find((m) => m.id === messageId);
  }

  editsOf(messageId: string): FakeDiscord['edits'] {
    return this.edits.filter((e) => e.messageId === messageId);
  }

  /** A new channel in a guild, told to connected clients (CHANNEL_CREATE). */
  addChannel(guildId: string, channel: FakeChannel): void {
    const guild = this.guilds.find((g) => g.id === guildId);
    if (!guild) throw new Error(`no guild ${guildId}`);
    guild.channels.push(channel);
    this.dispatch('CHANNEL_CREATE', channelPayload(channel, guild.id));
  }

  /** Changes what @everyone is denied in a channel, and tells connected clients (CHANNEL_UPDATE). */
  updateChannel(channelId: string, deny: bigint | undefined): void {
    const found = this.findChannel(channelId);
    if (!found) throw new Error(`no channel ${channelId}`);
    found.channel.deny = deny;
    this.dispatch('CHANNEL_UPDATE', channelPayload(found.channel, found.guild.id));
  }

  /** The next reads of a server (its roles, channels, the bot's member) get these answers, in order. */
  injectReads(responses: InjectedResponse[]): void {
    this.injectedReads.push(...responses);
  }

  /** Requests that read a server: GET /guilds/{id}/roles, /channels, /members/{id}. */
  guildReads(guildId?: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === 'GET' && /^\/guilds\/\d+\//.test(r.path) && (!guildId || r.path.includes(guildId)));
  }

  /**
   * The next interaction callbacks get these answers, in order (to force an error in a command); one
   * with `answerAfter` is taken (recorded) at once and answered only once it settles.
   */
  injectCallbacks(responses: InjectedResponse[]): void {
    this.injectedCallbacks.push(...responses);
  }

  /** The next edits of an interaction's reply and follow-ups get these answers, in order (`status` and `body`, or `reset`). */
  injectAnswers(responses: InjectedResponse[]): void {
    this.injectedAnswers.push(...responses);
  }

  /** Every REST request made with this bot token gets 401 from now on, as Discord answers a token it does not know. */
  refuseToken(token: string): void {
    this.refusedTokens.add(token);
  }

  /** Refuse gateway connections (Discord's gateway down); REST keeps answering. */
  setGatewayEnabled(enabled: boolean): void {
    this.gatewayEnabled = enabled;
  }

  messagesIn(channelId: string): PostedMessage[] {
    return this.messages.filter((m) => m.channel_id === channelId);
  }

  /** Resolves with the first posted message matching, already posted or still to come. */
  waitForMessage(match: (m: PostedMessage) => boolean = () => true, timeoutMs = 10_000): Promise<PostedMessage> {
    const existing = this.messages.find(match);
    if (existing) return Promise.resolve(existing);
    return withTimeout(new Promise((resolve) => this.messageWaiters.push({ match, resolve })), timeoutMs, 'message');
  }

  waitForMessages(count: number, channelId: string, timeoutMs = 10_000): Promise<PostedMessage[]> {
    const embedsIn = () => this.messagesIn(channelId).reduce((n, m) => n + m.embeds.length, 0);
    return withTimeout(
      (async () => {
        while (embedsIn() < count) await this.waitForNextMessage();
        return this.messagesIn(channelId);
      })(),
      timeoutMs,
      `${count} embeds in ${channelId}`,
    );
  }

  private waitForNextMessage(): Promise<PostedMessage> {
    return new Promise((resolve) => this.messageWaiters.push({ match: () => true, resolve }));
  }

  /** Resolves with the bot's first response to an interaction token (callback, edit or follow-up). */
  waitForResponse(
    match: (r: FakeDiscord['interactionResponses'][number]) => boolean,
    timeoutMs = 10_000,
  ): Promise<FakeDiscord['interactionResponses'][number]> {
    const existing = this.interactionResponses.find(match);
    if (existing) return Promise.resolve(existing);
    return withTimeout(new Promise((resolve) => this.responseWaiters.push({ match, resolve })), timeoutMs, 'interaction response');
  }

  // --- gateway -------------------------------------------------------------------------------

  /** Resolves once a client has identified and received its guilds. */
  readonly ready: Promise<void>;
  private onReady: () => void = () => {};

  /** Sends a dispatch event to every connected client. */
  dispatch(type: string, data: unknown): void {
    this.seq += 1;
    const frame = JSON.stringify({ op: 0, t: type, s: this.seq, d: data });
    for (const ws of this.sockets) ws.send(frame);
  }

  /** Clients connected to the gateway now (Dispatch keeps one session, on its leader). */
  get gatewayClients(): number {
    return this.sockets.size;
  }

  /** Drops every gateway connection (the client will try to reconnect). */
  dropGateway(): void {
    for (const ws of this.sockets) ws.terminate();
  }

  private onGatewayConnection(ws: WebSocket): void {
    this.sockets.add(ws);
    ws.on('close', () => this.sockets.delete(ws));
    ws.send(JSON.stringify({ op: 10, d: { heartbeat_interval: 45_000 } }));
    ws.on('message', (raw) => {
      const frame = JSON.parse(String(raw)) as { op: number; d: unknown };
      if (frame.op === 1) ws.send(JSON.stringify({ op: 11 }));
      else if (frame.op === 2) this.identify(ws);
      else if (frame.op === 6) ws.send(JSON.stringify({ op: 9, d: false }));
    });
  }

  private identify(ws: WebSocket): void {
    const send = (t: string, d: unknown) => {
      this.seq += 1;
      ws.send(JSON.stringify({ op: 0, t, s: this.seq, d }));
    };
    send('READY', {
      v: 10,
      user: { id: BOT_USER_ID, username: 'dispatch', discriminator: '0', global_name: null, avatar: null, bot: true },
      guilds: this.guilds.map((g) => ({ id: g.id, unavailable: true })),
      session_id: 'fake-session',
      resume_gateway_url: this.gatewayUrl,
      application: { id: APP_ID, flags: 0 },
    });
    for (const guild of this.guilds) send('GUILD_CREATE', guildPayload(guild));
    this.onReady();
  }

  // --- REST ----------------------------------------------------------------------------------

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const multipart = parseMultipart(text, req.headers['content-type']);
    const body = text && req.headers['content-type']?.includes('json') ? JSON.parse(text) : multipart.json;
    const url = new URL(req.url ?? '/', 'http://x');
    if (!url.pathname.startsWith(`${this.prefix}/`)) {
      res.writeHead(404, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ message: 'not this Discord', code: 0 }));
    }
    const path = decodeURIComponent(url.pathname.slice(this.prefix.length)).replace(/^\/api\/v10/, '');
    const method = req.method ?? 'GET';
    const record: RecordedRequest = { method, path, body, authorization: req.headers.authorization, at: Date.now() };
    this.requests.push(record);

    const json = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      record.status = status;
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(payload === undefined ? '' : JSON.stringify(payload));
    };

    const token = /^Bot (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (token !== undefined && this.refusedTokens.has(token)) return json(401, { message: '401: Unauthorized', code: 0 });
    let m: RegExpExecArray | null;
    if (method === 'GET' && path === '/gateway/bot') {
      return json(200, {
        url: this.gatewayUrl,
        shards: 1,
        session_start_limit: { total: 1000, remaining: 999, reset_after: 0, max_concurrency: 1 },
      });
    }
    if (method === 'GET' && path === '/applications/@me') {
      return json(200, { id: APP_ID, name: 'Dispatch', description: '', bot_public: true, flags: 0 });
    }
    if (method === 'POST' && (m = /^\/channels\/(\d+)\/messages$/.exec(path))) {
      return this.createMessage(m[1]!, body, json, res);
    }
    if (method === 'PATCH' && (m = /^\/channels\/(\d+)\/messages\/(\d+)$/.exec(path))) {
      return this.editMessage(m[1]!, m[2]!, body, json, res);
    }
    if (method === 'DELETE' && (m = /^\/channels\/(\d+)\/messages\/(\d+)$/.exec(path))) {
      const index = this.messages.findIndex((msg) => msg.id === m![2] && msg.channel_id === m![1] && !msg.byMember);
      if (index === -1) return json(ERRORS.unknownMessage.status, ERRORS.unknownMessage.body);
      if (this.undeletable.has(m[2]!)) return json(403, { code: 50013, message: 'Missing Permissions' });
      this.messages.splice(index, 1);
      this.deleted.push(m[2]!);
      record.status = 204;
      res.writeHead(204).end();
      return;
    }
    if (method === 'GET' && (m = /^\/channels\/(\d+)\/messages$/.exec(path))) {
      return this.listMessages(m[1]!, url.searchParams, json);
    }
    if (method === 'POST' && (m = /^\/channels\/(\d+)\/messages\/(\d+)\/threads$/.exec(path))) {
      return this.startThread(m[1]!, m[2]!, body, json);
    }
    if (method === 'PATCH' && (m = /^\/channels\/(\d+)$/.exec(path)) && this.threads.has(m[1]!)) {
      const thread = this.threads.get(m[1]!)!;
      const parent = this.findChannel(thread.parentId)!;
      if (thread.locked && !(EVERYONE_PERMISSIONS & ~(parent.channel.deny ?? 0n) & PERMISSIONS.ManageThreads)) {
        return json(ERRORS.missingPermissions.status, ERRORS.missingPermissions.body);
      }
      if (body?.archived === false) thread.archived = false;
      return json(200, threadPayload(thread, parent.guild.id));
    }
    if (method === 'POST' && (m = /^\/interactions\/(\d+)\/([^/]+)\/callback$/.exec(path))) {
      const injected = this.injectedCallbacks.shift();
      if (injected && !injected.answerAfter)
        return json(injected.status, injected.body ?? { message: 'injected', code: 0 }, injected.headers);
      this.recordResponse({
        interactionId: m[1],
        token: m[2]!,
        kind: 'callback',
        body,
        ...(multipart.files.length > 0 ? { files: multipart.files } : {}),
      });
      if (injected?.answerAfter) await injected.answerAfter;
      if (url.searchParams.get('with_response') === 'true') {
        return json(200, {
          interaction: { id: m[1], type: 2 },
          resource: { type: body?.type, message: { id: snowflake(), ...body?.data } },
        });
      }
      res.writeHead(204).end();
      return;
    }
    const isAnswer = (method === 'PATCH' || method === 'POST') && /^\/webhooks\/\d+\/[^/]+(\/messages\/@original)?$/.test(path);
    const answer = isAnswer ? this.injectedAnswers.shift() : undefined;
    if (answer?.reset) return void res.socket?.destroy();
    if (answer) return json(answer.status, answer.body ?? { message: 'injected', code: 0 }, answer.headers);
    if (method === 'PATCH' && (m = /^\/webhooks\/(\d+)\/([^/]+)\/messages\/@original$/.exec(path))) {
      this.recordResponse({ token: m[2]!, kind: 'edit', body, ...(multipart.files.length > 0 ? { files: multipart.files } : {}) });
      return json(200, messageFrom(snowflake(), '0', body));
    }
    if (method === 'POST' && (m = /^\/webhooks\/(\d+)\/([^/]+)$/.exec(path))) {
      this.recordResponse({ token: m[2]!, kind: 'followup', body, ...(multipart.files.length > 0 ? { files: multipart.files } : {}) });
      return json(200, messageFrom(snowflake(), '0', body));
    }
    if (method === 'PUT' && (m = /^\/applications\/(\d+)(?:\/guilds\/(\d+))?\/commands$/.exec(path))) {
      // A server the bot is not in (or was added to without applications.commands): Discord's answer.
      if (m[2] && !this.guilds.some((g) => g.id === m![2])) return json(403, { message: 'Missing Access', code: 50001 });
      this.registeredCommands.set(m[2] ?? 'global', body as unknown[]);
      return json(
        200,
        (body as { name: string }[]).map((c) => ({ ...c, id: snowflake(), application_id: APP_ID, version: '1' })),
      );
    }
    if (method === 'POST' && path === '/users/@me/channels') {
      // A DM channel: the same one for a user every time.
      const userId = String(body?.recipient_id ?? '');
      if (!/^\d+$/.test(userId)) return json(400, invalidFormBody('recipient_id'));
      const channelId = this.dmChannelOf(userId) ?? snowflake();
      this.dmChannels.set(channelId, userId);
      return json(200, { id: channelId, type: 1, recipients: [{ id: userId, username: `user${userId.slice(-4)}`, discriminator: '0' }] });
    }
    if (method === 'GET' && path === '/users/@me') {
      return json(200, { id: BOT_USER_ID, username: 'dispatch', discriminator: '0', global_name: null, avatar: null, bot: true });
    }
    if (method === 'GET' && (m = /^\/guilds\/(\d+)\/(roles|channels|members\/(\d+))$/.exec(path))) {
      const injected = this.injectedReads.shift();
      if (injected) return json(injected.status, injected.body ?? { message: 'injected', code: 0 }, injected.headers);
      const guild = this.guilds.find((g) => g.id === m![1]);
      if (!guild) return json(404, { code: 10004, message: 'Unknown Guild' });
      if (m[2] === 'roles') return json(200, [everyoneRole(guild), ...(guild.roles ?? []).map((role, i) => rolePayload(role, i + 1))]);
      if (m[2] === 'channels')
        return json(
          200,
          guild.channels.map((c) => channelPayload(c, guild.id)),
        );
      if (m[3] === BOT_USER_ID)
        return json(200, { user: { id: BOT_USER_ID, username: 'dispatch', bot: true }, roles: [], joined_at: new Date().toISOString() });
      if (!guild.members?.includes(m[3]!)) return json(404, { code: 10007, message: 'Unknown Member' });
      return json(200, { user: { id: m[3], username: `user${m[3]!.slice(-4)}` }, roles: [], joined_at: new Date().toISOString() });
    }
    if (method === 'GET' && (m = /^\/channels\/(\d+)$/.exec(path))) {
      const found = this.findChannel(m[1]!);
      return found ? json(200, channelPayload(found.channel, found.guild.id)) : json(404, { code: 10003, message: 'Unknown Channel' });
    }
    return json(404, { code: 0, message: `fake Discord has no route ${method} ${path}` });
  }

  /** A 429 when the channel is past its rate limit (posts and edits count alike), else undefined. */
  private rateLimited(channelId: string, json: Json): true | undefined {
    const limit = this.options.channelRateLimit;
    if (!limit) return undefined;
    const now = Date.now();
    const recent = (this.sentTimes.get(channelId) ?? []).filter((t) => now - t < limit.windowMs);
    if (recent.length >= limit.messages) {
      this.rateLimitHits += 1;
      const retryAfter = (limit.windowMs - (now - recent[0]!)) / 1000;
      json(
        429,
        { message: 'You are being rate limited.', retry_after: retryAfter, global: false },
        { 'retry-after': String(Math.ceil(retryAfter)), 'x-ratelimit-scope': 'user' },
      );
      return true;
    }
    recent.push(now);
    this.sentTimes.set(channelId, recent);
    return undefined;
  }

  /** Where a message may be posted: a channel, a thread (checked against its parent's permissions), or a user's DMs (unless closed). */
  private postingProblem(channelId: string): (typeof ERRORS)[keyof typeof ERRORS] | 'unarchive' | undefined {
    const dmUser = this.dmChannels.get(channelId);
    if (dmUser !== undefined) return this.closedDms.has(dmUser) ? ERRORS.cannotDm : undefined;
    const thread = this.threads.get(channelId);
    const found = this.findChannel(thread?.parentId ?? channelId);
    if (!found) return ERRORS.unknownChannel;
    const denied = found.channel.deny ?? 0n;
    if (denied & PERMISSIONS.ViewChannel) return ERRORS.missingAccess;
    if (thread) {
      if (denied & PERMISSIONS.SendMessagesInThreads) return ERRORS.missingPermissions;
      if (thread.archived) return thread.locked ? ERRORS.threadArchived : 'unarchive';
      return undefined;
    }
    if (denied & (PERMISSIONS.SendMessages | PERMISSIONS.EmbedLinks)) return ERRORS.missingPermissions;
    return undefined;
  }

  private editMessage(channelId: string, messageId: string, body: any, json: Json, res: ServerResponse): void {
    const index = this.injectedEdits.findIndex((i) => i.messageId === undefined || i.messageId === messageId);
    let thenHang = false;
    let answerAfter: Promise<unknown> | undefined;
    if (index !== -1 && this.injectedEdits[index]!.response.answerAfter)
      answerAfter = this.injectedEdits.splice(index, 1)[0]!.response.answerAfter;
    else if (index !== -1) {
      const { response } = this.injectedEdits.splice(index, 1)[0]!;
      if (response.hang) return void this.hung.add(res);
      // Edit the message, then never answer: Discord did its part but the bot never hears of it.
      if (response.postThenHang) thenHang = true;
      else return json(response.status, response.body ?? { message: 'injected', code: 0 }, response.headers);
    }
    if (!thenHang && this.rateLimited(channelId, json)) return;
    const found = this.findChannel(this.threads.get(channelId)?.parentId ?? channelId);
    if (!found) return json(ERRORS.unknownChannel.status, ERRORS.unknownChannel.body);
    if ((found.channel.deny ?? 0n) & PERMISSIONS.ViewChannel) return json(ERRORS.missingAccess.status, ERRORS.missingAccess.body);
    if (this.threads.get(channelId)?.archived) return json(ERRORS.threadArchived.status, ERRORS.threadArchived.body);
    const message = this.messages.find((msg) => msg.id === messageId && msg.channel_id === channelId);
    if (!message) return json(ERRORS.unknownMessage.status, ERRORS.unknownMessage.body);
    if (message.byMember) return json(ERRORS.cannotEditOthers.status, ERRORS.cannotEditOthers.body);
    const next = {
      content: body?.content !== undefined ? body.content : message.content,
      embeds: body?.embeds ?? message.embeds,
      components: body?.components ?? message.components,
    };
    const invalid = invalidMessage(next);
    if (invalid) return json(400, invalidFormBody(invalid));
    Object.assign(message, next, { edits: message.edits + 1, editedAt: Date.now() });
    this.edits.push({ messageId, channelId, at: Date.now(), body });
    this.notifyMessage(message);
    if (thenHang) return void this.hung.add(res);
    if (answerAfter) return this.answerLater(answerAfter, () => json(200, messageFrom(message.id, channelId, message)));
    json(200, messageFrom(message.id, channelId, message));
  }

  private held = 0;

  /** Answers held on purpose (`answerAfter`) and not yet given. */
  heldAnswers(): number {
    return this.held;
  }

  private answerLater(after: Promise<unknown>, answer: () => void): void {
    this.held += 1;
    void after.then(() => {
      this.held -= 1;
      answer();
    });
  }

  /** GET /channels/{id}/messages?after=&limit=: the messages after one, oldest first here (Discord's order does not matter for a count). */
  private listMessages(channelId: string, query: URLSearchParams, json: Json): void {
    const found = this.findChannel(channelId);
    if (!found) return json(ERRORS.unknownChannel.status, ERRORS.unknownChannel.body);
    const denied = found.channel.deny ?? 0n;
    if (denied & PERMISSIONS.ViewChannel) return json(ERRORS.missingAccess.status, ERRORS.missingAccess.body);
    if (denied & PERMISSIONS.ReadMessageHistory) return json(200, []); // Discord answers an empty list without Read Message History
    const after = BigInt(query.get('after') ?? '0');
    const limit = Math.min(100, Number(query.get('limit') ?? 50));
    const newer = this.messagesIn(channelId).filter((msg) => BigInt(msg.id) > after);
    json(
      200,
      newer.slice(0, limit).map((msg) => messageFrom(msg.id, channelId, msg)),
    );
  }

  private startThread(channelId: string, messageId: string, body: any, json: Json): void {
    const found = this.findChannel(channelId);
    if (!found) return json(ERRORS.unknownChannel.status, ERRORS.unknownChannel.body);
    const denied = found.channel.deny ?? 0n;
    if (denied & PERMISSIONS.ViewChannel) return json(ERRORS.missingAccess.status, ERRORS.missingAccess.body);
    if (denied & PERMISSIONS.CreatePublicThreads) return json(ERRORS.missingPermissions.status, ERRORS.missingPermissions.body);
    if (!this.messages.some((msg) => msg.id === messageId && msg.channel_id === channelId))
      return json(ERRORS.unknownMessage.status, ERRORS.unknownMessage.body);
    if (this.threads.has(messageId)) return json(ERRORS.threadExists.status, ERRORS.threadExists.body);
    const name = String(body?.name ?? '');
    if (name.length < 1 || name.length > 100) return json(400, invalidFormBody('thread name must be 1 to 100 characters'));
    const thread: FakeThread = { id: messageId, parentId: channelId, name, archived: false, locked: false };
    this.threads.set(messageId, thread);
    json(201, threadPayload(thread, found.guild.id));
  }

  private createMessage(channelId: string, body: any, json: Json, res: ServerResponse): void {
    const index = this.injected.findIndex((i) => i.channelId === undefined || i.channelId === channelId);
    let answerAfter: Promise<unknown> | undefined;
    if (index !== -1 && this.injected[index]!.response.answerAfter) answerAfter = this.injected.splice(index, 1)[0]!.response.answerAfter;
    else if (index !== -1) {
      const { response } = this.injected.splice(index, 1)[0]!;
      if (response.hang) {
        this.hung.add(res);
        return;
      }
      // Discord posts (unless the nonce is one it remembers), then its answer is lost or an error.
      if (response.postThenHang) {
        if (!this.byNonce(channelId, body)) this.unanswered.add(this.storeMessage(channelId, body).id);
        this.hung.add(res);
        return;
      }
      if (response.postThenFail) {
        if (!this.byNonce(channelId, body)) this.unanswered.add(this.storeMessage(channelId, body).id);
        return json(response.postThenFail, { message: 'Internal Server Error', code: 0 });
      }
      if (response.status === 429) this.rateLimitHits += 1;
      return json(response.status, response.body ?? { message: 'injected', code: 0 }, response.headers);
    }
    if (this.rateLimited(channelId, json)) return;
    const problem = this.postingProblem(channelId);
    if (problem === 'unarchive')
      this.threads.get(channelId)!.archived = false; // posting unarchives a thread that is not locked
    else if (problem) return json(problem.status, problem.body);
    const invalid = invalidMessage(body);
    if (invalid) return json(400, invalidFormBody(invalid));
    const earlier = this.byNonce(channelId, body);
    if (earlier) {
      this.unanswered.delete(earlier.id); // the bot hears of it after all
      return json(200, messageFrom(earlier.id, channelId, earlier));
    }
    const message = this.storeMessage(channelId, body);
    if (answerAfter) return this.answerLater(answerAfter, () => json(200, messageFrom(message.id, channelId, message)));
    json(200, messageFrom(message.id, channelId, message));
  }

  /** enforce_nonce: the message the same nonce posted in this channel within the last few minutes, if any. */
  private byNonce(channelId: string, body: any): PostedMessage | undefined {
    if (!body?.enforce_nonce || body.nonce === undefined) return undefined;
    const now = this.now();
    return this.messages.find((msg) => msg.channel_id === channelId && msg.nonce === body.nonce && now - msg.nonceAt < NONCE_MEMORY_MS);
  }

  private storeMessage(channelId: string, body: any, { byMember = false } = {}): PostedMessage {
    const message: PostedMessage = {
      id: snowflake(),
      channel_id: channelId,
      at: Date.now(),
      content: body?.content,
      embeds: body?.embeds ?? [],
      allowed_mentions: body?.allowed_mentions,
      ...(typeof body?.flags === 'number' ? { flags: body.flags } : {}),
      nonce: body?.nonce,
      enforce_nonce: body?.enforce_nonce,
      components: body?.components ?? [],
      edits: 0,
      nonceAt: this.now(),
      ...(byMember ? { byMember } : {}),
    };
    this.messages.push(message);
    this.notifyMessage(message);
    return message;
  }

  /** Wakes whoever waits for a message like this one (posted, or edited into it). */
  private notifyMessage(message: PostedMessage): void {
    for (const waiter of this.messageWaiters.splice(0)) {
      if (waiter.match(message)) waiter.resolve(message);
      else this.messageWaiters.push(waiter);
    }
  }

  /** Channel-message requests received so far (answered or not). */
  messageRequests(channelId?: string): RecordedRequest[] {
    return this.requests.filter(
      (r) => r.method === 'POST' && /^\/channels\/\d+\/messages$/.test(r.path) && (!channelId || r.path.includes(channelId)),
    );
  }

  private recordResponse(response: FakeDiscord['interactionResponses'][number]): void {
    this.interactionResponses.push(response);
    for (const waiter of this.responseWaiters.splice(0)) {
      if (waiter.match(response)) waiter.resolve(response);
      else this.responseWaiters.push(waiter);
    }
  }

  findChannel(channelId: string): { guild: FakeGuild; channel: FakeChannel } | undefined {
    for (const guild of this.guilds) {
      const channel = guild.channels.find((c) => c.id === channelId);
      if (channel) return { guild, channel };
    }
    return undefined;
  }
}

export function messageFrom(id: string, channelId: string, body: any): Record<string, unknown> {
  return {
    id,
    channel_id: channelId,
    type: 0,
    content: body?.content ?? '',
    embeds: body?.embeds ?? [],
    author: { id: BOT_USER_ID, username: 'dispatch', discriminator: '0', bot: true, avatar: null, global_name: null },
    timestamp: new Date().toISOString(),
    edited_timestamp: null,
    tts: false,
    mention_everyone: false,
    mentions: [],
    mention_roles: [],
    attachments: [],
    pinned: false,
    flags: body?.flags ?? 0,
    components: body?.components ?? [],
  };
}

/** @everyone: its id is the guild's, and it carries the permissions the bot has unless a channel denies some. */
export function everyoneRole(guild: FakeGuild): Record<string, unknown> {
  return {
    id: guild.id,
    name: '@everyone',
    permissions: EVERYONE_PERMISSIONS.toString(),
    position: 0,
    color: 0,
    hoist: false,
    managed: false,
    mentionable: false,
    flags: 0,
  };
}

export function rolePayload(role: FakeRole, position = 1): Record<string, unknown> {
  return {
    id: role.id,
    name: role.name,
    permissions: '0',
    position,
    color: 0,
    hoist: false,
    managed: false,
    mentionable: role.mentionable ?? false,
    flags: 0,
  };
}

export function channelPayload(channel: FakeChannel, guildId: string): Record<string, unknown> {
  return {
    id: channel.id,
    type: channel.type,
    name: channel.name,
    guild_id: guildId,
    position: 0,
    permission_overwrites: channel.deny ? [{ id: guildId, type: 0, allow: '0', deny: channel.deny.toString() }] : [],
  };
}

export function threadPayload(thread: FakeThread, guildId: string): Record<string, unknown> {
  return {
    id: thread.id,
    type: 11,
    name: thread.name,
    guild_id: guildId,
    parent_id: thread.parentId,
    owner_id: BOT_USER_ID,
    thread_metadata: {
      archived: thread.archived,
      locked: thread.locked,
      auto_archive_duration: 10080,
      archive_timestamp: new Date().toISOString(),
    },
  };
}

function guildPayload(guild: FakeGuild): Record<string, unknown> {
  return {
    id: guild.id,
    name: guild.name,
    unavailable: false,
    owner_id: '100000000000000000',
    icon: null,
    features: [],
    member_count: 2,
    large: false,
    joined_at: new Date().toISOString(),
    roles: [everyoneRole(guild), ...(guild.roles ?? []).map((role, i) => rolePayload(role, i + 1))],
    channels: guild.channels.map((c) => channelPayload(c, guild.id)),
    members: [
      {
        user: { id: BOT_USER_ID, username: 'dispatch', discriminator: '0', bot: true, avatar: null, global_name: null },
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
  };
}

const LIMITS = {
  embeds: 10,
  total: 6000,
  title: 256,
  description: 4096,
  fields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footer: 2048,
  author: 256,
  content: 2000,
};

/** What Discord would refuse with 50035 in a message body, as Discord checks it; undefined when it is valid. */
function invalidMessage(body: any): string | undefined {
  const embeds: any[] = body?.embeds ?? [];
  if ((body?.content?.length ?? 0) > LIMITS.content) return 'content too long';
  if (embeds.length > LIMITS.embeds) return 'more than 10 embeds';
  let total = 0;
  for (const e of embeds) {
    const fields: any[] = e.fields ?? [];
    if ((e.title?.length ?? 0) > LIMITS.title) return 'embed title too long';
    if ((e.description?.length ?? 0) > LIMITS.description) return 'embed description too long';
    if (fields.length > LIMITS.fields) return 'more than 25 fields';
    if (fields.some((f) => !f.name || !f.value || f.name.length > LIMITS.fieldName || f.value.length > LIMITS.fieldValue))
      return 'bad field';
    if ((e.footer?.text?.length ?? 0) > LIMITS.footer) return 'footer too long';
    if ((e.author?.name?.length ?? 0) > LIMITS.author) return 'author name too long';
    for (const url of [e.url, e.author?.url, e.thumbnail?.url])
      if (url !== undefined && !/^https?:\/\/[\x21-\x7e]+$/.test(url)) return 'not a valid uri';
    total += (e.title?.length ?? 0) + (e.description?.length ?? 0) + (e.footer?.text?.length ?? 0) + (e.author?.name?.length ?? 0);
    for (const f of fields) total += f.name.length + f.value.length;
  }
  return total > LIMITS.total ? 'embeds over 6000 characters in all' : undefined;
}

function invalidFormBody(problem: string): Record<string, unknown> {
  return {
    code: 50035,
    message: 'Invalid Form Body',
    errors: { embeds: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message: problem }] } },
  };
}

/** discord.js sends multipart with files: the JSON in `payload_json`, each file in `files[n]`. */
function parseMultipart(text: string, contentType: string | undefined): { json: unknown; files: { name: string; content: string }[] } {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType ?? '');
  if (!text || !boundary) return { json: undefined, files: [] };
  let json: unknown;
  const files: { name: string; content: string }[] = [];
  for (const part of text.split(`--${boundary[1] ?? boundary[2]}`)) {
    const split = part.indexOf('\r\n\r\n');
    if (split === -1) continue;
    const headers = part.slice(0, split);
    const content = part.slice(split + 4).replace(/\r\n$/, '');
    const name = /name="([^"]+)"/.exec(headers)?.[1];
    const fileName = /filename="([^"]+)"/.exec(headers)?.[1];
    if (name === 'payload_json') json = JSON.parse(content);
    else if (fileName) files.push({ name: fileName, content });
  }
  return { json, files };
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`fake Discord: timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
