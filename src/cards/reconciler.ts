import { findCardByKey } from '../db/cards.js';
import { cardsToSync, claimCardSync, connectedSourceIds, recordCardSync, sourceById, type CardToSync } from '../db/card-sync.js';
import type { Database } from '../db/database.js';
import type { SecretBox } from '../db/secret-box.js';
import { setSentryProblem } from '../db/sources.js';
import type { SourceId } from '../ids.js';
import type { Logger } from '../logger.js';
import { describeSentryProblem, SentryApiError, type Resolve, type SentryApi } from '../sentry-api/client.js';
import { sentryApiOf, sentryOrgOf } from '../sentry-api/for-source.js';
import type { UrlPolicy } from '../sentry-api/url-guard.js';
import { recordCardEvent, type CardTarget } from './card-events.js';
import type { CardState } from './card-state.js';
import { drift, SYNC_EVENT_TYPE, type SyncPayload } from './sync.js';

/**
 * The read-back budget. Sentry's default limit is 40 requests a second per organization and
 * method, shared by every integration of the organization: one request a second leaves it nearly
 * all. Sentry looks up to 100 issues by id in one request, so 100 open cards cost one request, and
 * a source reads at most MAX_REQUESTS_PER_RUN × 100 cards a run (the most recently changed first).
 */
export const ISSUES_PER_REQUEST = 100;
export const MAX_REQUESTS_PER_RUN = 10;
export const REQUEST_GAP_MS = 1000;
/** A restart reads back at once unless a replica did within this long. */
const START_GAP_MS = 60_000;

export interface ReconcilerDeps {
  db: Database;
  logger: Logger;
  secrets: SecretBox;
  sentryUrls: UrlPolicy;
  resolve?: Resolve;
  /** CARD_SYNC_EVERY (0: never), CARD_SYNC_WINDOW, SENTRY_CHECK_AFTER. */
  everyMs: number;
  windowMs: number;
  checkAfterMs: number;
  now: () => number;
  /** Waits between two requests of a run (a timer; tests pass one that does not wait). */
  pause?: (ms: number) => Promise<void>;
  /** Events were stored: the delivery worker should look. */
  wake: () => void;
}

export interface SyncOutcome {
  checked: number;
  fixed: number;
  problem: string | null;
}

const pauseFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/**
 * Keeps cards true to Sentry when a webhook never came (Dispatch was down, Sentry resolved an
 * issue with a release, a change's answer was lost): reads the issues of a source's open cards
 * back from Sentry's API and delivers what differs as a `dispatch.sync` event, which edits the card
 * and adds one thread line. On start and then every CARD_SYNC_EVERY; each source's run is claimed
 * in the database, so replicas never read the same source twice.
 */
