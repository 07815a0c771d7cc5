import { REST, Routes, type APIApplication } from 'discord.js';
import { commands, messageCommands } from '../../commands/index.js';
import { inviteUrl } from './invite.js';
import { isTokenRefused, TOKEN_REFUSED } from './token-refused.js';

export interface DeployResult {
  scope: 'global' | 'guild';
  names: string[];
  /** The application the token belongs to: what the invite URL names. */
  applicationId: string;
}

/** Registering failed after the application was known: its id, for the hint. */
export class DeployError extends Error {
  constructor(
    readonly applicationId: string | undefined,
    override readonly cause: unknown,
  ) {
    super((cause as Error)?.message ?? String(cause));
  }
}

/**
 * Replaces the application's command tree with ours (a PUT is atomic on Discord's side).
 * Global commands reach every server within about an hour; guild commands at once.
 */
export async function deployCommands(options: { token: string; apiUrl: string; guildId?: string }): Promise<DeployResult> {
  const rest = new REST({ api: options.apiUrl }).setToken(options.token);
  let applicationId: string | undefined;
  try {
    applicationId = ((await rest.get(Routes.currentApplication())) as APIApplication).id;
    const body = [...commands, ...messageCommands].map((command) => command.data.toJSON());
    const route = options.guildId
      ? Routes.applicationGuildCommands(applicationId, options.guildId)
      : Routes.applicationCommands(applicationId);
    await rest.put(route, { body });
    return { scope: options.guildId ? 'guild' : 'global', names: body.map((c) => c.name), applicationId };
  } catch (error) {
    throw new DeployError(applicationId, error);
  }
}

/** Discord's refusal in one line with what to do: a token it refuses, a server the bot cannot register in. */
export function describeDeployFailure(error: DeployError, options: { apiUrl: string; guildId?: string }): string {
  const { cause, applicationId } = error;
  if (isTokenRefused(cause)) return TOKEN_REFUSED;
  const code = (cause as { code?: unknown })?.code;
  if ((code === 50001 || code === 10004) && options.guildId && applicationId) {
    return `Discord refused to register /dispatch in server ${options.guildId} (${code === 50001 ? '50001 Missing Access' : '10004 Unknown Guild'}): the bot is not in that server, or was invited without the applications.commands scope. Invite it with ${inviteUrl(applicationId, options.guildId)} , or correct DISCORD_GUILD_ID`;
  }
  if (typeof code === 'string' && /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|UND_ERR)/.test(code)) {
    return `could not reach Discord at DISCORD_API_URL ${options.apiUrl} (${error.message}): check the network, or unset DISCORD_API_URL`;
  }
  return error.message;
}
