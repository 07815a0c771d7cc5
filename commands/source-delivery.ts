import { EmbedBuilder } from 'discord.js';
import { retrySource } from '../src/db/deliveries.js';
import { recentEvents } from '../src/db/event-reads.js';
import { dmRouteIds } from '../src/db/dm-routes.js';
import { deferProbe, holdsOfChannels } from '../src/db/holds.js';
import { routesOf } from '../src/db/routes.js';
import type { DeliveryRow, EventRow, Hold, Route, Source } from '../src/db/schema.js';
import { COLORS } from '../src/embed/colors.js';
import { EMBED_LIMITS } from '../src/embed/limits.js';
import { escapeText } from '../src/embed/markdown.js';
import { truncate } from '../src/embed/text.js';
import { UserError } from '../src/user-error.js';
import { relativeTime } from './replies.js';
import { requireSource } from './source-lookup.js';
import { holdReason } from './source-status.js';
import type { Answer, CommandContext, CommandInvocation } from './types.js';
import type { GuildId, RouteId } from '../src/ids.js';
import { guildOf } from '../src/ids.js';

type Interaction = CommandInvocation;

const LOG_LENGTH = 20;

/**
 * `/dispatch source retry`: everything the source has waiting is due now (each held channel of its
 * routes is sent one message to see whether it works again), and its failed deliveries still
 * within retention are queued again. Each is posted once: a delivery keeps the nonce of its batch.
 */
export async function retryCommand(interaction: Interaction, ctx: CommandContext): Promise<Answer> {
  const source = await requireSource(ctx, guildOf(interaction), interaction.options.getString('source', true));
  if (!source.enabled) throw new UserError(`**${source.name}** is disabled. Enable it with \`/dispatch source enable\` first.`);
  const now = ctx.now();
  const routes = await routesOf(ctx.db, source.id);
  const holds = [
    ...(
      await holdsOfChannels(
        ctx.db,
        routes.map((r) => r.channelId),
      )
    ).values(),
  ];
  const { requeued, waiting } = await retrySource(ctx.db, source.id, now);
  // Probed once everything is due: a probe that went first set the held backlog's flood summaries
  // going between the steps above, and the answer waited for them (8.8 s with 100,000 waiting).
  for (const hold of holds) await deferProbe(ctx.db, hold.channelId, now);
  ctx.wakeDelivery();
  ctx.logger.info({ source_id: source.id, guild_id: source.guildId, user_id: interaction.user.id, requeued, waiting }, 'delivery retried');
  const lines = [
    `🔁 Trying **${source.name}** again now: ${waiting} waiting event${waiting === 1 ? '' : 's'}, ${requeued} failed event${requeued === 1 ? '' : 's'} queued again.`,
    ...holds.map(
      (hold) =>
        `<#${hold.channelId}> was on hold (${holdReason(hold, interaction.guild)}): one message is sent to see whether that is fixed; if it is, everything waiting follows.`,
    ),
    'See what happened with `/dispatch source log`.',
  ];
  return { content: lines.join('\n') };
}

function outcome(delivery: DeliveryRow, guildId: GuildId | undefined, hold: Hold | undefined, enabled: boolean, dm: boolean): string {
  // A DM has no link the server's members could open: it lives in one member's direct messages.
  const link =
    delivery.messageId && guildId && !dm
      ? ` [message](https://discord.com/channels/${guildId}/${delivery.channelId}/${delivery.messageId})`
      : '';
  switch (delivery.status) {
    case 'delivered':
      return `✅ posted${link}`;
    case 'collapsed':
      return dm ? '📨 not sent: another source’s copy of the same change told them' : `🌊 counted in a flood summary${link}`;
    case 'failed':
      return `❌ failed: ${escapeText(truncate(delivery.lastError ?? 'unknown reason', 140))}`;
    case 'pending':
      if (!enabled) return '⏸️ waiting: the source is disabled';
      if (hold) return '⛔ waiting: its channel is on hold';
      if (delivery.attempts > 0) {
        return `🔁 retrying (attempt ${delivery.attempts + 1} ${relativeTime(delivery.nextAttemptAt)}): ${escapeText(truncate(delivery.lastError ?? '', 100))}`;
      }
      return '⏳ waiting';
    case 'sending':
      return '📤 being sent';
    case 'quiet':
      return '🌙 kept for the quiet-hours digest: it goes in the digest when they end';
    case 'digested':
      return `🌙 shown in a quiet-hours digest${link}`;
  }
}

/** One event's line: when, type, and for each route what became of it. */
function logLine(
  event: EventRow,
  deliveries: readonly DeliveryRow[],
  routes: ReadonlyMap<number, Route>,
  holds: ReadonlyMap<string, Hold>,
  source: Pick<Source, 'guildId' | 'enabled'>,
  directMessages: ReadonlySet<RouteId>,
): string {
  const name = (routeId: RouteId) => routes.get(routeId)?.name ?? (directMessages.has(routeId) ? 'a direct message' : 'a removed route');
  const many = routes.size > 1 || deliveries.some((d) => directMessages.has(d.routeId));
  // A waiting delivery goes where its route posts now; one being sent, where its send began.
  const channelOf = (d: DeliveryRow) => (d.status === 'pending' ? (routes.get(d.routeId)?.channelId ?? d.channelId) : d.channelId);
  const outcomes = deliveries.map(
    (d) =>
      `${many ? `${name(d.routeId)}: ` : ''}${outcome(d, source.guildId, holds.get(channelOf(d)), source.enabled, directMessages.has(d.routeId))}`,
  );
  const filteredBy = (JSON.parse(event.filteredBy) as RouteId[]).map(name);
  if (filteredBy.length > 0) outcomes.push(`🚫 filtered out by ${filteredBy.join(', ')}`);
  const again = event.duplicates > 0 ? ` · received again ${event.duplicates}× (duplicate, not posted again)` : '';
  return `${relativeTime(event.receivedAt)} \`${event.eventType}\` · ${outcomes.join(' · ')}${again}`;
}

/** `/dispatch source log`: the source's last events and what became of each, so "did Dispatch get it?" has an answer. */
export async function logCommand(interaction: Interaction, ctx: CommandContext): Promise<Answer> {
  const source = await requireSource(ctx, guildOf(interaction), interaction.options.getString('source', true));
  const routes = await routesOf(ctx.db, source.id);
  const recent = await recentEvents(ctx.db, source.id, LOG_LENGTH);
  const holds = await holdsOfChannels(
    ctx.db,
    routes.map((r) => r.channelId),
  );
  const byId = new Map(routes.map((r) => [r.id, r]));
  // Route commands never show a member's DM route; the log names it for what it is.
  const directMessages = await dmRouteIds(
    ctx.db,
    recent.flatMap(({ deliveries }) => deliveries.map((d) => d.routeId).filter((id) => !byId.has(id))),
  );
  const lines = recent.map(({ event, deliveries }) => logLine(event, deliveries, byId, holds, source, directMessages));
  const embed = new EmbedBuilder()
    .setTitle(`Last ${LOG_LENGTH} events of ${source.name}`)
    .setColor(COLORS.blue)
    .setDescription(
      lines.length > 0
        ? truncate(lines.join('\n'), EMBED_LIMITS.description)
        : 'Nothing received yet (or all of it was pruned after the retention). Send a test from Sentry, or run `/dispatch source test`.',
    );
  for (const hold of holds.values()) {
    embed.addFields({
      name: 'On hold',
      value: `<#${hold.channelId}> since ${relativeTime(hold.since)}: ${holdReason(hold, interaction.guild)}`,
    });
  }
  return { embeds: [embed] };
}
