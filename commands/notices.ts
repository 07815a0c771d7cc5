import { takeNotices } from '../src/db/member-links.js';
import type { GuildId, UserId } from '../src/ids.js';
import type { Answer, CommandContext } from './types.js';

/**
 * A member's answer with what Dispatch was to tell them once put first (their DMs were found closed,
 * src/people/): read and cleared in one statement, so it is said once. With nothing else to say (a
 * click whose card shows the result), the notice alone.
 */
export async function withNotices(
  ctx: CommandContext,
  member: { guildId: GuildId; userId: UserId },
  answer: Answer | undefined,
): Promise<Answer | undefined> {
  const notices = await takeNotices(ctx.db, member.guildId, member.userId);
  if (notices.length === 0) return answer;
  const told = notices.map((n) => `ℹ️ ${n}`).join('\n');
  return { ...answer, content: [told, answer?.content].filter(Boolean).join('\n\n') };
}
