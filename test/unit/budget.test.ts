import { afterEach, describe, expect, it, vi } from 'vitest';
import { busiestSecond } from '../support/rates.js';
import { pacer, requestGapMs, SHARED_PER_SECOND } from '../../src/replicas/budget.js';

describe('the global budget shared by replicas', () => {
  afterEach(() => void vi.useRealTimers());

  it('leaves a lone process to discord.js, and spaces replicas so that together they stay within 45 a second (a tenth under 50)', () => {
    expect(requestGapMs(1)).toBe(0);
    for (const replicas of [2, 3, 5, 10, 25]) {
      const gap = requestGapMs(replicas);
      // An evenly spaced sender fits floor(1000 / gap) + 1 requests into a one-second window at worst.
      expect((Math.floor(1000 / gap) + 1) * replicas).toBeLessThanOrEqual(SHARED_PER_SECOND);
    }
  });

  it('lets calls through one gap apart, in order, whatever their worst alignment across replicas', async () => {
    vi.useFakeTimers();
    const replicas = 3;
    const released: number[] = [];
    // Three replicas whose clocks are offset by a third of a gap, each asked for 100 requests at once.
    const turns = Array.from({ length: replicas }, () => pacer(() => requestGapMs(replicas), Date.now));
    const all = turns.flatMap((turn, r) =>
      Array.from({ length: 100 }, async () => {
        await new Promise((resolve) => setTimeout(resolve, (r * requestGapMs(replicas)) / 3));
        await turn();
        released.push(Date.now());
      }),
    );
    await vi.runAllTimersAsync();
    await Promise.all(all);
    expect(released).toHaveLength(300);
    // The design's own bound (45), not Discord's (50): the tenth between them is for the network's jitter.
    expect(busiestSecond(released)).toBeLessThanOrEqual(SHARED_PER_SECOND);
    // Without the pacing, the same requests would all go within a few milliseconds.
    expect(released.at(-1)! - released[0]!).toBeGreaterThan(5000);
  });

  it('applies a change in the number of replicas to the next call', async () => {
    vi.useFakeTimers();
    let replicas = 1;
    const turn = pacer(() => requestGapMs(replicas), Date.now);
    const start = Date.now();
    await turn();
    await turn();
    expect(Date.now()).toBe(start); // alone: no waiting
    replicas = 2;
    const next = turn().then(() => Date.now());
    const after = turn().then(() => Date.now());
    await vi.runAllTimersAsync();
    expect((await after) - (await next)).toBe(requestGapMs(2));
  });
});
