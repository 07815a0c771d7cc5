import { humanize } from '../embed/text.js';
import { incidentMeasure, MetricAlertPayload } from '../sentry/formatters/metric-alert.js';
import { parseLoose } from '../sentry/loose-schema.js';
import { incidentNeedsEyes } from './attention.js';
import type { AlertShown, CardState } from './card-state.js';
import { merged, type CardStep } from './card-step.js';

const INCIDENT_LEVELS: Record<string, string> = { critical: 'error', warning: 'warning' };

function withoutShown(incident: CardState['incident']): CardState['incident'] {
  if (!incident) return undefined;
  const { note: _note, misrouted: _misrouted, ...rest } = incident;
  return rest;
}

/** Sentry's `metric_alert.*` webhooks (critical, warning, resolved): the incident's status and what its rule measures. */
export function foldIncident(prev: CardState | undefined, action: string, payload: unknown, shown: AlertShown): CardStep {
  const { data } = parseLoose(MetricAlertPayload, payload);
  const incident = data?.metric_alert;
  const rule = incident?.alert_rule?.name ?? incident?.title;
  const label = humanize(action) ?? action;
  const before = prev?.incident;
  const measure = incidentMeasure(data, action);
  return {
    update: {
      title: data?.description_title ?? `${label}: ${rule ?? 'metric alert'}`,
      url: data?.web_url,
      project: incident?.projects?.[0],
      level: INCIDENT_LEVELS[action],
      // The note and the missing-route line are the latest alert's own: not kept from an earlier one.
      incident: {
        ...merged(withoutShown(before) ?? { status: action }, {
          status: action,
          rule,
          description: data?.description_text?.replace(/\\n/g, '\n'),
          startedAt: incident?.date_started,
          metric: measure.metric,
          window: measure.window,
          // The threshold of the trigger that fired; resolving has none of its own.
          threshold: measure.threshold,
          projects: measure.projects.length > 0 ? measure.projects : undefined,
        }),
        ...shown,
      },
    },
    line: `${label}${rule ? `: ${rule}` : ''}`,
    attention: incidentNeedsEyes(before?.status, action),
  };
}
