import { pino, type Logger } from 'pino';

export type { Logger };

/** Paths that may carry a credential; pino replaces them before a line is written. */
const REDACT_PATHS = [
  'secret',
  'signingSecret',
  'token',
  '*.secret',
  '*.signingSecret',
  '*.signing_secret',
  '*.token',
  '*.discordToken',
  'headers.authorization',
  'headers["sentry-hook-signature"]',
  'req.headers.authorization',
  'metricsToken',
  '*.metricsToken',
  'encryptionKey',
  '*.encryptionKey',
];

export function createLogger(options: { level: string; pretty: boolean; destination?: NodeJS.WritableStream }): Logger {
  const settings = {
    level: options.level,
    base: { app: 'dispatch' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    ...(options.pretty && !options.destination ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss' } } } : {}),
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}
