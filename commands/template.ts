import { EmbedBuilder, LabelBuilder, ModalBuilder, TextInputBuilder, TextInputStyle } from 'discord.js';
import { lastEventMatching } from '../src/db/event-reads.js';
import type { Route, Source } from '../src/db/schema.js';
import { channelRouteById, routesOf } from '../src/db/routes.js';
import { clearTemplate, listTemplates, setTemplate, templateFor, templateOf, type TemplateOwner } from '../src/db/templates.js';
import { COLORS } from '../src/embed/colors.js';
import { escapeText } from '../src/embed/markdown.js';
import { CONTENT_LIMIT } from '../src/embed/limits.js';
import { truncate } from '../src/embed/text.js';
import { renderEvent } from '../src/render/render-event.js';
import { EVENT_PATTERN_MAX_LENGTH, parseEventPattern } from '../src/sentry/event-type.js';
import { sampleEvent } from '../src/sentry/samples.js';
import { TEMPLATE_LIMITS } from '../src/templates/engine.js';
import { compileTemplate } from '../src/templates/template-spec.js';
import { UserError } from '../src/user-error.js';
import { customId, failureText, modalTitle, relativeTime } from './replies.js';
import { assertFormFresh } from './source-create.js';
import { requireRoute } from './route.js';
import { requireSource, sourceById } from './source-lookup.js';
import type { Answer, CommandContext, CommandInvocation, ComponentHandler } from './types.js';
import { guildOf, parseRouteId, type RouteId } from '../src/ids.js';

type Interaction = CommandInvocation;

/** The `event` option, or a form's copy of it, as a pattern; the error says what one looks like. */
function eventPatternFrom(raw: string | null | undefined): string {
  const pattern = parseEventPattern(raw);
  if (pattern === undefined) {
    throw new UserError('An event is an event type like `issue.created`, a resource like `issue.*`, or `*` for every event.');
  }
  return pattern;
}

interface Target {
  source: Source;
  /** Set when the command names a route: its own template, else the source's. */
  route: Route | undefined;
  owner: TemplateOwner;
  pattern: string;
}

/** The source, route and pattern a template command is about. */
async function target(interaction: Interaction, ctx: CommandContext): Promise<Target> {
  const pattern = eventPatternFrom(interaction.options.getString('event'));
  const source = await requireSource(ctx, guildOf(interaction), interaction.options.getString('source', true));
  const routeName = interaction.options.getString('route');
  const route = routeName ? await requireRoute(ctx, source, routeName) : undefined;
  return { source, route, owner: { sourceId: source.id, routeId: route?.id ?? null }, pattern };
}

/** "on backend" or "on route alerts of backend". */
const where = ({ source, route }: Pick<Target, 'source' | 'route'>) =>
  route ? `route **${route.name}** of **${source.name}**` : `**${source.name}**`;

/** `/dispatch template set`: a modal with the template, pre-filled with the current one (indexed reads only). */
export async function templateSetCommand(interaction: Interaction, ctx: CommandContext): Promise<ModalBuilder> {
  const { source, route, owner, pattern } = await target(interaction, ctx);
  const current = await templateOf(ctx.db, owner, pattern);
  const input = new TextInputBuilder()
    .setCustomId('template')
    .setStyle(TextInputStyle.Paragraph)
    .setRequired(true)
    .setMaxLength(TEMPLATE_LIMITS.sourceChars)
    .setPlaceholder('{"embed": {"title": "{{ payload.data.issue.title }}"}}');
  if (current) input.setValue(current.body);
  // The pattern travels in the form, not in its custom id: a pattern can be longer than the
  // 100 characters Discord allows a custom id.
  const event = new TextInputBuilder()
    .setCustomId('event')
    .setStyle(TextInputStyle.Short)
    .setRequired(true)
    .setMaxLength(EVENT_PATTERN_MAX_LENGTH)
    .setValue(pattern);
  return new ModalBuilder()
    .setCustomId(customId('tpl-set', source.id, route?.id ?? 0, ctx.now()))
    .setTitle(modalTitle(route ? `Template on ${source.name} › ${route.name}` : `Template on ${source.name}`))
    .addLabelComponents(
      new LabelBuilder().setLabel('Event').setDescription('issue.created, issue.* or * (every event)').setTextInputComponent(event),
      new LabelBuilder()
        .setLabel('Template (JSON with Liquid strings)')
        .setDescription('See the README: variables event and payload, helpers, examples.')
        .setTextInputComponent(input),
    );
}

