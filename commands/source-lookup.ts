import type { Source } from '../src/db/schema.js';
import { canonicalSourceName, findSource, findSourceById, SOURCE_NAME_MAX, SOURCE_NAME_PATTERN } from '../src/db/sources.js';
import { UserError } from '../src/user-error.js';
import type { CommandContext } from './types.js';
import { parseSourceId, type GuildId } from '../src/ids.js';

/** A name typed by a member, checked; the error says what a name may be. */
export function sourceNameFrom(raw: string): string {
  const name = canonicalSourceName(raw);
  if (!SOURCE_NAME_PATTERN.test(name)) {
    throw new UserError(
      `A source name is 1 to ${SOURCE_NAME_MAX} characters: lowercase letters, digits, "-" and "_", starting with a letter or digit.`,
    );
  }
  return name;
}

/** For display only: user-typed text echoed back must not mention or format. */
function displayName(text: string): string {
  return text.replace(/[^a-zA-Z0-9 _.-]/g, '').slice(0, SOURCE_NAME_MAX) || '?';
}

export const nameTaken = (name: string) => new UserError(`A source named "${name}" already exists in this server.`);

/** The source a member named, in their server; an unknown name is their error. */
export async function requireSource(ctx: CommandContext, guildId: GuildId, name: string): Promise<Source> {
  const source = await findSource(ctx.db, guildId, name);
  if (!source) throw new UserError(`No source named "${displayName(name)}" in this server.`);
  return source;
}

/** Looks a source up by the id a component carries, only within the guild the interaction comes from. */
export async function sourceById(ctx: CommandContext, guildId: GuildId, id: string | undefined): Promise<Source> {
  const sourceId = parseSourceId(id);
  const source = sourceId === undefined ? undefined : await findSourceById(ctx.db, guildId, sourceId);
  if (!source) throw new UserError('That source no longer exists.');
  return source;
}
