import type { ChannelId } from '../ids.js';

/**
 * What replicas agree on, through Postgres's own primitives (no consensus of ours): which one holds
 * the Discord gateway (an advisory lock), which one sends to each channel (an advisory lock per
 * channel), that new events exist (LISTEN/NOTIFY), and how many replicas share the bot's global
 * rate limit (their coordination connections in pg_stat_activity). Session locks live and die with
 * the connection, so a replica killed mid-send frees its leadership and channels at once.
 *
 * With SQLite there is one process: it leads, and every channel is its own. The Postgres
 * coordinator is in postgres-coordinator.ts, loaded only with DATABASE_URL (pg stays out of a
 * SQLite process's memory and start-up).
 */
export interface Coordinator {
  /** `single` (SQLite), or with Postgres `leader` (holds the gateway) or `standby`. */
  role(): 'single' | 'leader' | 'standby';
  /** Called when this replica becomes the leader, and when it stops being one. */
  onLeadership(listener: (leader: boolean) => void): void;
  /** Takes the right to send to a channel; false while another replica has it. */
  takeChannel(channelId: ChannelId): Promise<boolean>;
  releaseChannel(channelId: ChannelId): Promise<void>;
  /** Tells the other replicas that events (or a change that makes some due) were stored. */
  announce(): void;
  /** Called when another replica announces. */
  onAnnounce(listener: () => void): void;
  /** Live replicas, this one included. */
  replicas(): number;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** One process on SQLite: it leads, holds every channel, and needs to tell nobody. */
export function singleProcess(): Coordinator {
  const leadership: ((leader: boolean) => void)[] = [];
  return {
    role: () => 'single',
    onLeadership: (listener) => void leadership.push(listener),
    takeChannel: async () => true,
    releaseChannel: async () => {},
    announce: () => {},
    onAnnounce: () => {},
    replicas: () => 1,
    start: async () => {
      for (const listener of leadership) listener(true);
    },
    stop: async () => {},
  };
}
