import { describe, expect, it } from 'vitest';
import type { EventRow } from '../../src/db/schema.js';
import { classifyFailure } from '../../src/delivery/classify-error.js';
import { afterFailure, gatheringUntil, isFlooding, joinableWithHead, nextAttemptAt } from '../../src/delivery/policy.js';
import { DiscordAPIError } from 'discord.js';

/** Delivery decisions are pure: these tests pass times in and never sleep. */

const event = (seq: number, extra: Partial<EventRow> = {}): EventRow =>
  ({ seq, receivedAt: 1_000, solo: false, batchId: null, attempts: 0, ...extra }) as EventRow;

describe('the flood rule', () => {
  const flood = { threshold: 250, afterMs: 30_000 };
  it('collapses only past the threshold and only once the oldest is older than afterMs', () => {
    const now = 100_000;
    expect(isFlooding({ waiting: 251, oldestReceivedAt: now - 30_001 }, now, flood)).toBe(true);
    expect(isFlooding({ waiting: 250, oldestReceivedAt: now - 60_000 }, now, flood)).toBe(false);
    expect(isFlooding({ waiting: 1000, oldestReceivedAt: now - 30_000 }, now, flood)).toBe(false);
    expect(isFlooding({ waiting: 0, oldestReceivedAt: null }, now, flood)).toBe(false);
  });
});

describe('batch selection', () => {
  it('takes the head and what follows, up to an event that must go alone or is already batched', () => {
    expect(joinableWithHead([event(1), event(2), event(3)]).map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(joinableWithHead([event(1), event(2, { solo: true }), event(3)]).map((e) => e.seq)).toEqual([1]);
    expect(joinableWithHead([event(1, { solo: true }), event(2)]).map((e) => e.seq)).toEqual([1]);
    expect(joinableWithHead([event(1), event(2, { batchId: 'b' })]).map((e) => e.seq)).toEqual([1]);
  });

  it('sends a lone event at once, and lets a burst gather until the linger ends or a message is full', () => {
    const linger = 500;
    expect(gatheringUntil([event(1)], 1_000, linger)).toBeUndefined();
    expect(gatheringUntil([event(1), event(2)], 1_200, linger)).toBe(1_500);
    expect(gatheringUntil([event(1), event(2)], 1_500, linger)).toBeUndefined();
    expect(
      gatheringUntil(
        Array.from({ length: 10 }, (_, i) => event(i)),
        1_000,
        linger,
      ),
    ).toBeUndefined();
  });
});

describe('after a failure', () => {
  const apiError = (status: number, code: number) =>
    new DiscordAPIError({ code, message: 'x' }, code, status, 'POST', '/channels/1/messages', { body: undefined, files: undefined });

  it('splits a refused batch, retries outages, and gives up on what Discord will refuse again', () => {
    expect(afterFailure(classifyFailure(apiError(400, 50035)), 3)).toEqual({ action: 'split' });
    expect(afterFailure(classifyFailure(apiError(400, 50035)), 1)).toEqual({ action: 'fail' });
    expect(afterFailure(classifyFailure(apiError(503, 0)), 1)).toEqual({ action: 'retry' });
    expect(afterFailure(classifyFailure(new Error('socket hang up')), 1)).toEqual({ action: 'retry' });
    expect(afterFailure(classifyFailure(apiError(403, 50013)), 1)).toEqual({ action: 'fail' });
  });

  it('waits the schedule entry for the attempts so far, and gives up past its end', () => {
    const schedule = [1_000, 5_000];
    expect(nextAttemptAt({ attempts: 0 }, 10_000, schedule)).toBe(11_000);
    expect(nextAttemptAt({ attempts: 1 }, 10_000, schedule)).toBe(15_000);
    expect(nextAttemptAt({ attempts: 2 }, 10_000, schedule)).toBeUndefined();
  });
});
