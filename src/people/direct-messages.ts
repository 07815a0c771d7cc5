import { sql } from 'drizzle-orm';
import type { CardState } from '../cards/card-state.js';
import type { Database } from '../db/database.js';
import { leftServer, linkById, markDmsClosed } from '../db/member-links.js';
import type { Job } from '../db/queue.js';
import type { MemberLink, Route } from '../db/schema.js';
import type { Failure } from '../delivery/classify-error.js';
import type { Clock } from '../delivery/clock.js';
import { DISCORD, MEMBER_UNREACHABLE } from '../delivery/discord-codes.js';
import type { SendGuard } from '../delivery/plan.js';
import type { DiscordPeople } from '../discord/people.js';
import type { Logger } from '../logger.js';
import type { RenderedEvent } from '../render/render-event.js';
import { eventFacts } from '../sentry/facts.js';
import { parsePayload } from '../sentry/payload.js';
import { genericEmbed } from '../sentry/registry.js';
import { directMessageEmbed } from './dm-embed.js';
import { claimDmOnce, type DmJob } from './dm-once.js';

/** What a member is told once, in their next answer from Dispatch, when Discord refuses them a DM (50007). */
export const DMS_CLOSED_NOTICE =
  'Discord refused Dispatch a direct message to you (your DMs are closed to it), so Dispatch stopped sending them. Allow direct messages from this server’s members (Privacy Settings), then run `/dispatch me notify` to have them again.';

/** What a member is told once when Discord refused a DM to them for another reason (their DM channel or account unknown to it). */
export const DM_UNREACHABLE_NOTICE =
  'Discord would not let a direct message from Dispatch reach you (it did not know your DM channel with Dispatch), so Dispatch stopped sending them. Run `/dispatch me notify` to have them again.';

export interface DirectMessagesDeps {
  db: Database;
  logger: Logger;
  clock: Clock;
  members: Pick<DiscordPeople, 'isMember'>;
}

/**
 * A member's DMs in the delivery worker: how one is drawn (the compact embed and a link to
 * its card; src/people/dm-embed.ts), what its send checks first (the member is still linked and
 * in the server) and then claims (the change, told once: src/people/dm-once.ts), and what it learns
 * from Discord's refusal (their DMs closed: no more are written for them).
 * Everything else about a DM (queue, budget, retries, nonce, order) is a channel's.
 */
export class DirectMessages {
  constructor(private readonly deps: DirectMessagesDeps) {}

  /** A DM route's delivery, drawn. After Discord refused the drawing as invalid, the generic embed. */
  async draw(job: Job, route: Route): Promise<RenderedEvent> {
    let payload: Record<string, unknown> | undefined;
    try {
      payload = parsePayload(job.body);
    } catch {
      payload = undefined;
    }
    const facts = eventFacts(job.eventType, payload ?? {});
    const part = (drawing: 1 | 2, embed = genericEmbed(job.eventType, payload ?? {})): RenderedEvent => ({
      embeds: [embed],
      allowedRoleIds: [],
      facts,
      drawing,
      warnings: [],
    });
    if (payload === undefined || job.renderFallback >= 2) return part(2);
    const source = await this.deps.db.get<{ name: string; guild_id: string }>(
      sql`select name, guild_id from sources where id = ${route.sourceId}`,
    );
    const card = job.cardKey ? await this.cardOf(route, job.cardKey, source?.guild_id) : undefined;
    return part(1, directMessageEmbed({ type: job.eventType, payload, card, sourceName: source?.name ?? 'Sentry' }));
  }

  /** The card on one of the source's routes (the one changed last), with its message's address. */
  private async cardOf(route: Route, cardKey: string, guildId: string | undefined): Promise<{ state: CardState; url: string } | undefined> {
    const row = await this.deps.db.get<{ state: string; channel_id: string; message_id: string }>(sql`
      select c.state, c.channel_id, c.message_id from cards c join routes r on r.id = c.route_id
      where r.source_id = ${route.sourceId} and r.kind = 'channel' and r.removed_at is null and c.card_key = ${cardKey}
      order by c.updated_at desc limit 1`);
    if (!row || !guildId) return undefined;
    return {
      state: JSON.parse(row.state) as CardState,
      url: `https://discord.com/channels/${guildId}/${row.channel_id}/${row.message_id}`,
    };
  }

  /** The checks of a send of `job` on a DM route; none for a channel's. */
  guard(route: Route, job: DmJob): SendGuard | undefined {
    if (route.kind !== 'dm') return undefined;
    const { db, logger, clock, members } = this.deps;
    const linkId = route.memberLinkId;
    // The link `before` found the member reachable by: the one the change is claimed for.
    let reachable: MemberLink | undefined;
    return {
      async before() {
        reachable = undefined;
        const link = linkId === null ? undefined : await linkById(db, linkId);
        if (!link || link.token === null) return 'the member disconnected from Sentry';
        if (link.dmsClosedAt !== null) return 'the member’s DMs are closed to Dispatch';
        // A member who left the server gets nothing more about it (their links there go too).
        if ((await members.isMember(link.guildId, link.userId)) !== false) {
          reachable = link;
          return undefined;
        }
        await leftServer(db, link.guildId, link.userId, clock.now());
        logger.info({ guild_id: link.guildId, user_id: link.userId }, 'a linked member left the server: their links there are removed');
        return 'the member is no longer in the server';
      },
      async claim() {
        if (!reachable) throw new Error('a direct message claimed before its checks passed');
        return claimDmOnce(db, job, reachable);
      },
      async refused(failure: Failure) {
        if (failure.code === undefined || !MEMBER_UNREACHABLE.has(failure.code) || linkId === null) return;
        const link = await linkById(db, linkId);
        if (!link) return;
        const closed = failure.code === DISCORD.CANNOT_DM;
        // Their DM channel itself refused (unknown, no access): opened afresh when they ask for DMs again.
        await markDmsClosed(db, link.userId, closed ? DMS_CLOSED_NOTICE : DM_UNREACHABLE_NOTICE, clock.now(), { forgetChannel: !closed });
        logger.info(
          { guild_id: link.guildId, user_id: link.userId, code: failure.code },
          'Discord will not let a direct message reach a member: no more are sent to them',
        );
      },
    };
  }
}
