import { guildOf } from '../src/ids.js';
import { ActionRowBuilder, ButtonBuilder, ButtonStyle, EmbedBuilder, type ButtonInteraction } from 'discord.js';
import { backlogOfRoute, waitingOfSource } from '../src/db/queue.js';
import { holdsOfChannels } from '../src/db/holds.js';
import { routesOf, routesOfSources } from '../src/db/routes.js';
import { KEY_FILE_ADVICE, type KeyPlace } from '../src/db/key-file.js';
import type { Hold, Route, Source } from '../src/db/schema.js';
import { listSources, setSourceEnabled } from '../src/db/sources.js';
import { isFlooding } from '../src/delivery/policy.js';
import { truncate } from '../src/embed/text.js';
import { postOnce } from '../src/delivery/post-once.js';
import { assertCanPostIn } from '../src/discord/channel-check.js';
import { COLORS } from '../src/embed/colors.js';
import { escapeText } from '../src/embed/markdown.js';
import { renderEvent } from '../src/render/render-event.js';
import { SAMPLE_EVENT_TYPE, sampleIssueCreated } from '../src/sentry/samples.js';
import { UserError } from '../src/user-error.js';
import { webhookUrlWarning } from '../src/public-url.js';
import { customId, failureText, relativeTime, webhookUrl } from './replies.js';
import { describeRoute } from './route.js';
import { describeSchedule } from './route-schedule.js';
import { sentryApiLine } from './source-connect.js';
import { requireSource } from './source-lookup.js';
import { statusLine } from './source-status.js';
import type { Answer, CommandContext, CommandInvocation, ComponentHandler } from './types.js';

type Interaction = CommandInvocation;

const LIST_PAGE_SIZE = 10;

function sourceOption(interaction: Interaction, ctx: CommandContext): Promise<Source> {
  return requireSource(ctx, guildOf(interaction), interaction.options.getString('source', true));
}

/** One page of `/dispatch source list`, with buttons when there are more pages. */
async function listPage(interaction: Interaction | ButtonInteraction<'cached'>, ctx: CommandContext, page: number): Promise<Answer> {
  const sources = await listSources(ctx.db, guildOf(interaction));
  const pages = Math.max(1, Math.ceil(sources.length / LIST_PAGE_SIZE));
  const current = Math.min(Math.max(0, page), pages - 1);
  const shown = sources.slice(current * LIST_PAGE_SIZE, (current + 1) * LIST_PAGE_SIZE);
  const routes = await routesOfSources(
    ctx.db,
    shown.map((s) => s.id),
  );
  const lines: string[] = [];
  for (const s of shown) {
    const own = routes.get(s.id) ?? [];
    const holds = await holdsOf(ctx, own);
    const waiting = holds.length > 0 ? await waitingOfSource(ctx.db, s.id) : undefined;
    const channels = [...new Set(own.map((r) => `<#${r.channelId}>`))].join(', ');
    const status = statusLine(s, holds, interaction.guild, waiting);
    lines.push(
      `**${s.name}** → ${channels} · ${status} · secret ${s.signingSecret ? 'yes' : '**no**'} · last event ${relativeTime(s.lastEventAt)}`,
    );
  }
  const embed = new EmbedBuilder()
    .setTitle(`Sentry sources (${sources.length})`)
    .setColor(COLORS.blue)
    .setDescription(lines.length > 0 ? lines.join('\n') : 'No sources yet. Create one with `/dispatch source create`.');
  if (pages > 1) embed.setFooter({ text: `Page ${current + 1} of ${pages}` });
  const components =
    pages > 1
      ? [
          new ActionRowBuilder<ButtonBuilder>().addComponents(
            new ButtonBuilder()
              .setCustomId(customId('list', current - 1))
              .setLabel('Previous')
              .setStyle(ButtonStyle.Secondary)
              .setDisabled(current === 0),
            new ButtonBuilder()
              .setCustomId(customId('list', current + 1))
              .setLabel('Next')
              .setStyle(ButtonStyle.Secondary)
              .setDisabled(current === pages - 1),
          ),
        ]
      : [];
  return { embeds: [embed], components };
}

