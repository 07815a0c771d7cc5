import {
  EmbedBuilder,
  LabelBuilder,
  MessageFlags,
  ModalBuilder,
  TextInputBuilder,
  TextInputStyle,
  type APIEmbed,
  type ChatInputCommandInteraction,
} from 'discord.js';
import { lastEventMatching } from '../src/db/events.js';
import type { Source } from '../src/db/schema.js';
import { getSource } from '../src/db/sources.js';
import { clearTemplate, listTemplates, normalizePattern, setTemplate, templateFor } from '../src/db/templates.js';
import { renderWithTemplate } from '../src/delivery/render-event.js';
import { truncate } from '../src/sentry/embed-limits.js';
import { COLORS } from '../src/sentry/formatters/parts.js';
import { formatEvent } from '../src/sentry/registry.js';
import { sampleEvent } from '../src/sentry/samples.js';
import { TEMPLATE_LIMITS } from '../src/templates/engine.js';
import { compileTemplate } from '../src/templates/template-spec.js';
import { TemplateError } from '../src/templates/template-error.js';
import { UserError } from '../src/user-error.js';
import { customId, ephemeral, failureText, relativeTime } from './replies.js';
import { assertFormFresh } from './source-create.js';
import { sourceById } from './source-secret.js';
import type { CommandContext, ComponentHandler } from './types.js';

type Interaction = ChatInputCommandInteraction<'cached'>;

function sourceAndPattern(interaction: Interaction, ctx: CommandContext): { source: Source; pattern: string } {
  const source = getSource(ctx.db, interaction.guildId, interaction.options.getString('source', true));
  return { source, pattern: normalizePattern(interaction.options.getString('event')) };
}

/** `/dispatch template set`: a modal with the template, pre-filled with the current one. */
export async function templateSetCommand(interaction: Interaction, ctx: CommandContext): Promise<void> {
  const { source, pattern } = sourceAndPattern(interaction, ctx);
  const current = listTemplates(ctx.db, source.id).find((t) => t.eventPattern === pattern);
  const input = new TextInputBuilder()
    .setCustomId('template')
    .setStyle(TextInputStyle.Paragraph)
    .setRequired(true)
    .setMaxLength(TEMPLATE_LIMITS.sourceChars)
    .setPlaceholder('{"embed": {"title": "{{ payload.data.issue.title }}"}}');
  if (current) input.setValue(current.body);
  const modal = new ModalBuilder()
    .setCustomId(customId('tpl-set', source.id, pattern, ctx.now()))
    .setTitle(`Template for ${pattern} on ${source.name}`.slice(0, 45))
    .addLabelComponents(
      new LabelBuilder()
        .setLabel('Template (JSON with Liquid strings)')
        .setDescription('See the README: variables event and payload, helpers, examples.')
        .setTextInputComponent(input),
    );
  await interaction.showModal(modal);
}

export const templateSetModal: ComponentHandler = {
  action: 'tpl-set',
  async handle(interaction, [sourceId, pattern, issuedAt], ctx) {
    if (!interaction.isModalSubmit()) throw new UserError('This form is not valid any more. Run the command again.');
    assertFormFresh(issuedAt, ctx.now());
    const source = sourceById(ctx, interaction.guildId, sourceId);
    const eventPattern = normalizePattern(pattern);
    const body = interaction.fields.getTextInputValue('template');
    compileTemplate(body); // refused here, with the engine's message, if it does not parse
    setTemplate(ctx.db, { sourceId: source.id, eventPattern, body, updatedBy: interaction.user.id }, ctx.now());
    ctx.logger.info(
      { source_id: source.id, guild_id: source.guildId, user_id: interaction.user.id, event_pattern: eventPattern },
      'template saved',
    );
    await interaction.reply(
      ephemeral(
        `✅ Template for \`${eventPattern}\` saved on **${source.name}**. Try it with \`/dispatch template preview source:${source.name} event:${eventPattern}\`.`,
      ),
    );
  },
};

