import {
  ActionRowBuilder,
  ButtonBuilder,
  ButtonStyle,
  EmbedBuilder,
  MessageFlags,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type InteractionReplyOptions,
} from 'discord.js';
import { backlogOfSource } from '../src/db/events.js';
import { holdOf, holdsOfChannels } from '../src/db/holds.js';
import type { Source } from '../src/db/schema.js';
import { listSources, setSourceEnabled } from '../src/db/sources.js';
import { isFlooding } from '../src/delivery/policy.js';
import { postOnce } from '../src/delivery/post-once.js';
import { assertCanPostIn } from '../src/discord/channel-check.js';
import { COLORS } from '../src/embed/colors.js';
import { escapeText } from '../src/embed/markdown.js';
import { renderEvent } from '../src/render/render-event.js';
import { SAMPLE_EVENT_TYPE, sampleIssueCreated } from '../src/sentry/samples.js';
import { UserError } from '../src/user-error.js';
import { customId, ephemeral, failureText, relativeTime, webhookUrl } from './replies.js';
import { requireSource } from './source-lookup.js';
import { statusLine } from './source-status.js';
import type { CommandContext, ComponentHandler } from './types.js';

type Interaction = ChatInputCommandInteraction<'cached'>;

const LIST_PAGE_SIZE = 10;

function sourceOption(interaction: Interaction, ctx: CommandContext): Promise<Source> {
  return requireSource(ctx, interaction.guildId, interaction.options.getString('source', true));
}

