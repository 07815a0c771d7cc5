/**
 * The tests' Postgres is the bench's throwaway cluster (bench/postgres.ts): one starter for both,
 * kept with the bench because the bench stands on its own, without test/.
 */
export { freshDatabase, startPostgres, type ThrowawayPostgres } from '../../bench/postgres.js';
