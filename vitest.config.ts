import { defineConfig } from 'vitest/config';
import SlowestFirst from './test/support/slowest-first.js';

/**
 * Two projects: every test on SQLite, and the storage, delivery and command tests again on a real
 * Postgres (started once for the run by test/support/postgres-setup.ts), plus the replica tests.
 */
const ON_POSTGRES = [
  'test/integration/webhook.test.ts',
  'test/integration/spool-drain.test.ts',
  'test/integration/delivery.test.ts',
  'test/integration/delivery-trust.test.ts',
  'test/integration/flood.test.ts',
  'test/integration/templates.test.ts',
  'test/integration/payload-safety.test.ts',
  'test/integration/replay-secrets-metrics.test.ts',
  'test/integration/hostile-input.test.ts',
  'test/integration/startup.test.ts',
  'test/e2e/require-signature.test.ts',
  'test/e2e/commands.test.ts',
  'test/e2e/routes.test.ts',
  'test/e2e/quiet-hours.test.ts',
  'test/e2e/cards.test.ts',
  'test/e2e/triage.test.ts',
  'test/e2e/people.test.ts',
  'test/e2e/people-issues.test.ts',
  'test/e2e/crash-recovery.test.ts',
  'test/e2e/replicas.test.ts',
  'test/e2e/replicas-partition.test.ts',
  'test/e2e/replicas-connection-lost.test.ts',
  'test/e2e/replicas-spool.test.ts',
  'test/simulation/simulation.test.ts',
  'test/integration/idle-cost.test.ts',
  'test/e2e/alert-rule-action.test.ts',
  'test/e2e/card-sync.test.ts',
  'test/integration/key-file.test.ts',
  'test/integration/purge.test.ts',
  'test/integration/upgrade-postgres.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // expect.poll waits for an event (a message seen, a row written); its default deadline, one
    // second, is a bet on the machine's speed that a loaded 2-core machine loses.
    expect: { poll: { timeout: 15_000 } },
    pool: 'forks',
    // Vitest's default is one worker fewer than the cores: one, on a 2-core machine. Most files
    // spend their time waiting — on Dispatch in a child process, on Postgres, on loopback HTTP —
    // so two files at a time keep both cores busy (measured: README, Tests). `--maxWorkers` overrides it.
    maxWorkers: 2,
    sequence: { sequencer: SlowestFirst },
    globalSetup: ['test/support/build-setup.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'sqlite',
          include: ['test/**/*.test.ts'],
          // The production install from a clean clone takes minutes: `npm run test:install` (vitest.install.config.ts);
          // the large-database tests too, and hundreds of MB of disk: `npm run test:large` (vitest.large.config.ts).
          exclude: ['test/e2e/replicas*.test.ts', 'test/install/**', 'test/large/**'],
        },
      },
      {
        extends: true,
        test: {
          name: 'postgres',
          include: ON_POSTGRES,
          env: { DISPATCH_TEST_DIALECT: 'postgres' },
          globalSetup: ['test/support/build-setup.ts', 'test/support/postgres-setup.ts'],
        },
      },
    ],
  },
});
