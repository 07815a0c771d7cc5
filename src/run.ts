import { secretValues, type Config } from './config.js';
import { startDispatch, type Dispatch } from './dispatch.js';
import { TOKEN_REFUSED } from './discord/token-refused.js';
import { createLogger } from './logger.js';
import { startFailure } from './start-errors.js';

/**
 * The bot, once its configuration has been read and checked (src/index.ts): started, stopped on
 * SIGTERM/SIGINT. A failure to start is one line on stderr and exit code 1; so is a token Discord
 * refuses at the first login (the webhook side stops cleanly first: what it took is kept).
 */
export async function run(config: Config): Promise<void> {
  const logger = createLogger({ level: config.logLevel, pretty: config.logPretty, secretValues: secretValues(config) });
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection'));

  // The log writes stdout synchronously (src/logger.ts); a pretty log's worker is flushed first.
  const exitWith = (code: number) => logger.flush(() => process.exit(code));
  const stopped = (dispatch: Dispatch, code: number) =>
    dispatch.stop().then(
      () => exitWith(code),
      (error: unknown) => {
        logger.error({ err: error }, 'error during shutdown');
        exitWith(1);
      },
    );

  let started: Promise<Dispatch> | undefined;
  const onTokenRefused = () => {
    console.error(`dispatch: could not start: ${TOKEN_REFUSED}`);
    void started!.then((dispatch) => stopped(dispatch, 1));
  };
  started = startDispatch(config, logger, { onTokenRefused });
  let dispatch: Dispatch;
  try {
    dispatch = await started;
  } catch (error) {
    console.error(`dispatch: could not start: ${startFailure(error, config)}`);
    process.exit(1);
  }

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => void stopped(dispatch, 0));
  }
}
