import { DatabaseUnreachable } from '../db/database.js';

/**
 * `work`, or DatabaseUnreachable once `ms` have passed without an answer. The work itself goes on
 * (a query cannot be called back); the caller decides what a late answer means.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DatabaseUnreachable(`the database did not answer ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
