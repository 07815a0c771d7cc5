import { ModalBuilder, type SlashCommandSubcommandGroupBuilder } from 'discord.js';
import { disconnect, linksOf, saveLink, setDirectMessages } from '../src/db/member-links.js';
import type { MemberLink } from '../src/db/schema.js';
import { sentryPlacesOf } from '../src/db/sources.js';
import { escapeText } from '../src/embed/markdown.js';
import { guildOf, userOf, type ChannelId, type GuildId, type UserId } from '../src/ids.js';
import { DM_KIND_NAMES, DM_KINDS, dmKindsInWords, parseDmKinds, storedDmKinds } from '../src/people/dm-kinds.js';
import { describeSentryProblem, SentryApi, SentryApiError, systemResolve, type SentryUser } from '../src/sentry-api/client.js';
import { checkBaseUrl, DEFAULT_SENTRY_URL } from '../src/sentry-api/url-guard.js';
import { UserError } from '../src/user-error.js';
import { withNotices } from './notices.js';
import { customId, relativeTime } from './replies.js';
import { assertFormFresh } from './source-create.js';
import { grantedScopes, input, ORG_PATTERN } from './source-connect.js';
import type { Answer, CommandContext, CommandInvocation, ComponentHandler } from './types.js';

/** `/dispatch me …`: a member's own Sentry identity and direct messages (any member, for themselves). */
export function meGroup(group: SlashCommandSubcommandGroupBuilder): SlashCommandSubcommandGroupBuilder {
  return group
    .setName('me')
    .setDescription('Your own Sentry identity: your clicks act as you, Assign to me, direct messages')
    .addSubcommand((sub) => sub.setName('show').setDescription('Your Sentry identity here and what it is used for'))
    .addSubcommand((sub) => sub.setName('connect').setDescription('Connect a personal Sentry token of yours (a form)'))
    .addSubcommand((sub) =>
      sub
        .setName('disconnect')
        .setDescription('Delete your Sentry identity here, token and all')
        .addBooleanOption((o) => o.setName('all').setDescription('In every server (default: this one)')),
    )
    .addSubcommand((sub) => {
      sub.setName('notify').setDescription('Which direct messages you want about issues assigned to you');
      for (const [kind, when] of Object.entries(DM_KINDS))
        sub.addBooleanOption((o) => o.setName(kind).setDescription(`A DM when ${when}`.slice(0, 100)));
      return sub;
    });
}

/**
 * `/dispatch me`: a member's own Sentry identity in this server (src/people/). Any member may use
 * it, for themselves only: what it gives is attribution in Sentry and their own DMs, never the
 * right to triage (Manage Server or a route's triage role, as before). A link is scoped to the
 * server it was given in; another server's admins can neither see nor use it.
 */

const shown = (text: string) => escapeText(text.replace(/\s+/g, ' ').slice(0, 100));
const identity = (link: Pick<MemberLink, 'sentryName' | 'sentryEmail' | 'sentryOrg'>) =>
  `${shown(link.sentryName)} <${shown(link.sentryEmail)}> in ${shown(link.sentryOrg)}`;

/** What a link is used for, and its DMs, in a few lines. */
function linkLines(link: MemberLink): string[] {
  const where = `${identity(link)} (${shown(link.sentryBaseUrl)})`;
  if (!link.token) return [`⚠️ ${where}: Sentry refused your token, so Dispatch forgot it. \`/dispatch me connect\` with a new one.`];
  const kinds = parseDmKinds(link.dmKinds);
  const dms = link.dmsClosedAt
    ? '⚠️ none: Discord refused Dispatch a DM to you (your DMs are closed to it). Allow them, then `/dispatch me notify`.'
    : `${dmKindsInWords(kinds)}${kinds.size > 0 && !link.dmChannelId ? ' (Dispatch could not open a DM with you yet: `/dispatch me notify` tries again)' : ''}`;
  return [`🔗 **${where}**, connected ${relativeTime(link.updatedAt)}; scopes ${shown(link.scopes) || 'none'}`, `Direct messages: ${dms}`];
}

