import { describe, expect, it } from 'vitest';
import type { Job } from '../../src/db/queue.js';
import { asBatchId } from '../../src/ids.js';
import { classifyFailure } from '../../src/delivery/classify-error.js';
import { afterFailure, gatheringUntil, isFlooding, joinableWithHead, nextAttemptAt, outageGate } from '../../src/delivery/policy.js';
import { DiscordAPIError } from 'discord.js';
import {} from '../../src/ids.js';

/** Delivery decisions are pure: these tests pass times in and never sleep. */

const event = (seq: number, extra: Partial<Job> = {}): Job =>
  ({ seq, receivedAt: 1_000, solo: false, batchId: null, attempts: 0, ...extra }) as Job;

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
    expect(joinableWithHead([event(1), event(2, { batchId: asBatchId('b') })]).map((e) => e.seq)).toEqual([1]);
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
  const one = [event(1)];
  const three = [event(1), event(2), event(3)];

  it('holds what a person can fix, retries outages, and fails what Discord will refuse again', () => {
    for (const code of [50001, 50013, 10003])
      expect(afterFailure(classifyFailure(apiError(403, code)), one, [1])).toEqual({ action: 'hold' });
    expect(afterFailure(classifyFailure(apiError(401, 0)), one, [1])).toEqual({ action: 'hold' });
    expect(afterFailure(classifyFailure(apiError(503, 0)), one, [1])).toEqual({ action: 'retry' });
    expect(afterFailure(classifyFailure(new Error('socket hang up')), one, [1])).toEqual({ action: 'retry' });
    expect(afterFailure(classifyFailure(apiError(400, 40005)), one, [1])).toEqual({ action: 'fail' });
  });

  it('splits a refused batch, and draws a refused event more plainly before it fails', () => {
    const invalid = classifyFailure(apiError(400, 50035));
    expect(afterFailure(invalid, three, [1, 1, 1])).toEqual({ action: 'split' });
    expect(afterFailure(invalid, one, [0])).toEqual({ action: 'redraw', renderFallback: 1 });
    expect(afterFailure(invalid, one, [1])).toEqual({ action: 'redraw', renderFallback: 2 });
    expect(afterFailure(invalid, one, [2])).toEqual({ action: 'fail' });
    const summary = [event(1, { summary: true, eventType: 'a.b' }), event(2, { summary: true, eventType: 'c.d' })];
    expect(afterFailure(invalid, summary, [])).toEqual({ action: 'split-summary' });
  });

  it('retries quickly, then every minute, until the deadline after receipt', () => {
    const retry = { schedule: [1_000, 2_000, 5_000, 60_000], deadlineMs: 86_400_000 };
    const received = 0;
    expect(nextAttemptAt({ attempts: 0, receivedAt: received }, 10_000, retry)).toBe(11_000);
    expect(nextAttemptAt({ attempts: 2, receivedAt: received }, 10_000, retry)).toBe(15_000);
    expect(nextAttemptAt({ attempts: 40, receivedAt: received }, 10_000, retry)).toBe(70_000);
    expect(nextAttemptAt({ attempts: 40, receivedAt: received }, 86_390_000, retry)).toBe(86_400_000);
    expect(nextAttemptAt({ attempts: 40, receivedAt: received }, 86_400_000, retry)).toBeUndefined();
  });
});

describe('during an outage', () => {
  it('sends one request at a time, at most one a second after the last failure, and everything once healthy', () => {
    expect(outageGate(undefined, 5, 0)).toEqual({ open: true });
    expect(outageGate(10_000, 1, 10_500)).toEqual({ open: false });
    expect(outageGate(10_000, 0, 10_500)).toEqual({ open: false, until: 11_000 });
    expect(outageGate(10_000, 0, 11_000)).toEqual({ open: true });
  });
});
