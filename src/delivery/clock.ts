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
