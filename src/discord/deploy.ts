import { REST, Routes, type APIApplication } from 'discord.js';
import { commands } from '../../commands/index.js';

export interface DeployResult {
  scope: 'global' | 'guild';
  names: string[];
}

/**
 * Replaces the application's command tree with ours (a PUT is atomic on Discord's side).
 * Global commands reach every server within about an hour; guild commands at once.
 */
export async function deployCommands(options: { token: string; apiUrl: string; guildId?: string }): Promise<DeployResult> {
  const rest = new REST({ api: options.apiUrl }).setToken(options.token);
  const application = (await rest.get(Routes.currentApplication())) as APIApplication;
  const body = commands.map((command) => command.data.toJSON());
  const route = options.guildId
    ? Routes.applicationGuildCommands(application.id, options.guildId)
    : Routes.applicationCommands(application.id);
  await rest.put(route, { body });
  return { scope: options.guildId ? 'guild' : 'global', names: body.map((c) => c.name) };
}
