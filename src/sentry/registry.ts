import type { APIEmbed } from 'discord.js';
import { fitEmbed } from './embed-limits.js';
import { splitEventType } from './event-type.js';
import { activityAlertFormatter } from './formatters/activity-alert.js';
import { commentFormatter } from './formatters/comment.js';
import { errorFormatter } from './formatters/error.js';
import { eventAlertFormatter } from './formatters/event-alert.js';
import { genericFormatter } from './formatters/generic.js';
import { installationFormatter } from './formatters/installation.js';
import { issueFormatter } from './formatters/issue.js';
import { metricAlertFormatter } from './formatters/metric-alert.js';
import { preprodArtifactFormatter } from './formatters/preprod-artifact.js';
import { seerFormatter } from './formatters/seer.js';
import type { Formatter, SentryEvent } from './formatters/types.js';

/** Keyed by `resource.action` or `resource`; the most specific key wins, then the generic embed. */
const formatters = new Map<string, Formatter>([
  ['issue', issueFormatter],
  ['error', errorFormatter],
  ['event_alert', eventAlertFormatter],
  ['metric_alert', metricAlertFormatter],
  ['comment', commentFormatter],
  ['installation', installationFormatter],
  ['seer', seerFormatter],
  ['activity_alert', activityAlertFormatter],
  ['preprod_artifact', preprodArtifactFormatter],
]);

export function formatterFor(type: string): Formatter {
  const { resource } = splitEventType(type);
  return formatters.get(type) ?? formatters.get(resource) ?? genericFormatter;
}

/**
 * The built-in embed for an event, always within Discord's limits. A formatter that throws on a
 * payload it did not expect falls back to the generic embed: an event is never lost to formatting.
 */
export function formatEvent(type: string, payload: unknown): APIEmbed {
  const { resource, action } = splitEventType(type);
  const event: SentryEvent = { type, resource, action, payload };
  try {
    return fitEmbed(formatterFor(type)(event));
  } catch {
    return fitEmbed(genericFormatter(event));
  }
}
