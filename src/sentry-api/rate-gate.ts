import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * When each Sentry token may be called again. Sentry's rate limiter counts per organization and
 * fixed one-second-or-longer windows; once it has said "wait", calling again before the window
 * ends only earns another 429, so every caller of that token (a click, the card sync) gets the same
 * wait without a request. Per process: replicas each learn the wait from their own first 429.
 */
export class RateGate {
  private readonly until = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Seconds left before `key` may be called again, or undefined when it may be called now. */
  waitOf(key: string): number | undefined {
    const until = this.until.get(key);
    if (until === undefined) return undefined;
    const left = until - this.now();
    if (left <= 0) {
      this.until.delete(key);
      return undefined;
    }
    return left / 1000;
  }

  /** No call with `key` before `untilMs`. A later hold never shortens an earlier one. */
  hold(key: string, untilMs: number): void {
    if (untilMs > (this.until.get(key) ?? 0)) this.until.set(key, untilMs);
  }
}

/** The gate's key for a token at a Sentry: a digest, so the map never holds a token. */
export function tokenKey(baseUrl: string, token: string): string {
  return createHash('sha256').update(baseUrl).update('\0').update(token).digest('hex').slice(0, 32);
}

/** Without any header saying how long, a 429 holds the token this long. */
export const DEFAULT_HOLD_MS = 10_000;

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/**
 * Until when Sentry asked not to be called, from a response's headers: `Retry-After` (seconds or
 * an HTTP date; other proxies send it) and Sentry's own `X-Sentry-Rate-Limit-Reset` (epoch seconds
 * when the window ends; its middleware sends no Retry-After). The later of the two wins; neither
 * gives undefined.
 */
export function retryAtOf(headers: IncomingHttpHeaders, now: number): number | undefined {
  const candidates: number[] = [];
  const retryAfter = header(headers, 'retry-after')?.trim();
  if (retryAfter) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds) && seconds >= 0) candidates.push(now + seconds * 1000);
    else if (Number.isFinite(Date.parse(retryAfter))) candidates.push(Date.parse(retryAfter));
  }
  const reset = Number(header(headers, 'x-sentry-rate-limit-reset'));
  if (Number.isFinite(reset) && reset > 0) candidates.push(reset * 1000);
  const latest = candidates.length > 0 ? Math.max(...candidates) : undefined;
  // A reset in the past (clocks apart) still means "not this instant".
  return latest === undefined ? undefined : Math.max(latest, now + 1000);
}

/** A successful answer that used the window's last request: the next call would be refused until the reset. */
export function exhaustedUntil(headers: IncomingHttpHeaders, now: number): number | undefined {
  if (header(headers, 'x-sentry-rate-limit-remaining')?.trim() !== '0') return undefined;
  const reset = Number(header(headers, 'x-sentry-rate-limit-reset'));
  return Number.isFinite(reset) && reset * 1000 > now ? reset * 1000 : undefined;
}

/** One gate for the process: every SentryApi for the same token shares it. */
export const sharedRateGate = new RateGate();
