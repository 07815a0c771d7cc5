import { guildOf } from '../src/ids.js';
import { LabelBuilder, ModalBuilder, TextInputBuilder, TextInputStyle } from 'discord.js';
import type { Source } from '../src/db/schema.js';
import { setSentryConnection } from '../src/db/sources.js';
import { describeSentryProblem, SentryApi, SentryApiError, systemResolve } from '../src/sentry-api/client.js';
import { checkBaseUrl, DEFAULT_SENTRY_URL } from '../src/sentry-api/url-guard.js';
import { UserError } from '../src/user-error.js';
import { customId, modalTitle, relativeTime } from './replies.js';
import { assertFormFresh } from './source-create.js';
import { requireSource, sourceById } from './source-lookup.js';
import type { CommandContext, CommandInvocation, ComponentHandler } from './types.js';

/** What triage needs; `event:admin` covers `event:write`, which covers `event:read`. */
const NEEDED_SCOPES = ['event:read', 'event:write'] as const;
const SCOPE_COVERS: Record<string, string[]> = {
  'event:admin': ['event:write', 'event:read'],
  'event:write': ['event:read'],
  'member:admin': ['member:write', 'member:read'],
  'member:write': ['member:read'],
};
export const ORG_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** The scopes a token's scopes grant, the higher ones covering the lower. */
export const grantedScopes = (scopes: readonly string[]): Set<string> => new Set(scopes.flatMap((s) => [s, ...(SCOPE_COVERS[s] ?? [])]));

export function input(
  id: string,
  label: string,
  description: string,
  options: { value?: string; max: number; required?: boolean },
): LabelBuilder {
  const field = new TextInputBuilder()
    .setCustomId(id)
    .setStyle(TextInputStyle.Short)
    .setRequired(options.required ?? false)
    .setMaxLength(options.max);
  if (options.value) field.setValue(options.value);
  return new LabelBuilder().setLabel(label).setDescription(description).setTextInputComponent(field);
}

/** `/dispatch source connect`: a form for the integration token (never pre-filled), the Sentry URL and the organization. */
export async function connectCommand(interaction: CommandInvocation, ctx: CommandContext): Promise<ModalBuilder> {
  const source = await requireSource(ctx, guildOf(interaction), interaction.options.getString('source', true));
  return new ModalBuilder()
    .setCustomId(customId('connect', source.id, ctx.now()))
    .setTitle(modalTitle(`Sentry API: ${source.name}`))
    .addLabelComponents(
      input('token', 'Integration token', 'From the internal integration (Issue & Event: Read & Write). Blank disconnects.', { max: 200 }),
      input('url', 'Sentry URL', `Where you open Sentry (default ${DEFAULT_SENTRY_URL}).`, {
        value: source.sentryBaseUrl ?? DEFAULT_SENTRY_URL,
        max: 200,
      }),
      input('org', 'Organization slug (optional)', 'Read from each issue when blank.', { value: source.sentryOrg ?? undefined, max: 64 }),
    );
}

/** `info`'s lines about the Sentry API: who the token is, and the last read-back of the cards. */
export function sentryApiLine(source: Source): string {
  if (!source.sentryToken) return 'not connected: cards show **Open in Sentry** only (`/dispatch source connect` adds triage buttons)';
  const lines = [
    `connected as ${source.sentryIdentity ?? 'an integration'} · ${source.sentryBaseUrl ?? DEFAULT_SENTRY_URL}${source.sentryOrg ? ` · ${source.sentryOrg}` : ''}`,
    source.cardSyncedAt === null
      ? 'cards not read back from Sentry yet'
      : `cards read back from Sentry ${relativeTime(source.cardSyncedAt)}: ${source.cardsChecked} checked, ${source.cardsFixed} set right`,
  ];
  if (source.cardSyncProblem) lines.push(`⚠️ ${source.cardSyncProblem}`);
  if (source.sentryProblem) lines.push(`⚠️ ${source.sentryProblem}`);
  return lines.join('\n');
}

export const connectModalHandler: ComponentHandler = {
  action: 'connect',
  acknowledge: 'reply',
  async handle(interaction, [sourceId, issuedAt], ctx) {
    if (!interaction.isModalSubmit()) throw new UserError('This form is not valid any more. Run the command again.');
    assertFormFresh(issuedAt, ctx.now());
    const source = await sourceById(ctx, guildOf(interaction), sourceId);
    const token = interaction.fields.getTextInputValue('token').trim();
    const about = { source_id: source.id, guild_id: source.guildId, user_id: interaction.user.id };
    if (token === '') {
      await setSentryConnection(ctx.db, source, null, ctx.now());
      ctx.logger.info(about, 'Sentry API disconnected');
      return { content: `🔌 **${source.name}** is no longer connected to Sentry's API: its cards keep only **Open in Sentry**.` };
    }
    if (/\s/.test(token)) throw new UserError('A token has no spaces or line breaks. Paste it exactly.');
    const url = checkBaseUrl(interaction.fields.getTextInputValue('url'), ctx.sentryUrls);
    if (!url.ok) throw new UserError(url.reason);
    const org = interaction.fields.getTextInputValue('org').trim().toLowerCase();
    if (org !== '' && !ORG_PATTERN.test(org))
      throw new UserError('An organization slug is lowercase letters, digits, "-" and "_", as in its Sentry URL.');
    // Checked with one read call before anything is saved: a wrong token never replaces a working one.
    let who: { name: string; scopes: string[] };
    try {
      who = await new SentryApi(url.url, token, ctx.sentryUrls, systemResolve).whoami();
    } catch (error) {
      if (!(error instanceof SentryApiError)) throw error;
      ctx.logger.warn({ ...about, problem: error.problem.kind }, 'Sentry API token check failed');
      return { content: `❌ Not connected. ${describeSentryProblem(error.problem)}` };
    }
    const granted = grantedScopes(who.scopes);
    const missing = NEEDED_SCOPES.filter((s) => !granted.has(s));
    if (missing.length > 0) {
      return {
        content: `❌ Not connected: the token lacks ${missing.map((s) => `\`${s}\``).join(' and ')}. In Sentry, give the internal integration **Issue & Event: Read & Write**, then paste its token again.`,
      };
    }
    const identity = `${who.name.replace(/[^\p{L}\p{N} _.-]/gu, '').slice(0, 64) || 'an integration'} (${who.scopes.slice(0, 12).join(', ')})`;
    const saved = await setSentryConnection(
      ctx.db,
      source,
      { token: ctx.secrets.seal(token), baseUrl: url.url, org: org || null, identity },
      ctx.now(),
    );
    ctx.logger.info({ ...about, base_url: url.url }, 'Sentry API connected');
    return {
      content: `✅ **${source.name}** is connected to Sentry's API: ${sentryApiLine(saved)}.\nIts cards get triage buttons from their next update. Who may click: members with Manage Server, or a route's \`triage-role\` (\`/dispatch route edit\`).`,
    };
  },
};
