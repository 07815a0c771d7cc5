import type { Database } from '../../src/db/database.js';
import { seedRows, type SeedSpec } from '../../bench/seed-rows.js';
import { loadFixture } from './sentry.js';

export { holdChannel } from '../../bench/seed-rows.js';

const ERROR = loadFixture('error.created.json') as any;
const TEMPLATE = JSON.stringify({ ...ERROR, data: { ...ERROR.data, error: { ...ERROR.data.error, issue_id: '__ISSUE__' } } });

/**
 * `count` stored error.created events of one source (the captured fixture, about 3 KB, its issue
 * id varied), each with one delivery on one route: the bench's bulk seeding (bench/seed-rows.ts).
 */
export function seedMany(db: Database, spec: Omit<SeedSpec, 'template' | 'eventType'>): Promise<void> {
  return seedRows(db, { ...spec, template: TEMPLATE, eventType: 'error.created' });
}
