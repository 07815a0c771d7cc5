import type { ErrorRequestHandler } from 'express';
import type { Logger } from '../logger.js';

/** An error that already knows its HTTP answer. `sentryHookError` is shown in Sentry's request log. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly sentryHookError?: string,
  ) {
    super(message);
  }
}

/**
 * A refusal of a request Sentry's UI components make (select options, the settings check when an
 * alert rule is saved). Sentry shows the JSON `message` of the answer to the person in its UI, as
 * `<integration>: <message>` (alert_rule_action_requester.py), so it is one sentence for them.
 */
export class SentryUiRefusal extends HttpError {}

/** body-parser and Express raise errors with a `status` and a `type`; these are their client errors. */
function clientStatusOf(error: unknown): number | undefined {
  const status = (error as { status?: unknown; statusCode?: unknown } | null)?.status;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}

const CLIENT_MESSAGES: Record<number, string> = {
  400: 'bad request',
  413: 'body too large',
  415: 'unsupported content encoding',
};

/** The one place that turns errors into responses: short JSON, never a stack trace. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    if (res.headersSent) return;
    if (error instanceof HttpError) {
      if (error.sentryHookError) res.set('Sentry-Hook-Error', error.sentryHookError);
      res.status(error.status).json(error instanceof SentryUiRefusal ? { message: error.message } : { error: error.message });
      return;
    }
    const status = clientStatusOf(error);
    if (status !== undefined) {
      const message = CLIENT_MESSAGES[status] ?? 'bad request';
      res.set('Sentry-Hook-Error', message);
      res.status(status).json({ error: message });
      return;
    }
    logger.error({ err: error, method: req.method, path: req.path }, 'unhandled error in HTTP request');
    res.status(500).json({ error: 'internal error' });
  };
}
