import { ChannelType, type SlashCommandChannelOption, type SlashCommandStringOption, type SlashCommandSubcommandBuilder } from 'discord.js';
import { SOURCE_NAME_MAX } from '../src/db/sources.js';
import { EVENT_PATTERN_MAX_LENGTH } from '../src/sentry/event-type.js';
import { LEVELS } from '../src/sentry/facts.js';

/** The options /dispatch's subcommands share (commands/dispatch.ts builds the command from them). */

export const NAME_MAX = SOURCE_NAME_MAX;

export const sourceOption = (option: SlashCommandStringOption) =>
  option.setName('source').setDescription('The source').setRequired(true).setAutocomplete(true).setMaxLength(NAME_MAX);

export const routeOption =
  (required: boolean, description = 'The route') =>
  (option: SlashCommandStringOption) =>
    option.setName('route').setDescription(description).setRequired(required).setAutocomplete(true).setMaxLength(NAME_MAX);

export const eventOption = (option: SlashCommandStringOption) =>
  option
    .setName('event')
    .setDescription('issue.created, issue.* or * (the default)')
    .setRequired(false)
    .setMaxLength(EVENT_PATTERN_MAX_LENGTH);

export const channelOption = (required: boolean, description: string) => (option: SlashCommandChannelOption) =>
  option
    .setName('channel')
    .setDescription(description)
    .setRequired(required)
    .addChannelTypes(ChannelType.GuildText, ChannelType.GuildAnnouncement);

export const LEVEL_CHOICES = LEVELS.map((level) => ({ name: level, value: level }));

export const layoutOption = (description: string) => (option: SlashCommandStringOption) =>
  option
    .setName('layout')
    .setDescription(description)
    .addChoices(
      { name: 'card: one live message per Sentry issue, edited as it changes', value: 'card' },
      { name: 'feed: one message per event', value: 'feed' },
    );

/** The options a route's filter and ping are set with, for `route add` and `route edit` (`-` clears a part). */
export function routeOptions(sub: SlashCommandSubcommandBuilder): SlashCommandSubcommandBuilder {
  return sub
    .addStringOption((o) =>
      o.setName('events').setDescription('Event patterns, e.g. "issue.*, !issue.resolved" (- to clear)').setMaxLength(1000),
    )
    .addStringOption((o) =>
      o
        .setName('min-level')
        .setDescription('Only events at or above this level (events without a level pass)')
        .addChoices(...LEVEL_CHOICES, { name: 'any (clear)', value: '-' }),
    )
    .addStringOption((o) => o.setName('environments').setDescription('e.g. "production, staging" (- to clear)').setMaxLength(1000))
    .addStringOption((o) => o.setName('projects').setDescription('Project slugs, e.g. "web, api" (- to clear)').setMaxLength(1000))
    .addStringOption((o) =>
      o.setName('tags').setDescription('key=value pairs, e.g. "customer=acme, region=eu" (- to clear)').setMaxLength(1000),
    )
    .addRoleOption((o) => o.setName('ping').setDescription('A role to mention for events at or above ping-level'))
    .addStringOption((o) =>
      o
        .setName('ping-level')
        .setDescription('Ping for events at or above this level (default error)')
        .addChoices(...LEVEL_CHOICES),
    );
}
