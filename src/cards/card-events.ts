import { acceptEvents, SourceGone } from '../db/events.js';
import { isForeignKeyViolation, type Database } from '../db/database.js';
import type { CardKey, ChannelId, RouteId, SourceId } from '../ids.js';

/** The card an event of Dispatch's own is for: its route (and the route's source and channel) and key. */
export interface CardTarget {
  routeId: RouteId;
  sourceId: SourceId;
  channelId: ChannelId;
  cardKey: CardKey;
}

/**
 * Stores an event of Dispatch's own (a change made from Discord, a read-back from Sentry) for one
 * card: it is delivered like Sentry's webhooks, through the card's queue and in order with them,
 * and survives a restart. Each carries its time, so two alike are never deduplicated into one.
 * False when the card's route (or its source) was removed meanwhile: there is no card to show it.
 */
export async function recordCardEvent(db: Database, target: CardTarget, eventType: string, payload: object, now: number): Promise<boolean> {
  const text = JSON.stringify({ ...payload, at: now });
  const [result] = await acceptEvents(
    db,
    [
      {
        sourceId: target.sourceId,
        eventType,
        body: Buffer.from(text),
        text,
        routes: [{ id: target.routeId }],
        filteredBy: [],
        cardKey: target.cardKey,
      },
    ],
    now,
    0,
  );
  if (result!.ok) return result!.value.delivered > 0;
  if (isForeignKeyViolation(result!.error) || result!.error instanceof SourceGone) return false;
  throw result!.error;
}
