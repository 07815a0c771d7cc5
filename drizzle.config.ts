import { defineConfig } from 'drizzle-kit';

/**
 * Migrations per dialect, under migrations/: `npm run db:generate` runs drizzle-kit once for each
 * (DRIZZLE_DIALECT=postgresql picks Postgres's schema and folder).
 */
const postgres = process.env.DRIZZLE_DIALECT === 'postgresql';

export default defineConfig(
  postgres
    ? { dialect: 'postgresql', schema: './src/db/schema-pg.ts', out: './migrations/postgres' }
    : { dialect: 'sqlite', schema: './src/db/schema.ts', out: './migrations/sqlite' },
);