/** One page of `/dispatch source list`, with buttons when there are more pages. */
async function listPage(
  interaction: Interaction | ButtonInteraction<'cached'>,
  ctx: CommandContext,
  page: number,
): Promise<InteractionReplyOptions> {
  const sources = await listSources(ctx.db, interaction.guildId);
  const pages = Math.max(1, Math.ceil(sources.length / LIST_PAGE_SIZE));
  const current = Math.min(Math.max(0, page), pages - 1);
  const shown = sources.slice(current * LIST_PAGE_SIZE, (current + 1) * LIST_PAGE_SIZE);
  const holds = await holdsOfChannels(
    ctx.db,
    shown.map((s) => s.channelId),
  );
  const lines: string[] = [];
  for (const s of shown) {
    const hold = holds.get(s.channelId);
    const waiting = hold ? (await backlogOfSource(ctx.db, s.id)).waiting : undefined;
    const status = statusLine(s, hold, interaction.guild, waiting);
    lines.push(
      `**${s.name}** → <#${s.channelId}> · ${status} · secret ${s.signingSecret ? 'yes' : '**no**'} · last event ${relativeTime(s.lastEventAt)}`,
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
  return ephemeral('', { embeds: [embed], components });
}

export async function listCommand(interaction: Interaction, ctx: CommandContext): Promise<void> {
  await interaction.reply(await listPage(interaction, ctx, 0));
}

export const listPageButton: ComponentHandler = {
  action: 'list',
  async handle(interaction, [page], ctx) {
    if (!interaction.isButton()) throw new UserError('This button is not valid any more.');
    const { content: _content, flags: _flags, ...update } = await listPage(interaction, ctx, Number(page) || 0);
    await interaction.update(update);
  },
};

/** Whether the source's backlog is being collapsed into summaries, in words: the worker's own rule. */
async function floodState(source: Source, ctx: Pick<CommandContext, 'db' | 'now' | 'flood'>): Promise<string> {
  const backlog = await backlogOfSource(ctx.db, source.id);
  const collapsed =
    source.eventsCollapsed > 0
      ? ` · ${source.eventsCollapsed} events collapsed into ${source.floodSummaries} summaries so far, last ${relativeTime(source.lastFloodAt)}`
      : '';
  if (isFlooding(backlog, ctx.now(), ctx.flood)) {
    return `🌊 flooding: ${backlog.waiting} waiting since ${relativeTime(backlog.oldestReceivedAt)}; waiting events are summarized${collapsed}`;
  }
  return `no (summaries start past ${ctx.flood.threshold} waiting for ${Math.round(ctx.flood.afterMs / 1000)} s)${collapsed}`;
}

export async function infoCommand(interaction: Interaction, ctx: CommandContext): Promise<void> {
  const source = await sourceOption(interaction, ctx);
  const { waiting } = await backlogOfSource(ctx.db, source.id);
  const hold = await holdOf(ctx.db, source.channelId);
  const embed = new EmbedBuilder()
    .setTitle(`Source ${source.name}`)
    .setColor(source.enabled ? COLORS.blue : COLORS.gray)
    .addFields(
      { name: 'Webhook URL', value: `\`${webhookUrl(ctx.publicUrl, source)}\`` },
      { name: 'Channel', value: `<#${source.channelId}>`, inline: true },
      { name: 'Status', value: statusLine(source, hold, interaction.guild, waiting), inline: !hold },
      {
        name: 'Signing secret',
        value: source.signingSecret
          ? 'set'
          : ctx.requireSignature
            ? '⚠️ **not set**: every webhook is refused (401) until one is set with `/dispatch source secret`'
            : '⚠️ **not set**: anyone with the URL can post to this channel. Set one with `/dispatch source secret`.',
        inline: !!source.signingSecret,
      },
      { name: 'Received', value: String(source.eventsReceived), inline: true },
      { name: 'Delivered', value: String(source.eventsDelivered), inline: true },
      { name: 'Failed', value: String(source.eventsFailed), inline: true },
      { name: 'Waiting', value: String(waiting), inline: true },
      { name: 'Last event', value: relativeTime(source.lastEventAt), inline: true },
      { name: 'Created', value: `${relativeTime(source.createdAt)} by <@${source.createdBy}>`, inline: true },
      { name: 'Flood', value: await floodState(source, ctx) },
    );
  if (hold) {
    embed.addFields({
      name: 'On hold: what to do',
      value:
        'Fix what is named above, then run `/dispatch source retry`. Dispatch also tries by itself every 10 minutes, and a few seconds after a channel or role of this server changes.',
    });
  }
  if (source.lastError) {
    embed.addFields({ name: 'Last error', value: failureText(source.lastError, source.lastErrorAt) });
  }
  if (source.lastTemplateError) {
    embed.addFields({ name: 'Last template failure', value: failureText(source.lastTemplateError, source.lastTemplateErrorAt) });
  }
  await interaction.reply(ephemeral('', { embeds: [embed] }));
}

export async function enableCommand(interaction: Interaction, ctx: CommandContext): Promise<void> {
  const source = await sourceOption(interaction, ctx);
  assertCanPostIn(interaction.guild, source.channelId);
  await setSourceEnabled(ctx.db, source, true, ctx.now());
  ctx.logger.info({ source_id: source.id, guild_id: source.guildId, user_id: interaction.user.id }, 'source enabled');
  await interaction.reply(ephemeral(`▶️ Source **${source.name}** is enabled: events are posted in <#${source.channelId}> again.`));
}

export async function disableCommand(interaction: Interaction, ctx: CommandContext): Promise<void> {
  const source = await sourceOption(interaction, ctx);
  await setSourceEnabled(ctx.db, source, false, ctx.now());
  ctx.logger.info({ source_id: source.id, guild_id: source.guildId, user_id: interaction.user.id }, 'source disabled');
  await interaction.reply(
    ephemeral(
      `⏸️ Source **${source.name}** is disabled: its URL now answers 404 and nothing is posted. Events already accepted wait until you enable it again.`,
    ),
  );
}

/** Posts a sample embed now, and says exactly why when Discord refuses. */
export async function testCommand(interaction: Interaction, ctx: CommandContext): Promise<void> {
  const source = await sourceOption(interaction, ctx);
  await interaction.deferReply({ flags: MessageFlags.Ephemeral });
  let outcome: { ok: true } | { ok: false; reason: string };
  try {
    assertCanPostIn(interaction.guild, source.channelId);
    const sample = renderEvent({
      eventType: SAMPLE_EVENT_TYPE,
      receivedAt: ctx.now(),
      body: JSON.stringify(sampleIssueCreated(ctx.now())),
    });
    outcome = await postOnce(ctx.send, source.channelId, sample);
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    outcome = { ok: false, reason: error.message };
  }
  const content = outcome.ok
    ? `✅ Posted a sample event in <#${source.channelId}>.`
    : `❌ Could not post to <#${source.channelId}>: ${escapeText(outcome.reason)}`;
  await interaction.editReply({ content, allowedMentions: { parse: [] } });
}
