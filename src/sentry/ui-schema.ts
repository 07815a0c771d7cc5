import { ALERT_FIELDS } from './alert-action.js';

/**
 * The UI component a source's Sentry integration gets (its **Schema** field): an alert-rule action
 * "Send to Discord via Dispatch" whose Route and Ping role selects Sentry fills from Dispatch, and
 * whose settings Sentry sends to Dispatch for a check when a rule is saved. Shapes are those of
 * Sentry's schema parser (`src/sentry/sentry_apps/api/parsers/schema.py`); see
 * docs/sentry-ui-components.md.
 */

/** Where Dispatch answers Sentry's UI-component requests: `/sentry-ui/<slug>/<endpoint>`. */
export const SENTRY_UI_PREFIX = '/sentry-ui';
export type SentryUiEndpoint = 'routes' | 'roles' | 'settings';

export const ACTION_TITLE = 'Send to Discord via Dispatch';

/**
 * Sentry keeps only the scheme and host of the webhook URL and puts a component's `uri` as the
 * whole path, so a PUBLIC_URL under a path (`https://host/dispatch`) must be in each `uri` too.
 */
export function sentryUiUri(publicUrl: string, slug: string, endpoint: SentryUiEndpoint): string {
  const base = new URL(publicUrl).pathname.replace(/\/+$/, '');
  return `${base}${SENTRY_UI_PREFIX}/${slug}/${endpoint}`;
}

/** The JSON to paste in the integration's Schema field, for one source. */
export function alertRuleActionSchema(publicUrl: string, slug: string) {
  const uri = (endpoint: SentryUiEndpoint) => sentryUiUri(publicUrl, slug, endpoint);
  return {
    elements: [
      {
        type: 'alert-rule-action',
        title: ACTION_TITLE,
        settings: {
          type: 'alert-rule-settings',
          uri: uri('settings'),
          description: 'Posts the alert in the Discord channel of the Dispatch route you pick, with an optional role ping and note.',
          required_fields: [
            // Loaded once when the form opens (`async: false`): a source has few routes and a server few roles.
            { type: 'select', label: 'Route', name: ALERT_FIELDS.route, uri: uri('routes'), async: false },
          ],
          optional_fields: [
            { type: 'select', label: 'Ping role', name: ALERT_FIELDS.pingRole, uri: uri('roles'), async: false },
            { type: 'text', label: 'Note', name: ALERT_FIELDS.note },
          ],
        },
      },
    ],
  };
}