async function showAnswer(ctx: CommandContext, member: { guildId: GuildId; userId: UserId }, first?: string): Promise<Answer> {
  const links = await linksOf(ctx.db, member.guildId, member.userId);
  const body =
    links.length === 0
      ? ['You have not connected your own Sentry identity in this server. `/dispatch me connect` takes a personal token of yours.']
      : [
          ...links.flatMap(linkLines),
          '',
          'Used for: your Resolve, Archive and Assign clicks on cards act as you in Sentry (its activity names you, the card’s thread says so); **Assign to me** is first in the Assign… menu; and the direct messages above. Who may click is unchanged (Manage Server or the route’s triage role).',
          'Only you can see or use it, in this server only. `/dispatch me disconnect` deletes it at once (`all:true`: in every server).',
        ];
  return (await withNotices(ctx, member, { content: [first, ...body].filter((l) => l !== undefined).join('\n') }))!;
}

/** `/dispatch me`: the member's links here and what they are used for. */
export function meShowCommand(interaction: CommandInvocation, ctx: CommandContext): Promise<Answer> {
  return showAnswer(ctx, { guildId: guildOf(interaction), userId: userOf(interaction) });
}

/** `/dispatch me connect`: a form for a personal token (never pre-filled), the Sentry URL and the organization, suggested from this server's sources. */
export async function meConnectCommand(interaction: CommandInvocation, ctx: CommandContext): Promise<ModalBuilder> {
  const places = await sentryPlacesOf(ctx.db, guildOf(interaction));
  const urls = [...new Set(places.map((p) => p.baseUrl ?? DEFAULT_SENTRY_URL))];
  const orgs = [...new Set(places.flatMap((p) => (p.org ? [p.org] : [])))];
  const token = input('token', 'Your personal token', 'Sentry → User Settings → Personal Tokens: event:write (+ member:read).', {
    max: 200,
    required: true,
  });
  const org = input('org', 'Organization slug', 'As in your Sentry URL (example-org.sentry.io).', {
    ...(orgs.length === 1 ? { value: orgs[0] } : {}),
    max: 64,
    required: true,
  });
  return new ModalBuilder()
    .setCustomId(customId('me-connect', ctx.now()))
    .setTitle('Your Sentry identity')
    .addLabelComponents(
      token,
      input('url', 'Sentry URL', `Where you open Sentry (default ${DEFAULT_SENTRY_URL}).`, {
        value: urls.length === 1 ? urls[0] : DEFAULT_SENTRY_URL,
        max: 200,
      }),
      org,
    );
}

/** Who the token is, or why it will not do; one call to Sentry. */
async function checkToken(
  ctx: CommandContext,
  url: string,
  token: string,
): Promise<{ user: SentryUser; scopes: string[] } | { refused: string }> {
  let who;
  try {
    who = await new SentryApi(url, token, ctx.sentryUrls, systemResolve).whoami();
  } catch (error) {
    if (!(error instanceof SentryApiError)) throw error;
    return { refused: describeSentryProblem(error.problem).replace('`/dispatch source connect`', '`/dispatch me connect`') };
  }
  if (!who.user)
    return {
      refused:
        'This token belongs to an integration, not to a person: clicks with it would still say the integration did it. Paste a personal token of yours (Sentry → User Settings → Personal Tokens).',
    };
  if (!grantedScopes(who.scopes).has('event:write'))
    return {
      refused:
        'Your token lacks `event:write`, which Resolve, Archive and Assign need. Make one with it (User Settings → Personal Tokens).',
    };
  return { user: who.user, scopes: who.scopes };
}

/** The member's DM channel with the bot; null when Discord would not open it now (tried again at `/dispatch me notify`). */
async function dmChannelOf(ctx: CommandContext, userId: UserId): Promise<ChannelId | null> {
  try {
    return await ctx.people.openDm(userId);
  } catch (error) {
    ctx.logger.warn({ err: error, user_id: userId }, 'could not open a DM channel with a member');
    return null;
  }
}

