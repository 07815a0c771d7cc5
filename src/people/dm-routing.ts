import { sql } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import { cardAssignee, dmCandidates, ensureDmRoutes } from '../db/dm-routes.js';
import type { IncomingEvent } from '../db/events.js';
import type { CardKey, GuildId, RouteId, SourceId } from '../ids.js';
import { eventFacts } from '../sentry/facts.js';
import { DEFAULT_SENTRY_URL } from '../sentry-api/url-guard.js';
import type { DmKind } from './dm-kinds.js';
import { DM_EVENT_TYPES, dmKindOf, dmRecipients, dmSubjectOf } from './dm-select.js';

/**
 * The DM routes an event also goes to: those of the linked members it is about (dm-select.ts),
 * made on the first DM due. Decided where the event is stored, in its transaction (the webhook's
 * group commit, or the spool's drain later), so a DM is as durable as the event and a duplicate
 * writes none. Each DM goes alone (solo): one message per change, and the check before it is
 * sent (is the member still in the server?) is about one server. Every source's copy of Sentry's
 * webhook writes its DM: which one tells the member is decided at the send, by the first that can
 * go (src/people/dm-once.ts). Events that can never be a DM (most of them) cost nothing here.
 */
export async function withDirectMessages(tx: Database, input: IncomingEvent, now: number): Promise<IncomingEvent> {
  if (!DM_EVENT_TYPES.has(input.eventType)) return input;
  const about = mayBeAbout(input);
  if (!about) return input;
  // In a savepoint of its own: whatever goes wrong here costs the DMs, never the event.
  const dms = await tx.transaction((inner) => directMessageRoutes(inner, input, about, now)).catch(() => []);
  return dms.length === 0 ? input : { ...input, routes: [...input.routes, ...dms] };
}

/**
 * Whether the event may be about someone, from its payload alone: an assignment, resolution or
 * regression names its user assignee, a comment's is on its card. Most are about nobody (no
 * assignee, a team's), and cost the webhook's transaction no statement.
 */
function mayBeAbout(input: IncomingEvent): { payload: unknown; kind: DmKind } | undefined {
  let payload: unknown;
  try {
    payload = JSON.parse(input.text);
  } catch {
    return undefined;
  }
  const kind = dmKindOf(input.eventType, payload);
  if (!kind || (kind !== 'comments' && !dmSubjectOf(input.eventType, payload))) return undefined;
  return { payload, kind };
}

async function directMessageRoutes(
  db: Database,
  input: IncomingEvent,
  { payload, kind }: { payload: unknown; kind: DmKind },
  now: number,
): Promise<{ id: RouteId; solo: true }[]> {
  const source = await db.get<{ guild_id: GuildId; sentry_base_url: string | null; sentry_org: string | null }>(
    sql`select guild_id, sentry_base_url, sentry_org from sources where id = ${input.sourceId}`,
  );
  if (!source) return [];
  const onCard = kind === 'comments' && input.cardKey ? await cardAssignee(db, input.sourceId, input.cardKey as CardKey) : undefined;
  const subject = dmSubjectOf(input.eventType, payload, onCard);
  if (!subject) return [];
  const where = { id: input.sourceId as SourceId, guildId: source.guild_id };
  const recipients = dmRecipients(
    {
      payload,
      baseUrl: source.sentry_base_url ?? DEFAULT_SENTRY_URL,
      org: eventFacts(input.eventType, payload).organization ?? source.sentry_org ?? undefined,
    },
    subject,
    await dmCandidates(db, where, subject.sentryUserId),
  );
  if (recipients.length === 0) return [];
  const made = await ensureDmRoutes(
    db,
    where.id,
    recipients.filter((r) => r.routeId === undefined).map((r) => r.linkId),
    now,
  );
  return recipients.flatMap((r) => {
    const id = r.routeId ?? made.get(r.linkId);
    return id === undefined ? [] : [{ id, solo: true as const }];
  });
}
