import type { APIEmbed } from 'discord.js';
import { LimitedEmbedBuilder } from '../embed/builder.js';
import { splitEventType } from '../sentry/event-type.js';
import { eventFacts, type EventFacts } from '../sentry/facts.js';
import { parsePayload } from '../sentry/payload.js';
import { formatEvent, genericEmbed } from '../sentry/registry.js';
import { renderTemplate } from '../templates/render-template.js';
import { compileCached } from '../templates/template-cache.js';
import { TemplateError, type TemplateFailure } from '../templates/template-error.js';
import { truncate } from '../embed/text.js';
import type { RoleId, RouteId } from '../ids.js';
import { alertActionsOf, type AlertActions } from '../sentry/alert-action.js';
import { alertActionOn } from '../routing/select-routes.js';
import { withAlertActionFields } from './alert-action-fields.js';

/** What rendering needs of a stored event. */
export interface EventToRender {
  eventType: string;
  receivedAt: number;
  /** The webhook body as received. */
  body: string;
  /** The plainest drawing to start from (see DRAWINGS): set after Discord refused a richer one. */
  renderFallback?: number;
  /** The route it is delivered on, when it is: an alert posted elsewhere than the route its rule named says why. */
  routeId?: RouteId;
}

/** 0: its template, 1: the built-in embed, 2: the generic embed (the order of policy's DRAWINGS). */
export type Drawing = 0 | 1 | 2;

/** The custom template that applies to the event, if any. */
export interface TemplateToApply {
  eventPattern: string;
  body: string;
}

/** One event's part of a Discord message. */
export interface RenderedEvent {
  embeds: APIEmbed[];
  /** Only from a custom template; a message with content carries this one event alone. */
  content?: string;
  /** Roles `content` may ping; empty for the built-in embeds. */
  allowedRoleIds: RoleId[];
  facts: EventFacts;
  /** The Dispatch actions of the alert rule that sent it, if any: routes, ping roles and notes (unchecked). */
  alert?: AlertActions;
  /** How it was drawn this time. */
  drawing: Drawing;
  /** The pattern of the template it was drawn with (drawing 0). */
  templatePattern?: string;
  /** The template failed and the built-in embed stands in; the caller records it once the message is sent. */
  templateFailure?: { pattern: string; kind: TemplateFailure; message: string };
  /** Things a template dropped on the way (an empty field, a bad URL), shown by preview. */
  warnings: string[];
}

/**
 * Turns a stored event into its part of a message: the template's embed when one applies and
 * works, else the built-in embed. Pure: it reads no clock, writes nothing and never throws, so the
 * worker, the template preview and `/dispatch source test` all draw an event the same way.
 */
export function renderEvent(event: EventToRender, template?: TemplateToApply): RenderedEvent {
  let payload: Record<string, unknown> | undefined;
  try {
    payload = parsePayload(event.body);
  } catch {
    payload = undefined;
  }
  const facts = eventFacts(event.eventType, payload ?? {});
  const fallback = event.renderFallback ?? 0;
  const alert = payload && alertActionsOf(event.eventType, payload);
  const shown = alertActionOn(alert, event.routeId);
  const annotated = (embed: APIEmbed) =>
    shown ? withAlertActionFields(embed, { note: shown.action?.note, misrouted: shown.misrouted }) : embed;
  const part = (embed: APIEmbed, drawing: Drawing): RenderedEvent => ({
    embeds: [drawing === 2 ? embed : annotated(embed)],
    allowedRoleIds: [],
    facts,
    ...(alert ? { alert } : {}),
    drawing,
    warnings: [],
  });
  if (payload === undefined || fallback >= 2) {
    const generic = genericEmbed(event.eventType, payload ?? {});
    if (payload === undefined)
      generic.description = 'The payload of this event could not be read; it was received and is shown as it could be.';
    return part(generic, 2);
  }
  const builtIn = () => {
    try {
      return part(formatEvent(event.eventType, payload), 1);
    } catch {
      // A formatter that throws on a payload it did not expect gives way to the generic embed.
      return part(genericEmbed(event.eventType, payload), 2);
    }
  };
  if (!template || fallback >= 1) return builtIn();
  try {
    const { resource, action } = splitEventType(event.eventType);
    const rendered = renderTemplate(compileCached(template.body), {
      type: event.eventType,
      resource,
      action,
      receivedAt: event.receivedAt,
      payload,
    });
    return {
      embeds: [annotated(LimitedEmbedBuilder.fit(rendered.embed))],
      ...(rendered.content ? { content: rendered.content } : {}),
      allowedRoleIds: rendered.allowedRoleIds,
      facts,
      ...(alert ? { alert } : {}),
      drawing: 0,
      templatePattern: template.eventPattern,
      warnings: rendered.warnings,
    };
  } catch (error) {
    // Whatever went wrong, the event is not lost: anything unexpected counts as a render failure.
    const failure =
      error instanceof TemplateError ? error : new TemplateError('render', truncate(String((error as Error)?.message ?? error), 300));
    return { ...builtIn(), templateFailure: { pattern: template.eventPattern, kind: failure.kind, message: failure.message } };
  }
}

/** How a template failure is recorded on its source and shown by `info`, `preview` and `list`. */
export function describeTemplateFailure(failure: NonNullable<RenderedEvent['templateFailure']>): string {
  return `template ${failure.pattern} failed (${failure.kind}): ${failure.message}`;
}
