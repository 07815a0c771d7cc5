import type { TestProject } from 'vitest/node';
import { openPostgres } from '../../src/db/postgres.js';
import { freshDatabase, startPostgres } from './postgres.js';

/**
 * Vitest global set-up of the `postgres` project: one cluster for the run, and in it one database
 * with every migration applied, the template each test's own database is copied from
 * (`migratedDatabase`): copying it takes milliseconds, migrating a database a few hundred.
 */
export default async function setup(project: TestProject) {
  const postgres = await startPostgres();
  const template = await freshDatabase(postgres.url);
  await (await openPostgres(template)).close();
  project.provide('postgresUrl', postgres.url);
  project.provide('postgresTemplate', new URL(template).pathname.slice(1));
  return () => postgres.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
    /** The migrated database `migratedDatabase` copies. */
    postgresTemplate: string;
  }
}
