import { existsSync } from 'node:fs';
import { ConfigError, loadConfig, secretValues, type Config } from './config.js';
import { startDispatch } from './dispatch.js';
import { createLogger } from './logger.js';

/** Start-up and shutdown only. Everything else is built by startDispatch. */
function readConfig(): Config {
  if (existsSync('.env')) process.loadEnvFile('.env');
  try {
    return loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`dispatch: configuration error: ${error.message}`);
      process.exit(1);
    }
    throw error;
  }
}

const config = readConfig();
const logger = createLogger({ level: config.logLevel, pretty: config.logPretty, secretValues: secretValues(config) });

process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection'));

let dispatch: Awaited<ReturnType<typeof startDispatch>>;
try {
  dispatch = await startDispatch(config, logger);
} catch (error) {
  const message = (error as Error).message ?? String(error);
  console.error(`dispatch: could not start: ${message}`);
  process.exit(1);
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void dispatch.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'error during shutdown');
        process.exit(1);
      },
    );
  });
}