export function listCommand(interaction: Interaction, ctx: CommandContext): Promise<Answer> {
  return listPage(interaction, ctx, 0);
}

export const listPageButton: ComponentHandler = {
  action: 'list',
  // The page shown is replaced by the one asked for.
  acknowledge: 'update',
  async handle(interaction, [page], ctx) {
    if (!interaction.isButton()) throw new UserError('This button is not valid any more.');
    return listPage(interaction, ctx, Number(page) || 0);
  },
};

/** The holds on the channels a source's routes post to. */
async function holdsOf(ctx: CommandContext, routes: readonly Route[]): Promise<Hold[]> {
  return [
    ...(
      await holdsOfChannels(
        ctx.db,
        routes.map((r) => r.channelId),
      )
    ).values(),
  ];
}

/** Whether a route's backlog is being collapsed into summaries, in words: the worker's own rule. */
async function floodState(source: Source, routes: readonly Route[], ctx: Pick<CommandContext, 'db' | 'now' | 'flood'>): Promise<string> {
  const collapsed =
    source.eventsCollapsed > 0
      ? ` · ${source.eventsCollapsed} events collapsed into ${source.floodSummaries} summaries so far, last ${relativeTime(source.lastFloodAt)}`
      : '';
  const flooding: string[] = [];
  for (const route of routes) {
    const backlog = await backlogOfRoute(ctx.db, route.id);
    if (isFlooding(backlog, ctx.now(), ctx.flood)) {
      flooding.push(
        `🌊 ${route.name} flooding: ${backlog.waiting} waiting since ${relativeTime(backlog.oldestReceivedAt)}; waiting events are summarized`,
      );
    }
  }
  if (flooding.length > 0) return flooding.join('\n') + collapsed;
  return `no (summaries start past ${ctx.flood.threshold} waiting on a route for ${Math.round(ctx.flood.afterMs / 1000)} s)${collapsed}`;
}

/** Where the key that seals the secret and token is: a path on the host, never the key. */
function sealedWith(place: KeyPlace): string {
  if (place.kind === 'variable') return 'sealed with DISPATCH_ENCRYPTION_KEY';
  if (place.kind === 'file') return `sealed with the key file \`${place.path}\` on the host (${KEY_FILE_ADVICE})`;
  return 'kept in plain text (no key: an in-memory database)';
}

/** A route in one line, with what its filter kept out (and its quiet hours and digest on the next, if any). */
function routeLine(route: Route, now: number): string {
  const schedule = describeSchedule(route, now);
  return `**${route.name}** → ${describeRoute(route)} · filtered out ${route.eventsFiltered}${schedule ? `\n${schedule}` : ''}`;
}