export const templateSetModal: ComponentHandler = {
  action: 'tpl-set',
  acknowledge: 'reply',
  async handle(interaction, [sourceId, routeId, issuedAt], ctx) {
    if (!interaction.isModalSubmit()) throw new UserError('This form is not valid any more. Run the command again.');
    assertFormFresh(issuedAt, ctx.now());
    const source = await sourceById(ctx, guildOf(interaction), sourceId);
    const id = parseRouteId(routeId);
    const route = id === undefined ? undefined : await channelRouteById(ctx.db, id);
    if (id !== undefined && route?.sourceId !== source.id) throw new UserError('That route no longer exists.');
    const eventPattern = eventPatternFrom(interaction.fields.getTextInputValue('event'));
    const body = interaction.fields.getTextInputValue('template');
    compileTemplate(body); // refused here, with the engine's message, if it does not parse
    await setTemplate(
      ctx.db,
      { sourceId: source.id, routeId: route?.id ?? null, eventPattern, body, updatedBy: interaction.user.id },
      ctx.now(),
    );
    ctx.logger.info(
      { source_id: source.id, guild_id: source.guildId, user_id: interaction.user.id, event_pattern: eventPattern },
      'template saved',
    );
    return {
      content: `✅ Template for \`${eventPattern}\` saved on ${where({ source, route })}. Try it with \`/dispatch template preview source:${source.name} event:${eventPattern}${route ? ` route:${route.name}` : ''}\`.`,
    };
  },
};

/** `/dispatch template preview`: renders against the last matching event, or a sample, and shows what would be posted. */
export async function templatePreviewCommand(interaction: Interaction, ctx: CommandContext): Promise<Answer> {
  const { source, route, pattern } = await target(interaction, ctx);
  const last = await lastEventMatching(ctx.db, source.id, pattern);
  const sample = last ? undefined : sampleEvent(pattern, ctx.now());
  const event = last ?? { eventType: sample!.eventType, receivedAt: ctx.now(), body: JSON.stringify(sample!.payload) };
  const origin = last
    ? `the last \`${event.eventType}\` event received (${relativeTime(event.receivedAt)})`
    : `a sample \`${event.eventType}\` event`;
  const template = await templateFor(ctx.db, source.id, route?.id ?? null, event.eventType);
  const rendered = renderEvent(event, template);
  const lines: string[] = [];
  if (!template) {
    lines.push(
      `No template of **${source.name}** applies to \`${event.eventType}\`: the built-in embed is posted. Rendered from ${origin}:`,
    );
  } else if (rendered.templateFailure) {
    const { kind, message } = rendered.templateFailure;
    lines.push(
      `❌ Template \`${template.eventPattern}\` failed on ${origin} (${kind}): ${escapeText(message)}`,
      'The built-in embed would be posted instead:',
    );
  } else {
    lines.push(`Template \`${template.eventPattern}\` rendered from ${origin}:`);
    if (rendered.content) {
      const pings =
        rendered.allowedRoleIds.length > 0 ? `may ping roles ${rendered.allowedRoleIds.map((r) => `<@&${r}>`).join(', ')}` : 'pings nobody';
      lines.push(`Message text (${pings}):\n>>> ${rendered.content}`);
    }
    // Warnings quote what the template printed from the payload: shown as text.
    for (const warning of rendered.warnings) lines.push(`⚠️ ${escapeText(warning)}`);
  }
  if (source.lastTemplateError)
    lines.push(`Last failure in delivery: ${failureText(source.lastTemplateError, source.lastTemplateErrorAt)}`);
  return { content: truncate(lines.join('\n'), CONTENT_LIMIT), embeds: rendered.embeds };
}

export async function templateListCommand(interaction: Interaction, ctx: CommandContext): Promise<Answer> {
  const source = await requireSource(ctx, guildOf(interaction), interaction.options.getString('source', true));
  const rows = await listTemplates(ctx.db, source.id);
  const routes = new Map((await routesOf(ctx.db, source.id)).map((r) => [r.id, r.name]));
  const owner = (routeId: RouteId | null) => (routeId === null ? '' : ` · route ${routes.get(routeId) ?? '?'} only`);
  const embed = new EmbedBuilder()
    .setTitle(`Templates of ${source.name}`)
    .setColor(COLORS.blue)
    .setDescription(
      rows.length > 0
        ? rows
            .map(
              (t) =>
                `\`${t.eventPattern}\`${owner(t.routeId)} · ${t.body.length} characters · updated ${relativeTime(t.updatedAt)} by <@${t.updatedBy}>`,
            )
            .join('\n')
        : 'None: every event gets the built-in embed. Add one with `/dispatch template set`.',
    );
  if (source.lastTemplateError)
    embed.addFields({ name: 'Last failure', value: failureText(source.lastTemplateError, source.lastTemplateErrorAt) });
  return { embeds: [embed] };
}

export async function templateClearCommand(interaction: Interaction, ctx: CommandContext): Promise<Answer> {
  const { source, route, owner, pattern } = await target(interaction, ctx);
  if (!(await clearTemplate(ctx.db, owner, pattern)))
    throw new UserError(`${where({ source, route })} has no template for \`${pattern}\`.`);
  ctx.logger.info(
    { source_id: source.id, guild_id: source.guildId, user_id: interaction.user.id, event_pattern: pattern },
    'template cleared',
  );
  return { content: `🗑️ Template for \`${pattern}\` removed from ${where({ source, route })}.` };
}
