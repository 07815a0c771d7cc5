import { existsSync } from 'node:fs';
import { ConfigError, loadConfig } from './config.js';
import { deployCommands } from './discord/deploy.js';

/** `npm run deploy-commands`: registers /dispatch, globally or in DISCORD_GUILD_ID. Run it once per release. */
if (existsSync('.env')) process.loadEnvFile('.env');
try {
  const config = loadConfig(process.env);
  const result = await deployCommands({ token: config.discordToken, apiUrl: config.discordApiUrl, guildId: config.discordGuildId });
  const where = result.scope === 'guild' ? `in server ${config.discordGuildId}` : 'globally (may take up to an hour to appear)';
  console.log(`Registered /${result.names.join(', /')} ${where}.`);
} catch (error) {
  const message = error instanceof ConfigError ? `configuration error: ${error.message}` : (error as Error).message;
  console.error(`deploy-commands: ${message}`);
  process.exit(1);
}
