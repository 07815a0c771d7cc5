/** Where a bot's token is made again: the application's Bot page in the developer portal. */
export const DEVELOPER_PORTAL = 'https://discord.com/developers/applications';

/** What to do when Discord refuses DISCORD_TOKEN (401): the one sentence start-up and deploy-commands print. */
export const TOKEN_REFUSED = `DISCORD_TOKEN was refused by Discord (401 Unauthorized): copy the bot's token again from ${DEVELOPER_PORTAL} → your application → Bot → Reset Token, and set DISCORD_TOKEN to it`;

/** Discord answered 401 to the token: discord.js's login says TokenInvalid, its REST client the status. */
export function isTokenRefused(error: unknown): boolean {
  const { code, status } = (error ?? {}) as { code?: unknown; status?: unknown };
  return code === 'TokenInvalid' || status === 401;
}
