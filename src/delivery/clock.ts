/**
 * Time as the delivery engine sees it: read, and waited on, through this one seam, so that a test
 * (the simulation) can run the real engine on a clock it moves itself.
 */
export interface Clock {
  now(): number;
  /** Calls `fn` once `ms` have passed on this clock. */
  after(ms: number, fn: () => void): Timer;
}

export interface Timer {
  cancel(): void;
}

/** The wall clock. Its timers never keep the process alive on their own (the HTTP server does). */
export function systemClock(now: () => number = Date.now): Clock {
  return {
    now,
    after(ms, fn) {
      const timer = setTimeout(fn, Math.max(0, ms));
      timer.unref();
      return { cancel: () => clearTimeout(timer) };
    },
  };
}

/** Resolves once `ms` have passed on `clock`. */
export function sleepOn(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => void clock.after(ms, resolve));
}

/**
 * Lets whatever the event loop has waiting run first (webhooks, above all): delivery work runs on
 * the loop that answers them, and SQLite's calls never yield by themselves, so planning and
 * drawing give way between steps. A webhook then waits for one step, not for a whole pass.
 */
export function letIngestIn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The earliest of several times to look again. */
export class NextLook {
  at = Number.POSITIVE_INFINITY;
  consider(at: number | undefined): void {
    if (at !== undefined) this.at = Math.min(this.at, at);
  }
}
