import { expect } from 'vitest';
import { snowflake, type PostedMessage } from './fake-discord.js';
import type { Harness } from './harness.js';
import { componentClick, interact, modalSubmit, slash, type InteractionPayload, type Member } from './interactions.js';
import { deliveriesOfEvent } from './db.js';

/** A card and its buttons as a member sees them at the loopback Discord: what the triage and people tests click. */

type Payload = Record<string, any>;
type Message = { id: string; channel_id: string; components: any[]; embeds: unknown[]; flags?: number };

export const fieldOf = (embed: Payload | undefined, name: string): string | undefined =>
  (embed?.fields as { name: string; value: string }[] | undefined)?.find((f) => f.name === name)?.value;

export const labelsOf = (message: { components: any[] }): string[] =>
  message.components.flatMap((row) => row.components.map((c: any) => c.label ?? c.placeholder));

export const buttonIdOf = (message: { components: any[] }, label: string): string =>
  message.components.flatMap((row) => row.components).find((c: any) => c.label === label)?.custom_id as string;

/** The lines of a card's thread, without their time tags and escapes. */
export function threadLinesOf(h: Harness, cardId: string): string[] {
  return h.discord
    .messagesIn(cardId)
    .flatMap((m) => (m.content ?? '').split('\n'))
    .map((l) => l.replace(/^<t:\d+:t> /, '').replace(/\\(.)/g, '$1'));
}

/** Clicks a button of a message as `member`; resolves with the bot's first answer to the click. */
export function clickButton(h: Harness, member: Member, message: Message, label: string) {
  const id = buttonIdOf(message, label);
  expect(id, `a "${label}" button`).toBeDefined();
  return interact(h.discord, componentClick(member, message, id));
}

/** What the member is told after the click was acknowledged: a follow-up, or the edit of their own message. */
export const answerTo = (h: Harness, first: { token: string }) =>
  h.discord.waitForResponse((r) => r.token === first.token && r.kind !== 'callback');

/**
 * A button that opens a menu only the member sees (Assign…, Archive…), then a choice in it:
 * resolves with the menu (as the member saw it) and the bot's first answer to the choice.
 */
export async function chooseFromMenu(h: Harness, member: Member, message: Message, button: string, value: string) {
  const opened = await clickButton(h, member, message, button);
  const menu = await h.discord.waitForResponse((r) => r.token === opened.token && r.kind === 'edit');
  const select = menu.body.components[0].components[0];
  const ephemeral = { id: snowflake(), channel_id: message.channel_id, components: menu.body.components, embeds: [], flags: 64 };
  const chosen = await interact(h.discord, componentClick(member, ephemeral, select.custom_id, [value]));
  return { menu: menu.body, chosen };
}

/**
 * Resolves once the worker has carried out (and recorded) everything an event meant: each delivery
 * posted, or collapsed (a member's DM another source's copy of the same change told).
 */
export async function handled(h: Harness, eventId: string): Promise<void> {
  const done = (status: string) => status === 'delivered' || status === 'collapsed';
  await expect
    .poll(async () => (await deliveriesOfEvent(h.dispatch.db, eventId)).map((d) => d.status).every(done), { timeout: 5000 })
    .toBe(true);
}

/** A form opened by a slash command, then submitted with `values`: resolves with the bot's answer to the form. */
export async function submitForm(h: Harness, member: Member, opener: InteractionPayload, values: Record<string, string>) {
  const opened = await interact(h.discord, opener);
  expect(opened.body.type).toBe(9); // the form
  const submit = modalSubmit(member, opened.body.data.custom_id, values);
  await interact(h.discord, submit);
  return { form: opened.body, answer: await answerTo(h, submit) };
}

/** `/dispatch me connect`, filled in: resolves with the form (as shown) and the answer. */
export const connectMe = (h: Harness, member: Member, values: { token: string; url: string; org: string }) =>
  submitForm(h, member, slash(member, 'connect', [], 'me'), values);

/** The newest message in a channel showing `text`. */
export const messageShowing = (h: Harness, channelId: string, text: string): PostedMessage | undefined =>
  h.discord
    .messagesIn(channelId)
    .filter((m) => JSON.stringify(m.embeds).includes(text))
    .at(-1);