export async function infoCommand(interaction: Interaction, ctx: CommandContext): Promise<Answer> {
  const source = await sourceOption(interaction, ctx);
  const routes = await routesOf(ctx.db, source.id);
  const waiting = await waitingOfSource(ctx.db, source.id);
  const holds = await holdsOf(ctx, routes);
  const embed = new EmbedBuilder()
    .setTitle(`Source ${source.name}`)
    .setColor(source.enabled ? COLORS.blue : COLORS.gray)
    .addFields(
      {
        name: 'Webhook URL',
        value: [`\`${webhookUrl(ctx.publicUrl, source)}\``, webhookUrlWarning(ctx.publicUrl)].filter(Boolean).join('\n'),
      },
      {
        name: routes.length === 1 ? 'Route' : `Routes (${routes.length})`,
        value: truncate(routes.map((route) => routeLine(route, ctx.now())).join('\n'), 1024),
      },
      { name: 'Status', value: truncate(statusLine(source, holds, interaction.guild, waiting), 1024), inline: holds.length === 0 },
      {
        name: 'Signing secret',
        value: source.signingSecret
          ? `set · ${sealedWith(ctx.keyPlace)}`
          : ctx.requireSignature
            ? '⚠️ **not set**: every webhook is refused (401) until one is set with `/dispatch source secret`'
            : '⚠️ **not set**: anyone with the URL can post to this channel. Set one with `/dispatch source secret`.',
        inline: false,
      },
      { name: 'Sentry API', value: truncate(sentryApiLine(source), 1024) },
      // Two units: events arrive once; each is delivered once per route that takes it (a card's follow-ups too).
      { name: 'Events received', value: String(source.eventsReceived), inline: true },
      { name: 'Deliveries posted', value: String(source.eventsDelivered), inline: true },
      { name: 'Deliveries failed', value: String(source.eventsFailed), inline: true },
      { name: 'Deliveries waiting', value: String(waiting), inline: true },
      { name: 'Last event', value: relativeTime(source.lastEventAt), inline: true },
      { name: 'Created', value: `${relativeTime(source.createdAt)} by <@${source.createdBy}>`, inline: true },
      { name: 'Flood', value: truncate(await floodState(source, routes, ctx), 1024) },
    );
  embed.setFooter({ text: 'An event is received once and delivered once to each route that takes it.' });
  if (holds.length > 0) {
    embed.addFields({
      name: 'On hold: what to do',
      value:
        'Fix what is named above, then run `/dispatch source retry`. Dispatch also tries by itself every 10 minutes, and a few seconds after a channel or role of this server changes.',
    });
  }
  if (source.eventsDropped > 0) {
    embed.addFields({
      name: 'Dropped',
      value: `${source.eventsDropped} event deliveries were still waiting when their route was removed, and were not posted.`,
    });
  }
  if (source.lastError) {
    embed.addFields({ name: 'Last error', value: failureText(source.lastError, source.lastErrorAt) });
  }
  if (source.lastTemplateError) {
    embed.addFields({ name: 'Last template failure', value: failureText(source.lastTemplateError, source.lastTemplateErrorAt) });
  }
  return { embeds: [embed] };
}

export async function enableCommand(interaction: Interaction, ctx: CommandContext): Promise<Answer> {
  const source = await sourceOption(interaction, ctx);
  const channels = [...new Set((await routesOf(ctx.db, source.id)).map((r) => r.channelId))];
  for (const channelId of channels) assertCanPostIn(interaction.guild, channelId);
  await setSourceEnabled(ctx.db, source, true, ctx.now());
  // What waited while it was disabled goes now (the worker's periodic pass would find it within seconds anyway).
  ctx.wakeDelivery();
  ctx.logger.info({ source_id: source.id, guild_id: source.guildId, user_id: interaction.user.id }, 'source enabled');
  return { content: `▶️ Source **${source.name}** is enabled: events are posted in ${channels.map((c) => `<#${c}>`).join(', ')} again.` };
}

export async function disableCommand(interaction: Interaction, ctx: CommandContext): Promise<Answer> {
  const source = await sourceOption(interaction, ctx);
  await setSourceEnabled(ctx.db, source, false, ctx.now());
  ctx.logger.info({ source_id: source.id, guild_id: source.guildId, user_id: interaction.user.id }, 'source disabled');
  return {
    content: `⏸️ Source **${source.name}** is disabled: its URL now answers 404 and nothing is posted. Events already accepted wait until you enable it again.`,
  };
}

/** Posts a sample embed in each channel the source's routes post to, and says exactly why when Discord refuses. */
export async function testCommand(interaction: Interaction, ctx: CommandContext): Promise<Answer> {
  const source = await sourceOption(interaction, ctx);
  const sample = renderEvent({ eventType: SAMPLE_EVENT_TYPE, receivedAt: ctx.now(), body: JSON.stringify(sampleIssueCreated(ctx.now())) });
  const lines: string[] = [];
  for (const channelId of new Set((await routesOf(ctx.db, source.id)).map((r) => r.channelId))) {
    let outcome: { ok: true } | { ok: false; reason: string };
    try {
      assertCanPostIn(interaction.guild, channelId);
      outcome = await postOnce(ctx.send, channelId, sample);
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      outcome = { ok: false, reason: error.message };
    }
    lines.push(
      outcome.ok ? `✅ Posted a sample event in <#${channelId}>.` : `❌ Could not post to <#${channelId}>: ${escapeText(outcome.reason)}`,
    );
  }
  return { content: lines.join('\n') };
}
