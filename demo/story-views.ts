import type { PostedMessage } from '../test/support/fake-discord.js';
import type { MessageView } from './transcript.js';

/** What the story reads of Discord's messages and answers, and how an answer is drawn on the page. */

export const carries = (message: PostedMessage | undefined, text: string) => JSON.stringify(message?.embeds ?? []).includes(text);
export const fieldOf = (message: PostedMessage | undefined, name: string): string | undefined =>
  (message?.embeds[0]?.fields as { name: string; value: string }[] | undefined)?.find((f) => f.name === name)?.value;

/** What the bot answered to an interaction, as a message only the member sees. */
export function answerView(answer: { kind: string; body: any }): MessageView {
  const message = answer.kind === 'callback' ? answer.body?.data : answer.body;
  return {
    id: `answer-${answer.kind}-${Date.now()}`,
    at: Date.now(),
    content: message?.content ?? '',
    embeds: message?.embeds ?? [],
    components: message?.components ?? [],
    ephemeral: true,
  };
}
