import { EmbedBuilder, type ChatInputCommandInteraction } from 'discord.js';
import { recentEvents, retrySource } from '../src/db/events.js';
import { deferProbe, holdOf } from '../src/db/holds.js';
import type { EventRow, Hold } from '../src/db/schema.js';
import { COLORS } from '../src/embed/colors.js';
import { escapeText } from '../src/embed/markdown.js';
import { EMBED_LIMITS } from '../src/embed/limits.js';
import { truncate } from '../src/embed/text.js';
import { UserError } from '../src/user-error.js';
import { ephemeral, relativeTime } from './replies.js';
import { requireSource } from './source-lookup.js';
import { holdReason } from './source-status.js';
import type { CommandContext } from './types.js';

type Interaction = ChatInputCommandInteraction<'cached'>;

const LOG_LENGTH = 20;

/**
 * `/dispatch source retry`: everything the source has waiting is due now (a held channel is sent
 * one message to see whether it works again), and its failed events still within retention are
 * queued again. Each is posted once: an event keeps the nonce of its batch.
 */
export async function retryCommand(interaction: Interaction, ctx: CommandContext): Promise<void> {
  const source = await requireSource(ctx, interaction.guildId, interaction.options.getString('source', true));
  if (!source.enabled) throw new UserError(`**${source.name}** is disabled. Enable it with \`/dispatch source enable\` first.`);
  const now = ctx.now();
  const hold = await holdOf(ctx.db, source.channelId);
  if (hold) await deferProbe(ctx.db, source.channelId, now);
  const { requeued, waiting } = await retrySource(ctx.db, source.id, now);
  ctx.wakeDelivery();
  ctx.logger.info({ source_id: source.id, guild_id: source.guildId, user_id: interaction.user.id, requeued, waiting }, 'delivery retried');
  const lines = [
    `🔁 Trying **${source.name}** again now: ${waiting} waiting event${waiting === 1 ? '' : 's'}, ${requeued} failed event${requeued === 1 ? '' : 's'} queued again.`,
    hold
      ? `Its channel was on hold (${holdReason(hold, interaction.guild)}): one message is sent to see whether that is fixed; if it is, everything waiting follows.`
      : undefined,
    'See what happened with `/dispatch source log`.',
  ];
  await interaction.reply(ephemeral(lines.filter(Boolean).join('\n')));
}

function outcome(event: EventRow, guildId: string, hold: Hold | undefined): string {
  const link = event.messageId ? ` [message](https://discord.com/channels/${guildId}/${event.channelId}/${event.messageId})` : '';
  switch (event.status) {
    case 'delivered':
      return `✅ posted${link}`;
    case 'collapsed':
      return `🌊 counted in a flood summary${link}`;
    case 'failed':
      return `❌ failed: ${escapeText(truncate(event.lastError ?? 'unknown reason', 140))}`;
    case 'pending':
      if (hold) return '⛔ held: its channel is on hold';
      if (event.attempts > 0)
        return `🔁 retrying (attempt ${event.attempts + 1} ${relativeTime(event.nextAttemptAt)}): ${escapeText(truncate(event.lastError ?? '', 100))}`;
      return '⏳ waiting';
  }
}

/** `/dispatch source log`: the source's last events and what became of each, so "did Dispatch get it?" has an answer. */
export async function logCommand(interaction: Interaction, ctx: CommandContext): Promise<void> {
  const source = await requireSource(ctx, interaction.guildId, interaction.options.getString('source', true));
  const events = await recentEvents(ctx.db, source.id, LOG_LENGTH);
  const hold = await holdOf(ctx.db, source.channelId);
  const lines = events.map((event) => {
    const again = event.duplicates > 0 ? ` · received again ${event.duplicates}× (duplicate, not posted again)` : '';
    return `${relativeTime(event.receivedAt)} \`${event.eventType}\` · ${outcome(event, source.guildId, event.channelId === hold?.channelId ? hold : undefined)}${again}`;
  });
  const embed = new EmbedBuilder()
    .setTitle(`Last ${LOG_LENGTH} events of ${source.name}`)
    .setColor(COLORS.blue)
    .setDescription(
      lines.length > 0
        ? truncate(lines.join('\n'), EMBED_LIMITS.description)
        : 'Nothing received yet (or all of it was pruned after the retention). Send a test from Sentry, or run `/dispatch source test`.',
    );
  if (hold) embed.addFields({ name: 'On hold', value: `since ${relativeTime(hold.since)}: ${holdReason(hold, interaction.guild)}` });
  await interaction.reply(ephemeral('', { embeds: [embed] }));
}
