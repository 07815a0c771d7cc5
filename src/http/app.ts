import express, { type Express } from 'express';
import type { Metrics } from '../metrics.js';
import { healthRoute, type HealthDeps } from './health-route.js';
import { countWebhooks, metricsRoute } from './metrics-route.js';
import { errorHandler, HttpError } from './http-error.js';
import { webhookRoute, type WebhookDeps } from './webhook-route.js';
import { sentryUiRouter, type SentryUiDeps } from './sentry-ui-route.js';
import { SENTRY_UI_PREFIX } from '../sentry/ui-schema.js';

export type AppDeps = WebhookDeps & SentryUiDeps & HealthDeps & { metricsToken: string | undefined };

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.post('/hooks/:slug', countWebhooks(deps.metrics), ...webhookRoute(deps));
  app.use(SENTRY_UI_PREFIX, sentryUiRouter(deps));
  app.get('/healthz', healthRoute(deps));
  app.get('/metrics', metricsRoute(deps.metrics, deps.metricsToken));
  app.all('/hooks/:slug', () => {
    throw new HttpError(405, 'method not allowed: use POST');
  });
  app.use(() => {
    throw new HttpError(404, 'not found');
  });
  app.use(errorHandler(deps.logger));
  return app;
}
