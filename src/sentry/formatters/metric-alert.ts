import { z } from 'zod';
import { LimitedEmbedBuilder } from '../../embed/builder.js';
import { COLORS } from '../../embed/colors.js';
import { field, textField } from '../../embed/fields.js';
import { inlineCode, oneLine, prose } from '../../embed/markdown.js';
import { discordTimestamp, isoTime } from '../../embed/time.js';
import { loose, looseArray, optIdish, optNumberish, optString, parseLoose } from '../loose-schema.js';
import type { Formatter } from './types.js';

/** A metric alert webhook as read here; live cards read incidents with it too. */
export const MetricAlertPayload = z.looseObject({
  data: loose({
    description_title: optString,
    description_text: optString,
    web_url: optString,
    metric_alert: loose({
      title: optString,
      status: optNumberish,
      projects: looseArray(z.string()),
      date_started: optString,
      date_detected: optString,
      date_closed: optString,
      alert_rule: loose({
        id: optIdish,
        name: optString,
        aggregate: optString,
        query: optString,
        dataset: optString,
        time_window: optNumberish,
        projects: looseArray(z.string()),
        triggers: looseArray(z.looseObject({ label: optString, alert_threshold: optNumberish })),
      }),
    }),
  }),
});

/** Incident status codes: https://github.com/getsentry/sentry (IncidentStatus). */
const STATUS_NAMES: Record<number, string> = { 1: 'Open', 2: 'Closed', 10: 'Warning', 20: 'Critical' };
const ACTION_COLORS: Record<string, number> = { critical: COLORS.red, warning: COLORS.orange, resolved: COLORS.green };

/** `10 min`, `2 h`: a metric alert's time window (Sentry gives minutes). */
export function windowText(window: number | undefined): string | undefined {
  if (window === undefined) return undefined;
  return window % 60 === 0 && window >= 60 ? `${window / 60} h` : `${window} min`;
}

type MetricAlertData = NonNullable<NonNullable<z.output<typeof MetricAlertPayload>>['data']>;

/** What a metric alert measures, over which window, against which threshold: shared with live cards. */
export function incidentMeasure(data: MetricAlertData | undefined, action: string) {
  const incident = data?.metric_alert;
  const rule = incident?.alert_rule;
  return {
    projects: incident?.projects?.length ? incident.projects : (rule?.projects ?? []),
    metric: [rule?.aggregate, rule?.query ? `where ${rule.query}` : undefined].filter(Boolean).join(' ') || undefined,
    window: rule?.time_window,
    threshold: rule?.triggers?.find((t) => t.label === action)?.alert_threshold,
  };
}

export const metricAlertFormatter: Formatter = (event) => {
  const { data } = parseLoose(MetricAlertPayload, event.payload);
  const incident = data?.metric_alert;
  const rule = incident?.alert_rule;
  const { projects, metric, threshold } = incidentMeasure(data, event.action);
  const label = event.action.charAt(0).toUpperCase() + event.action.slice(1);
  return (
    new LimitedEmbedBuilder()
      .setTitle(oneLine(data?.description_title ?? `${label}: ${rule?.name ?? incident?.title ?? 'metric alert'}`))
      .setURL(data?.web_url)
      // Sentry's example carries a literal backslash-n here; show it as the line break it means.
      .setDescription(prose(data?.description_text?.replace(/\\n/g, '\n')))
      .setColor(ACTION_COLORS[event.action] ?? (incident?.status === 10 ? COLORS.orange : COLORS.red))
      .addFields(
        field('Alert rule', oneLine(rule?.name ?? incident?.title)),
        textField('Status', incident?.status !== undefined ? (STATUS_NAMES[incident.status] ?? String(incident.status)) : label),
        field('Projects', projects.map(oneLine).join(', ')),
        field('Metric', inlineCode(metric)),
        field('Time window', windowText(rule?.time_window)),
        textField('Threshold', threshold),
        field('Started', discordTimestamp(incident?.date_started ?? incident?.date_detected)),
        event.action === 'resolved' ? field('Closed', discordTimestamp(incident?.date_closed ?? undefined)) : undefined,
      )
      .setTimestamp(
        isoTime(event.action === 'resolved' ? incident?.date_closed : undefined, incident?.date_started, incident?.date_detected),
      )
  );
};
