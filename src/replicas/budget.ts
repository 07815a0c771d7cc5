/** Discord's global rate limit: per bot token, so shared by every replica of one bot. */
export const DISCORD_GLOBAL_PER_SECOND = 50;
/**
 * What replicas plan to use of it together: a tenth less, because Discord counts requests where
 * they arrive, and network and event-loop delays can bunch up requests that left evenly spaced.
 */
export const SHARED_PER_SECOND = 45;

/**
 * The least time between two requests of one replica while `replicas` share the bot's global
 * limit; 0 for a lone process, which discord.js keeps within the limit by itself.
 *
 * Each of n replicas sends at most (45 − n) / n requests a second, evenly spaced. An evenly spaced
 * sender fits at most one request more than its rate into any one-second window, so n replicas
 * together stay within 45 however their clocks line up, without talking to each other per request.
 */
export function requestGapMs(replicas: number): number {
  if (replicas <= 1) return 0;
  return Math.ceil((1000 * replicas) / Math.max(1, SHARED_PER_SECOND - replicas));
}

/**
 * Lets calls through at least `gapMs()` apart, in the order they asked; resolves when the caller's
 * turn comes. The gap is read at each call, so a change in the number of replicas applies at once.
 */
export function pacer(gapMs: () => number, now: () => number): () => Promise<void> {
  let nextSlot = 0;
  return async () => {
    const gap = gapMs();
    if (gap === 0) return;
    const slot = Math.max(now(), nextSlot);
    nextSlot = slot + gap;
    const wait = slot - now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  };
}
