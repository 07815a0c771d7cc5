import { asChannelId, channelIdOf, guildOf } from '../src/ids.js';
import { LabelBuilder, ModalBuilder, TextInputBuilder, TextInputStyle } from 'discord.js';
import { createSource, findSource, SourceNameTaken } from '../src/db/sources.js';
import { assertCanPostIn, threadPermissionWarning } from '../src/discord/channel-check.js';
import { DEFAULT_LAYOUT, describeLayout, layoutFrom } from './layout.js';
import { UserError } from '../src/user-error.js';
import { webhookUrlWarning } from '../src/public-url.js';
import { FORM_LIFETIME_MS, customId, modalTitle, webhookUrl } from './replies.js';
import { nameTaken, sourceNameFrom } from './source-lookup.js';
import type { CommandContext, CommandInvocation, ComponentHandler } from './types.js';

/** Sentry's Client Secret is a 64-character hex string; leave room for other senders. */
const SECRET_MAX_LENGTH = 256;

/** The secret field of a form; with REQUIRE_SIGNATURE it cannot be left blank. */
export function secretInput(description: string, required: boolean): LabelBuilder {
  return new LabelBuilder()
    .setLabel('Signing secret')
    .setDescription(description)
    .setTextInputComponent(
      new TextInputBuilder().setCustomId('secret').setStyle(TextInputStyle.Short).setRequired(required).setMaxLength(SECRET_MAX_LENGTH),
    );
}

/** Blank means "no secret"; surrounding whitespace from a paste is never part of one. */
export function readSecret(value: string, required: boolean): string | null {
  const secret = value.trim();
  if (/\s/.test(secret)) throw new UserError('A signing secret cannot contain spaces or line breaks. Paste the Client Secret exactly.');
  if (secret === '' && required) {
    throw new UserError(
      "This Dispatch requires a signing secret for every source (REQUIRE_SIGNATURE). Paste the integration's Client Secret.",
    );
  }
  return secret === '' ? null : secret;
}

export function assertFormFresh(issuedAt: string | undefined, now: number): void {
  const issued = Number(issuedAt);
  if (!Number.isFinite(issued) || now - issued > FORM_LIFETIME_MS) {
    throw new UserError('This form has expired. Run the command again.');
  }
}

/**
 * `/dispatch source create`: checks what it can, then a form for the secret, which may be left
 * blank: Sentry shows the Client Secret only once the integration is saved with the webhook URL
 * this command gives, so on a first set-up the secret comes after, with `/dispatch source secret`
 * (under REQUIRE_SIGNATURE too, where webhooks are refused until it is set).
 */
export async function createCommand(interaction: CommandInvocation, ctx: CommandContext): Promise<ModalBuilder> {
  const name = sourceNameFrom(interaction.options.getString('name', true));
  const channel = interaction.options.getChannel('channel', true);
  const layout = layoutFrom(interaction.options.getString('layout'), DEFAULT_LAYOUT);
  // Checked before the form, so nobody fills it in for a name that cannot be used.
  if (await findSource(ctx.db, guildOf(interaction), name)) throw nameTaken(name);
  assertCanPostIn(interaction.guild, channelIdOf(channel));
  return new ModalBuilder()
    .setCustomId(customId('create', name, channel.id, layout, ctx.now()))
    .setTitle(modalTitle(`New Sentry source: ${name}`))
    .addLabelComponents(secretInput('Leave blank on a first set-up: Sentry shows the Client Secret once you save the integration.', false));
}

function setupSteps(url: string, hasSecret: boolean, requireSignature: boolean): string {
  return [
    `Webhook URL: \`${url}\``,
    webhookUrlWarning(url),
    '',
    '**Set it up in Sentry**',
    '1. Settings → Developer Settings → **Custom Integrations** → **Create New Integration** → **Internal Integration**.',
    '2. Paste the webhook URL above into **Webhook URL**.',
    '3. Tick the webhook resources to send (Issue, Error, Comment, Seer…), and **Alert Rule Action** if alert rules should be able to send here.',
    '4. Save' +
      (hasSecret
        ? ' (you already gave Dispatch the **Client Secret**).'
        : `, then copy the **Client Secret** Sentry now shows and set it with \`/dispatch source secret\`.`),
    ...(hasSecret
      ? []
      : requireSignature
        ? ['', '⚠️ **No signing secret yet:** webhooks to this URL are refused (401) until you set it (REQUIRE_SIGNATURE is on).']
        : ['', '⚠️ **No signing secret:** anyone who learns this URL can post to your channel. Set one with `/dispatch source secret`.']),
  ]
    .filter((line) => line !== undefined)
    .join('\n');
}

export const createModalHandler: ComponentHandler = {
  action: 'create',
  acknowledge: 'reply',
  async handle(interaction, [rawName, rawChannelId, rawLayout, issuedAt], ctx) {
    if (!interaction.isModalSubmit() || !rawName || !rawChannelId || !rawLayout)
      throw new UserError('This form is not valid any more. Run the command again.');
    assertFormFresh(issuedAt, ctx.now());
    // The channel comes back from the form's custom id: checked against this server's channels below.
    const channelId = asChannelId(rawChannelId);
    const layout = layoutFrom(rawLayout, DEFAULT_LAYOUT);
    const name = sourceNameFrom(rawName);
    const secret = readSecret(interaction.fields.getTextInputValue('secret'), false);
    assertCanPostIn(interaction.guild, channelId);
    const input = {
      guildId: guildOf(interaction),
      channelId,
      layout,
      name,
      signingSecret: secret === null ? null : ctx.secrets.seal(secret),
      createdBy: interaction.user.id,
    };
    const { source, route } = await createSource(ctx.db, input, ctx.now()).catch((error: unknown) => {
      throw error instanceof SourceNameTaken ? nameTaken(error.sourceName) : error;
    });
    ctx.logger.info(
      { source_id: source.id, guild_id: source.guildId, user_id: interaction.user.id, has_secret: secret !== null },
      'source created',
    );
    const threads = layout === 'card' ? threadPermissionWarning(interaction.guild, channelId) : undefined;
    return {
      content: [
        `✅ Source **${source.name}** created. Events will be posted in <#${channelId}> as ${describeLayout(route)}.`,
        threads,
        '',
        setupSteps(webhookUrl(ctx.publicUrl, source), secret !== null, ctx.requireSignature),
      ]
        .filter((line) => line !== undefined)
        .join('\n'),
    };
  },
};
