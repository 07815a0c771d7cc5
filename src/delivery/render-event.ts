import type { APIEmbed } from 'discord.js';
import type { Db } from '../db/client.js';
import type { EventRow } from '../db/schema.js';
import { recordTemplateError, templateFor } from '../db/templates.js';
import type { Logger } from '../logger.js';
import { fitEmbed, truncate } from '../sentry/embed-limits.js';
import { splitEventType } from '../sentry/event-type.js';
import { formatEvent } from '../sentry/registry.js';
import { renderTemplate, type RenderedMessage } from '../templates/render-template.js';
import { compileCached } from '../templates/template-cache.js';
import { TemplateError } from '../templates/template-error.js';

/** One event's part of a Discord message. */
export interface RenderedEvent {
  embed: APIEmbed;
  /** Only from a custom template; a message with content carries this one event alone. */
  content?: string;
  allowedRoleIds?: string[];
}

/** The source's custom template for this event, rendered; throws TemplateError when it cannot be. */
export function renderWithTemplate(body: string, event: Pick<EventRow, 'eventType' | 'receivedAt'>, payload: unknown): RenderedMessage {
  const { resource, action } = splitEventType(event.eventType);
  return renderTemplate(compileCached(body), { type: event.eventType, resource, action, receivedAt: event.receivedAt, payload });
}

/**
 * The message part for a stored event: the most specific custom template of its source, or the
 * built-in embed. A template that fails never loses the event: its error is recorded on the source
 * and the built-in embed goes out instead.
 */
export function createEventRenderer(db: Db, logger: Logger): (event: EventRow) => RenderedEvent {
  return (event) => {
    const payload = JSON.parse(event.body) as unknown;
    const template = templateFor(db, event.sourceId, event.eventType);
    if (template) {
      try {
        const rendered = renderWithTemplate(template.body, event, payload);
        return { embed: fitEmbed(rendered.embed), content: rendered.content, allowedRoleIds: rendered.allowedRoleIds };
      } catch (error) {
        // Whatever went wrong, the event is not lost: anything unexpected counts as a render failure.
        const failure =
          error instanceof TemplateError ? error : new TemplateError('render', truncate(String((error as Error)?.message ?? error), 300));
        const message = `template ${template.eventPattern} failed (${failure.kind}): ${failure.message}`;
        recordTemplateError(db, event.sourceId, message);
        logger.warn(
          { event_id: event.id, source_id: event.sourceId, event_type: event.eventType, reason: message },
          'custom template failed; posting the built-in embed',
        );
      }
    }
    return { embed: formatEvent(event.eventType, payload) };
  };
}
