import { pino, stdSerializers, type Logger } from 'pino';

export type { Logger };

/** Keys that carry a credential; pino replaces their values before a line is written. */
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
  'sentryToken',
  '*.sentryToken',
];

/**
 * Credentials that travel inside text: interaction tokens in Discord URLs (a discord.js error's
 * `url`), source slugs in paths (`/hooks/`, `/sentry-ui/`: a slug lets anyone post to a source
 * without a secret), and `Bot`/`Bearer` authorization values.
 */
const SECRETS_IN_TEXT: [RegExp, string][] = [
  [/(\/interactions\/\d+\/)[^/\s?]+/g, '$1[token]'],
  [/(\/webhooks\/\d+\/)[^/\s?]+/g, '$1[token]'],
  [/(\/hooks\/)[^/\s?]+/g, '$1[slug]'],
  [/(\/sentry-ui\/)[^/\s?]+/g, '$1[slug]'],
  [/\b(Bot|Bearer)\s+[\w.~+/=-]+/g, '$1 [redacted]'],
  // The password of any URL with credentials (DATABASE_URL's, in a driver's error).
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]*@/gi, '$1[redacted]@'],
];

/** Known secrets this long are hidden wherever they appear; shorter ones (a short database password) only as a whole word, so that ordinary words are not cut up. */
const ANYWHERE = 8;

function hide(text: string, secret: string): string {
  if (!text.includes(secret)) return text;
  if (secret.length >= ANYWHERE) return text.split(secret).join('[redacted]');
  const escaped = secret.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return text.replace(new RegExp(`(?<![\\w])${escaped}(?![\\w])`, 'g'), '[redacted]');
}

/** Every string in a log line's fields, credentials replaced; nested a few levels (errors, their causes). */
function scrub(value: unknown, known: readonly string[], depth = 0): unknown {
  if (typeof value === 'string') {
    let text = value;
    for (const [pattern, replacement] of SECRETS_IN_TEXT) text = text.replace(pattern, replacement);
    for (const secret of known) text = hide(text, secret);
    return text;
  }
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return scrub(stdSerializers.err(value), known, depth + 1);
  if (Array.isArray(value)) return value.map((v) => scrub(v, known, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) out[key] = key === 'requestBody' ? '[redacted]' : scrub(v, known, depth + 1);
  return out;
}

export function createLogger(options: {
  level: string;
  pretty: boolean;
  destination?: NodeJS.WritableStream;
  /** Values never to write, wherever they turn up (the bot token). */
  secretValues?: readonly string[];
}): Logger {
  const known = (options.secretValues ?? []).filter((s) => s.length > 0);
  const settings = {
    level: options.level,
    base: { app: 'dispatch' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    // Errors are serialized (and scrubbed) by the formatter below, before pino would serialize them.
    serializers: { err: (err: unknown) => err },
    formatters: { log: (fields: Record<string, unknown>) => scrub(fields, known) as Record<string, unknown> },
    hooks: {
      // The message itself is ours, but may quote what it is about.
      logMethod(this: Logger, args: unknown[], method: (...a: unknown[]) => void) {
        method.apply(
          this,
          args.map((a) => (typeof a === 'string' ? scrub(a, known) : a)),
        );
      },
    },
    ...(options.pretty && !options.destination ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss' } } } : {}),
  };
  if (options.destination) return pino(settings, options.destination);
  if (options.pretty) return pino(settings);
  // Written before the call returns: the last lines before an exit ('stopped', a fatal error) are
  // never lost in an asynchronous write still on its way when the process ends (seen on CI).
  return pino(settings, pino.destination({ dest: 1, sync: true }));
}