export const meConnectModalHandler: ComponentHandler = {
  action: 'me-connect',
  anyMember: true,
  acknowledge: 'reply',
  async handle(interaction, [issuedAt], ctx) {
    if (!interaction.isModalSubmit()) throw new UserError('This form is not valid any more. Run the command again.');
    assertFormFresh(issuedAt, ctx.now());
    const member = { guildId: guildOf(interaction), userId: userOf(interaction) };
    const token = interaction.fields.getTextInputValue('token').trim();
    if (token === '' || /\s/.test(token)) throw new UserError('A token has no spaces or line breaks. Paste it exactly.');
    const url = checkBaseUrl(interaction.fields.getTextInputValue('url'), ctx.sentryUrls);
    if (!url.ok) throw new UserError(url.reason);
    const org = interaction.fields.getTextInputValue('org').trim().toLowerCase();
    if (!ORG_PATTERN.test(org))
      throw new UserError('An organization slug is lowercase letters, digits, "-" and "_", as in its Sentry URL.');
    // Checked with one call before anything is saved: a wrong token never replaces a working one.
    const checked = await checkToken(ctx, url.url, token);
    const about = { guild_id: member.guildId, user_id: member.userId, base_url: url.url };
    if ('refused' in checked) {
      ctx.logger.info(about, 'a member’s Sentry token was not connected');
      return { content: `❌ Not connected. ${checked.refused}` };
    }
    const link = await saveLink(
      ctx.db,
      {
        ...member,
        baseUrl: url.url,
        org,
        token: ctx.secrets.seal(token),
        sentryUserId: checked.user.id,
        sentryName: checked.user.name,
        sentryEmail: checked.user.email,
        scopes: checked.scopes,
        dmChannelId: await dmChannelOf(ctx, member.userId),
      },
      ctx.now(),
    );
    ctx.logger.info({ ...about, sentry_user_id: link.sentryUserId }, 'a member connected their Sentry identity');
    const noMenu = grantedScopes(checked.scopes).has('member:read') ? '' : '\n(Without `member:read`, the Assign… menu lists only you.)';
    return {
      content: `✅ Connected as ${identity(link)}. From now on your Resolve, Archive and Assign clicks act as you in Sentry, **Assign to me** is first in the Assign… menu, and you get a direct message for ${dmKindsInWords(parseDmKinds(link.dmKinds))} (\`/dispatch me notify\` to choose). Your token is sealed and never shown again.${noMenu}`,
    };
  },
};

/** `/dispatch me disconnect [all]`: the member's links deleted at once, here or everywhere, and their waiting DMs with them. */
export async function meDisconnectCommand(interaction: CommandInvocation, ctx: CommandContext): Promise<Answer> {
  const member = { guildId: guildOf(interaction), userId: userOf(interaction) };
  const everywhere = interaction.options.getBoolean('all') ?? false;
  const removed = await disconnect(ctx.db, member.userId, everywhere ? 'everywhere' : member.guildId, ctx.now());
  ctx.logger.info({ guild_id: member.guildId, user_id: member.userId, removed, everywhere }, 'a member disconnected their Sentry identity');
  if (removed === 0) return { content: `You had no Sentry identity connected ${everywhere ? 'in any server' : 'in this server'}.` };
  return {
    content: `🔌 Disconnected: ${removed} Sentry identit${removed === 1 ? 'y' : 'ies'} ${everywhere ? 'in every server' : 'in this server'} deleted, tokens and all. Your clicks act through the integration again, and no more DMs come.`,
  };
}

/** `/dispatch me notify [assigned] [regressed] [resolved] [comments]`: which DMs the member wants here; asking again lifts a closed-DMs mark. */
export async function meNotifyCommand(interaction: CommandInvocation, ctx: CommandContext): Promise<Answer> {
  const member = { guildId: guildOf(interaction), userId: userOf(interaction) };
  const links = await linksOf(ctx.db, member.guildId, member.userId);
  if (links.length === 0) throw new UserError('Connect your own Sentry identity first: `/dispatch me connect`.');
  const kinds = parseDmKinds(links[0]!.dmKinds);
  for (const kind of DM_KIND_NAMES) {
    const wanted = interaction.options.getBoolean(kind);
    if (wanted === true) kinds.add(kind);
    if (wanted === false) kinds.delete(kind);
  }
  const dmChannelId = links.every((l) => l.dmChannelId) ? null : await dmChannelOf(ctx, member.userId);
  await setDirectMessages(ctx.db, member.guildId, member.userId, { kinds: storedDmKinds(kinds), dmChannelId }, ctx.now());
  const what = DM_KIND_NAMES.filter((k) => kinds.has(k)).map((k) => `• \`${k}\`: ${DM_KINDS[k]}`);
  return showAnswer(
    ctx,
    member,
    kinds.size === 0 ? '🔕 No direct messages from now on.' : `🔔 Direct messages when:\n${what.join('\n')}\n`,
  );
}