export class CardReconciler {
  private timer: NodeJS.Timeout | undefined;
  private readonly checks = new Set<NodeJS.Timeout>();
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly deps: ReconcilerDeps) {}

  start(): void {
    if (this.deps.everyMs <= 0) return;
    this.schedule(0, START_GAP_MS);
  }

  stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const check of this.checks) clearTimeout(check);
    this.checks.clear();
    return this.running ?? Promise.resolve();
  }

  private schedule(delayMs: number, gapMs: number): void {
    this.timer = setTimeout(() => {
      this.running = this.syncAll(gapMs)
        .catch((error: unknown) => this.deps.logger.warn({ err: error }, 'reading cards back from Sentry failed'))
        .finally(() => {
          this.running = undefined;
          if (!this.stopped) this.schedule(this.deps.everyMs, this.deps.everyMs);
        });
    }, delayMs);
    this.timer.unref();
  }

  /** Every connected source whose last read-back began at least `gapMs` ago (and no replica has just claimed). */
  async syncAll(gapMs = this.deps.everyMs): Promise<void> {
    for (const sourceId of await connectedSourceIds(this.deps.db)) {
      if (this.stopped) return;
      const now = this.deps.now();
      // A little slack: a replica's timer firing a moment early still finds the source due.
      if (!(await claimCardSync(this.deps.db, sourceId, now, now - gapMs + 1000))) continue;
      await this.syncSource(sourceId);
    }
  }

  /** One source's read-back; what it did is kept for `/dispatch source info`. */
  async syncSource(sourceId: SourceId): Promise<SyncOutcome> {
    const { db, logger } = this.deps;
    const startedAt = this.deps.now();
    const source = await sourceById(db, sourceId);
    const api = source && sentryApiOf(source, this.deps.secrets, this.deps.sentryUrls, this.deps.resolve);
    if (!source || !api) return { checked: 0, fixed: 0, problem: null };
    const cards = await cardsToSync(db, sourceId, this.deps.now() - this.deps.windowMs, ISSUES_PER_REQUEST * MAX_REQUESTS_PER_RUN);
    const outcome: SyncOutcome = { checked: 0, fixed: 0, problem: null };
    const requests = batches(cards, (card) => sentryOrgOf(source, stateOf(card).org));
    for (const [i, { org, cards: batch }] of requests.entries()) {
      if (this.stopped) break;
      if (i > 0) await (this.deps.pause ?? pauseFor)(REQUEST_GAP_MS);
      let issues: Record<string, unknown>[];
      const readAt = this.deps.now();
      try {
        issues = await api.issues(org, [...new Set(batch.map(issueIdOf))]);
      } catch (error) {
        if (!(error instanceof SentryApiError)) throw error;
        const left = cards.length - outcome.checked;
        // The words a member gets at a click, without their "nothing was changed" (a read-back changes nothing in Sentry).
        const words = describeSentryProblem(error.problem).replace(/\.? Nothing was changed\.$/, '');
        outcome.problem = `${words} (${left} cards left for the next read-back)`;
        if (error.problem.kind === 'revoked' || error.problem.kind === 'forbidden')
          await setSentryProblem(db, sourceId, describeSentryProblem(error.problem));
        logger.info({ source_id: sourceId, problem: error.problem.kind, cards_left: left }, 'reading cards back from Sentry stopped');
        break;
      }
      const byId = new Map(issues.map((issue) => [String(issue.id), issue]));
      for (const card of batch) {
        outcome.checked += 1;
        const issue = byId.get(issueIdOf(card));
        // Not in Sentry's answer: deleted, merged, or in a project the token cannot see. Nothing to say.
        if (!issue) continue;
        if (await this.setRight(card, issue, { reason: 'reconcile', readAt })) outcome.fixed += 1;
      }
    }
    await recordCardSync(db, sourceId, { ...outcome, startedAt });
    if (outcome.fixed > 0)
      logger.info({ source_id: sourceId, checked: outcome.checked, fixed: outcome.fixed }, 'cards set right from Sentry');
    return outcome;
  }

  /**
   * After a change Sentry did not confirm (no answer in time, a 5xx): the issue is read once, a
   * few seconds later, and the card follows what Sentry has. Best effort: the periodic read-back
   * catches what this misses.
   */
  checkSoon(target: CardTarget, api: SentryApi, org: string): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.checks.delete(timer);
      void this.check(target, api, org).catch((error: unknown) =>
        this.deps.logger.info({ err: error, route_id: target.routeId }, 'could not read the issue back after an unconfirmed change'),
      );
    }, this.deps.checkAfterMs);
    timer.unref();
    this.checks.add(timer);
  }

  private async check(target: CardTarget, api: SentryApi, org: string): Promise<void> {
    const readAt = this.deps.now();
    const issue = await api.issue(org, target.cardKey.slice('issue:'.length));
    const card = await findCardByKey(this.deps.db, target.routeId, target.cardKey);
    if (card) await this.setRight({ ...target, state: card.state }, issue, { reason: 'check', readAt });
  }

  /**
   * Stores the read-back for the card when it differs from Sentry's issue; true if it did. It is
   * queued behind whatever was stored while Sentry was answering, and the card drops it if one of
   * those was newer (see syncStep in state.ts).
   */
  private async setRight(
    card: CardTarget & { state: string },
    issue: Record<string, unknown>,
    read: Pick<SyncPayload['data'], 'reason' | 'readAt'>,
  ): Promise<boolean> {
    if (drift(stateOf(card), issue).length === 0) return false;
    const payload: SyncPayload = { action: 'sync', data: { issue, ...read } };
    // Its route removed meanwhile: nothing left to set right.
    if (!(await recordCardEvent(this.deps.db, card, SYNC_EVENT_TYPE, payload, this.deps.now()))) return false;
    this.deps.wake();
    return true;
  }
}

const stateOf = (card: { state: string }) => JSON.parse(card.state) as CardState;
const issueIdOf = (card: CardToSync) => card.cardKey.slice('issue:'.length);

/** The cards in requests of at most ISSUES_PER_REQUEST distinct issues, one organization each. */
function batches(cards: readonly CardToSync[], orgOf: (card: CardToSync) => string | undefined): { org: string; cards: CardToSync[] }[] {
  const byOrg = new Map<string, CardToSync[]>();
  for (const card of cards) {
    const org = orgOf(card);
    if (org) byOrg.set(org, [...(byOrg.get(org) ?? []), card]);
  }
  const out: { org: string; cards: CardToSync[] }[] = [];
  for (const [org, list] of byOrg) {
    let current: CardToSync[] = [];
    let ids = new Set<string>();
    for (const card of list) {
      if (!ids.has(issueIdOf(card)) && ids.size === ISSUES_PER_REQUEST) {
        out.push({ org, cards: current });
        [current, ids] = [[], new Set()];
      }
      ids.add(issueIdOf(card));
      current.push(card);
    }
    if (current.length > 0) out.push({ org, cards: current });
  }
  return out;
}
