import type { Source } from '../src/db/schema.js';
import { escapeText } from '../src/embed/markdown.js';
import { truncate } from '../src/embed/text.js';

export function webhookUrl(publicUrl: string, source: Source): string {
  return `${publicUrl}/hooks/${source.slug}`;
}

/** Custom ids carry the time they were made, so a form submitted long after is refused clearly. */
export const FORM_LIFETIME_MS = 15 * 60 * 1000;

/** Discord's limit on a component's custom id. */
const CUSTOM_ID_MAX = 100;

export function customId(action: string, ...args: (string | number)[]): string {
  const id = ['dispatch', action, ...args].join(':');
  // Every id is built from bounded parts; a longer one is a bug here, not the member's input.
  if (id.length > CUSTOM_ID_MAX) throw new Error(`custom id for ${action} is ${id.length} characters; Discord allows ${CUSTOM_ID_MAX}`);
  return id;
}

/** Discord's limit on a modal's title: names of 32 characters make longer titles, so they are cut. */
const MODAL_TITLE_MAX = 45;

export function modalTitle(text: string): string {
  return truncate(text, MODAL_TITLE_MAX);
}

/** A recorded failure and when it happened, within an embed field. Its words come from Discord or a payload: escaped. */
export function failureText(text: string, at: number | null): string {
  return `${escapeText(truncate(text, 800))} (${relativeTime(at)})`;
}

export function relativeTime(ms: number | null | undefined): string {
  return ms ? `<t:${Math.floor(ms / 1000)}:R>` : 'never';
}
