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

/** What rendering needs of a stored event. */
export interface EventToRender {
  eventType: string;
  receivedAt: number;
  /** The webhook body as received. */
  body: string;
}

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
  allowedRoleIds: string[];
  facts: EventFacts;
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
  let payload: unknown;
  try {
    payload = parsePayload(event.body);
  } catch {
    payload = {}; // still posted: the generic embed names the type
  }
  const facts = eventFacts(event.eventType, payload);
  const builtIn = (): RenderedEvent => ({ embeds: [builtInEmbed(event.eventType, payload)], allowedRoleIds: [], facts, warnings: [] });
  if (!template) return builtIn();
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
      embeds: [LimitedEmbedBuilder.fit(rendered.embed)],
      ...(rendered.content ? { content: rendered.content } : {}),
      allowedRoleIds: rendered.allowedRoleIds,
      facts,
      warnings: rendered.warnings,
    };
  } catch (error) {
    // Whatever went wrong, the event is not lost: anything unexpected counts as a render failure.
    const failure =
      error instanceof TemplateError ? error : new TemplateError('render', truncate(String((error as Error)?.message ?? error), 300));
    return { ...builtIn(), templateFailure: { pattern: template.eventPattern, kind: failure.kind, message: failure.message } };
  }
}

/** The built-in embed; a formatter that throws on a payload it did not expect gives way to the generic one. */
function builtInEmbed(eventType: string, payload: unknown): APIEmbed {
  try {
    return formatEvent(eventType, payload);
  } catch {
    return genericEmbed(eventType, payload);
  }
}

/** How a template failure is recorded on its source and shown by `info`, `preview` and `list`. */
export function describeTemplateFailure(failure: NonNullable<RenderedEvent['templateFailure']>): string {
  return `template ${failure.pattern} failed (${failure.kind}): ${failure.message}`;
}