/** `/dispatch template preview`: renders against the last matching event, or a sample, and shows what would be posted. */
export async function templatePreviewCommand(interaction: Interaction, ctx: CommandContext): Promise<void> {
  const { source, pattern } = sourceAndPattern(interaction, ctx);
  await interaction.deferReply({ flags: MessageFlags.Ephemeral });
  const last = lastEventMatching(ctx.db, source.id, pattern);
  const sample = last ? undefined : sampleEvent(pattern, ctx.now());
  const event = last ?? { eventType: sample!.eventType, receivedAt: ctx.now() };
  const payload = last ? (JSON.parse(last.body) as unknown) : sample!.payload;
  const origin = last
    ? `the last \`${event.eventType}\` event received (${relativeTime(event.receivedAt)})`
    : `a sample \`${event.eventType}\` event`;
  const template = templateFor(ctx.db, source.id, event.eventType);
  const lines: string[] = [];
  let embed: APIEmbed;
  if (!template) {
    lines.push(
      `No template of **${source.name}** applies to \`${event.eventType}\`: the built-in embed is posted. Rendered from ${origin}:`,
    );
    embed = formatEvent(event.eventType, payload);
  } else {
    try {
      const rendered = renderWithTemplate(template.body, event, payload);
      embed = rendered.embed;
      lines.push(`Template \`${template.eventPattern}\` rendered from ${origin}:`);
      if (rendered.content)
        lines.push(
          `Message text (${rendered.allowedRoleIds.length > 0 ? `may ping roles ${rendered.allowedRoleIds.map((r) => `<@&${r}>`).join(', ')}` : 'pings nobody'}):\n>>> ${rendered.content}`,
        );
      for (const warning of rendered.warnings) lines.push(`⚠️ ${warning}`);
    } catch (error) {
      if (!(error instanceof TemplateError)) throw error;
      lines.push(
        `❌ Template \`${template.eventPattern}\` failed on ${origin} (${error.kind}): ${error.message}`,
        'The built-in embed would be posted instead:',
      );
      embed = formatEvent(event.eventType, payload);
    }
  }
  if (source.lastTemplateError)
    lines.push(`Last failure in delivery: ${failureText(source.lastTemplateError, source.lastTemplateErrorAt)}`);
  await interaction.editReply({ content: truncate(lines.join('\n'), 2000), embeds: [embed], allowedMentions: { parse: [] } });
}

export async function templateListCommand(interaction: Interaction, ctx: CommandContext): Promise<void> {
  const source = getSource(ctx.db, interaction.guildId, interaction.options.getString('source', true));
  const rows = listTemplates(ctx.db, source.id);
  const embed = new EmbedBuilder()
    .setTitle(`Templates of ${source.name}`)
    .setColor(COLORS.blue)
    .setDescription(
      rows.length > 0
        ? rows
            .map((t) => `\`${t.eventPattern}\` · ${t.body.length} characters · updated ${relativeTime(t.updatedAt)} by <@${t.updatedBy}>`)
            .join('\n')
        : 'None: every event gets the built-in embed. Add one with `/dispatch template set`.',
    );
  if (source.lastTemplateError)
    embed.addFields({ name: 'Last failure', value: failureText(source.lastTemplateError, source.lastTemplateErrorAt) });
  await interaction.reply(ephemeral('', { embeds: [embed] }));
}

export async function templateClearCommand(interaction: Interaction, ctx: CommandContext): Promise<void> {
  const { source, pattern } = sourceAndPattern(interaction, ctx);
  if (!clearTemplate(ctx.db, source.id, pattern)) throw new UserError(`**${source.name}** has no template for \`${pattern}\`.`);
  ctx.logger.info(
    { source_id: source.id, guild_id: source.guildId, user_id: interaction.user.id, event_pattern: pattern },
    'template cleared',
  );
  await interaction.reply(ephemeral(`🗑️ Template for \`${pattern}\` removed from **${source.name}**.`));
}
