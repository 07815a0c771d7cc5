import { AttachmentBuilder } from 'discord.js';
import type { Source } from '../src/db/schema.js';
import { CONTENT_LIMIT } from '../src/embed/limits.js';
import { guildOf } from '../src/ids.js';
import { ACTION_TITLE, alertRuleActionSchema } from '../src/sentry/ui-schema.js';
import { webhookUrl } from './replies.js';
import { requireSource } from './source-lookup.js';
import type { Answer, CommandContext, CommandInvocation } from './types.js';

/** Where the schema goes in Sentry, and what it then does: the README's step list, in short. */
function schemaSteps(source: Source, url: string): string[] {
  return [
    `**Pick the channel from Sentry's alert rules** (source **${source.name}**)`,
    `1. Sentry → **Settings → Developer Settings → Custom Integrations** → the internal integration whose Webhook URL is \`${url}\`.`,
    '2. Tick **Alert Rule Action**, paste the JSON below into **Schema**, and **Save Changes**.',
    `3. In an issue or metric alert rule, add the action **${ACTION_TITLE}** (Sentry may call it "Send a notification via" your integration), pick a **Route**, optionally a **Ping role** and a **Note**, and save: Dispatch checks the choice then.`,
    source.signingSecret
      ? 'Alerts whose rule names a route go to that route only; everything else is routed by your filters, as before.'
      : '⚠️ This source has no signing secret: set the Client Secret with `/dispatch source secret` first, so that only Sentry can use these.',
  ];
}

/**
 * The answer: the steps and the JSON in a code block when they fit in one message, else the steps
 * with the JSON as a file (a schema pasted from a cut message would be refused by Sentry).
 */
export function schemaReply(steps: string[], json: string, fileName: string): Answer {
  const inline = [...steps, '```json', json, '```'].join('\n');
  if (inline.length <= CONTENT_LIMIT) return { content: inline };
  return {
    content: [...steps, `The schema is in **${fileName}**, attached.`].join('\n'),
    files: [new AttachmentBuilder(Buffer.from(json, 'utf8'), { name: fileName })],
  };
}

/** `/dispatch source schema`: the JSON to paste in the Sentry integration's Schema field. */
export async function schemaCommand(interaction: CommandInvocation, ctx: CommandContext): Promise<Answer> {
  const source = await requireSource(ctx, guildOf(interaction), interaction.options.getString('source', true));
  const json = JSON.stringify(alertRuleActionSchema(ctx.publicUrl, source.slug), null, 2);
  return schemaReply(schemaSteps(source, webhookUrl(ctx.publicUrl, source)), json, `dispatch-${source.name}-schema.json`);
}
