import type { TestProject } from 'vitest/node';
import { startPostgres } from './postgres.js';

/** Vitest global set-up of the `postgres` project: one cluster for the run; each test makes its own database in it. */
export default async function setup(project: TestProject) {
  const postgres = await startPostgres();
  project.provide('postgresUrl', postgres.url);
  return () => postgres.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
  }
}
