import { z } from 'zod';
import { eventTitle, exceptionOf, SentryEventSchema, tagOf, type SentryEventData } from '../sentry/formatters/sentry-event.js';
import { loose, optString, parseLoose } from '../sentry/loose-schema.js';
import { alertNeedsEyes } from './attention.js';
import type { AlertShown, CardState } from './card-state.js';
import type { CardStep } from './card-step.js';

const ErrorPayload = z.looseObject({
  data: loose({ error: SentryEventSchema, event: SentryEventSchema, triggered_rule: optString, issue_alert: loose({ title: optString }) }),
});

/** An error event's own facts: what it raised, where, in which environment and release. */
function latestEventOf(event: SentryEventData, at: number): NonNullable<CardState['latestEvent']> {
  const exception = exceptionOf(event);
  const title = exception.type ? [exception.type, exception.value].filter(Boolean).join(': ') : eventTitle(event);
  return {
    ...(title ? { title } : {}),
    ...(event.culprit ? { culprit: event.culprit } : {}),
    ...((event.environment ?? tagOf(event, 'environment')) ? { environment: event.environment ?? tagOf(event, 'environment') } : {}),
    ...((event.release ?? tagOf(event, 'release')) ? { release: event.release ?? tagOf(event, 'release') } : {}),
    ...(event.platform ? { platform: event.platform } : {}),
    at,
  };
}

/** Sentry's `error.created` webhook: one more event of the issue (what the card knew of the issue stays). */
export function foldError(prev: CardState | undefined, payload: unknown, at: number): CardStep {
  const error = parseLoose(ErrorPayload, payload).data?.error ?? {};
  const latest = latestEventOf(error, at);
  return {
    update: {
      title: prev?.title ?? latest.title,
      url: prev?.url ?? error.web_url,
      culprit: prev?.culprit ?? error.culprit,
      level: error.level,
      lastSeen: error.datetime,
      count: prev?.count !== undefined ? prev.count + 1 : undefined,
      latestEvent: latest,
    },
    line: `New event${latest.title ? `: ${latest.title}` : ''}`,
  };
}

/** An issue alert rule fired about the issue (`event_alert.triggered`): counted, and news when it fires again. */
export function foldIssueAlert(prev: CardState | undefined, payload: unknown, at: number, shown: AlertShown): CardStep {
  const { data } = parseLoose(ErrorPayload, payload);
  const event = data?.event ?? {};
  const rule = data?.triggered_rule ?? data?.issue_alert?.title ?? 'an alert rule';
  const times = (prev?.alert?.times ?? 0) + 1;
  return {
    update: {
      title: prev?.title ?? eventTitle(event),
      url: prev?.url ?? event.web_url,
      culprit: prev?.culprit ?? event.culprit,
      level: event.level,
      alert: { rule, times, at, ...shown },
      latestEvent: latestEventOf(event, at),
    },
    line: times > 1 ? `Alert "${rule}" fired again (${times} times)` : `Alert "${rule}" fired`,
    attention: alertNeedsEyes(times),
    detailed: alertNeedsEyes(times),
  };
}
