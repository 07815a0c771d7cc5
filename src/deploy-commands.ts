import { ConfigError, loadConfig, type Config } from './config.js';
import { readEnvironment } from './env-file.js';

const HELP = `npm run deploy-commands — registers /dispatch with Discord (once, and after each upgrade).

Reads DISCORD_TOKEN (and DISCORD_GUILD_ID, DISCORD_API_URL) from the environment or ./.env.
With DISCORD_GUILD_ID, /dispatch appears in that one server at once; without it, in every server
the bot is in, within about an hour. Prints the link that invites the bot with the permissions it
needs (open it again on a server to grant what the bot lacks there).`;

/** `npm run deploy-commands`: registers /dispatch, globally or in DISCORD_GUILD_ID, and prints the invite link. */
if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(HELP);
  process.exit(0);
}
const config = checkedConfig();
// Loaded once the settings are known to be right: discord.js and the command tree take a second.
const { DeployError, deployCommands, describeDeployFailure } = await import('./discord/deploy.js');
const { describeInvitePermissions, inviteUrl } = await import('./discord/invite.js');
const options = { token: config.discordToken, apiUrl: config.discordApiUrl, guildId: config.discordGuildId };
try {
  const result = await deployCommands(options);
  const where = result.scope === 'guild' ? `in server ${config.discordGuildId}` : 'globally (may take up to an hour to appear)';
  // Slash commands are named /dispatch; a message command by its label in the Apps menu.
  const names = result.names.map((name) => (/^[a-z-]+$/.test(name) ? `/${name}` : `"${name}"`));
  console.log(`Registered ${names.join(' and ')} ${where}.`);
  console.log(`Invite the bot with: ${inviteUrl(result.applicationId, config.discordGuildId)}`);
  console.log(`It asks for ${describeInvitePermissions()}.`);
} catch (error) {
  if (!(error instanceof DeployError)) throw error;
  console.error(`deploy-commands: ${describeDeployFailure(error, options)}`);
  process.exit(1);
}

function checkedConfig(): Config {
  try {
    return loadConfig(readEnvironment(process.env, process.cwd()));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) console.error(`deploy-commands: configuration error: ${problem}`);
    process.exit(1);
  }
}
