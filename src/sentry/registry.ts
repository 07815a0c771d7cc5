import type { APIEmbed } from 'discord.js';
import { splitEventType } from './event-type.js';
import { eventFacts, type EventFacts } from './facts.js';
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
import type { Formatter } from './formatters/types.js';
import { ownEventFormatter } from '../cards/own-event-formatter.js';
import { DIGEST_EVENT_TYPE, digestFormatter } from '../schedule/digest-formatter.js';

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
  ['dispatch', ownEventFormatter],
  [DIGEST_EVENT_TYPE, digestFormatter],
]);

function formatterFor(type: string): Formatter {
  const { resource } = splitEventType(type);
  return formatters.get(type) ?? formatters.get(resource) ?? genericFormatter;
}

/** "event type · project" (or the organization, for events about a whole organization): every built-in embed's footer. */
export function footerText(type: string, facts: Pick<EventFacts, 'projects' | 'organization'>): string {
  const where = facts.projects[0] ?? facts.organization;
  return where ? `${type} · ${where}` : type;
}

function embedWith(formatter: Formatter, type: string, payload: unknown): APIEmbed {
  const { resource, action } = splitEventType(type);
  return formatter({ type, resource, action, payload })
    .setFooter({ text: footerText(type, eventFacts(type, payload)) })
    .toJSON();
}

/**
 * The built-in embed for an event, always within Discord's limits. Its formatter may still throw
 * on a payload nobody foresaw; the caller then falls back to `genericEmbed`.
 */
export function formatEvent(type: string, payload: unknown): APIEmbed {
  return embedWith(formatterFor(type), type, payload);
}

/** The embed for any event: its type, a title if one is found and an excerpt. Never throws. */
export function genericEmbed(type: string, payload: unknown): APIEmbed {
  return embedWith(genericFormatter, type, payload);
}
