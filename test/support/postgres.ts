import { inject } from 'vitest';
import { freshDatabase } from '../../bench/postgres.js';

/**
 * The tests' Postgres is the bench's throwaway cluster (bench/postgres.ts): one starter for both,
 * kept with the bench because the bench stands on its own, without test/.
 */
export { freshDatabase, startPostgres, type ThrowawayPostgres } from '../../bench/postgres.js';

/**
 * A fresh database of the run's cluster with this release's schema (a copy of the template
 * test/support/postgres-setup.ts migrated): for every test but those of upgrades, which need an
 * empty database to apply an older release's migrations to.
 */
export function migratedDatabase(): Promise<string> {
  return freshDatabase(inject('postgresUrl'), inject('postgresTemplate'));
}
