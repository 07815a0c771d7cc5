import { DiscordAPIError, HTTPError, RateLimitError } from 'discord.js';

/**
 * Discord's answers that delivery acts on, in one table (discord-api-docs: "JSON Error Codes").
 * Which of them hold a channel, and what a person must do then, is below; what each means for a
 * batch is decided in classify-error.ts and policy.ts.
 */
export const DISCORD = {
  UNKNOWN_CHANNEL: 10003,
  UNKNOWN_MESSAGE: 10008,
  UNKNOWN_USER: 10013,
  /** Too many edits to a message older than an hour. */
  EDIT_CAP: 30046,
  MISSING_ACCESS: 50001,
  MISSING_PERMISSIONS: 50013,
  /** A direct message the user does not accept (DMs closed to the bot, or the bot blocked). */
  CANNOT_DM: 50007,
  INVALID_FORM_BODY: 50035,
  THREAD_ARCHIVED: 50083,
  THREAD_EXISTS: 160004,
} as const;

/** What a person can fix: the channel is put on hold with this explanation until they do. */
export const HOLD_REASONS = new Map<number, string>([
  [DISCORD.MISSING_ACCESS, 'Missing Access: the bot cannot see the channel'],
  [DISCORD.MISSING_PERMISSIONS, 'Missing Permissions: the bot needs View Channel, Send Messages and Embed Links in the channel'],
  [DISCORD.UNKNOWN_CHANNEL, 'Unknown Channel: the channel was deleted'],
]);

/**
 * Refusals of a direct message that mean Discord will not let it reach the member (DMs closed, the
 * user or the DM channel unknown, no access to it): the member's to fix, never a channel to hold.
 */
export const MEMBER_UNREACHABLE = new Set<number>([
  DISCORD.CANNOT_DM,
  DISCORD.UNKNOWN_USER,
  DISCORD.UNKNOWN_CHANNEL,
  DISCORD.MISSING_ACCESS,
  DISCORD.MISSING_PERMISSIONS,
]);

/** Refusals that mean the bot may not do this in the channel (threads, unarchiving), not that the channel is gone. */
export const NO_ACCESS = new Set<number>([DISCORD.MISSING_ACCESS, DISCORD.MISSING_PERMISSIONS]);

/** Discord's error code of a refusal, if Discord answered one. */
export function discordCode(error: unknown): number | undefined {
  return error instanceof DiscordAPIError ? Number(error.code) : undefined;
}

/**
 * Discord could not be reached or did not answer in time (a network error, a reset, a timeout):
 * raised by the REST adapter (sender.ts) around any such failure, so that only Discord's own
 * troubles count as a Discord outage.
 */
export class DiscordUnreachable extends Error {
  constructor(cause: unknown) {
    const what = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    super(`Discord could not be reached: ${what}`, { cause });
    this.name = 'DiscordUnreachable';
  }
}

/** A failure of Discord's (an answer, a status, an unreachable server), as opposed to one of Dispatch's own. */
export function isDiscordFailure(error: unknown): boolean {
  return (
    error instanceof DiscordAPIError || error instanceof HTTPError || error instanceof RateLimitError || error instanceof DiscordUnreachable
  );
}
