import type { Clock, Timer } from '../../src/delivery/clock.js';

/**
 * A clock the simulation moves itself: time stands still until `advanceTo`, which fires the timers
 * that fall due in order, each at its own time. Everything real (HTTP, the database) still runs
 * in wall time in between; the simulation waits for it to go quiet before it moves the clock on.
 */
export class SimClock implements Clock {
  private timers: { at: number; seq: number; fn: () => void }[] = [];
  private seq = 0;

  constructor(private time: number) {}

  now = (): number => this.time;

  after(ms: number, fn: () => void): Timer {
    const timer = { at: this.time + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(timer);
    return { cancel: () => void (this.timers = this.timers.filter((t) => t !== timer)) };
  }

  /** When the next timer falls due, if any. */
  nextAt(): number | undefined {
    return this.timers.reduce<number | undefined>((min, t) => (min === undefined || t.at < min ? t.at : min), undefined);
  }

  /**
   * Jumps `ms` ahead at once, as a machine that slept (or a paused process) finds the time moved:
   * every timer due meanwhile fires once, in order, at the new time.
   */
  jump(ms: number): void {
    this.time += ms;
    const due = this.timers.filter((t) => t.at <= this.time).sort((a, b) => a.at - b.at || a.seq - b.seq);
    this.timers = this.timers.filter((t) => t.at > this.time);
    for (const timer of due) timer.fn();
  }

  /** Moves to the next timer's time (no further than `limit`) and fires the timers due then; false when none is due by `limit`. */
  step(limit: number): boolean {
    const next = this.nextAt();
    if (next === undefined || next > limit) {
      this.time = Math.max(this.time, limit);
      return false;
    }
    this.time = Math.max(this.time, next);
    const due = this.timers.filter((t) => t.at <= this.time).sort((a, b) => a.at - b.at || a.seq - b.seq);
    this.timers = this.timers.filter((t) => t.at > this.time);
    for (const timer of due) timer.fn();
    return true;
  }
}
