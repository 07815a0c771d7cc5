/**
 * npm run demo — Dispatch without a Discord token: it starts as `npm start` would, against the
 * loopback Discord and Sentry of the tests, plays a story from the repo's Sentry fixtures, and
 * writes demo/index.html, the channels as Discord shows them.
 *
 * npm run demo -- --template <file.json> [--event <fixture>…] — the same page for one template,
 * over every fixture (or those named), with what the template did beside each message.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { FakeDiscord } from '../test/support/fake-discord.js';
import { startLoopback } from './loopback.js';
import { renderStoryPage, renderTemplatePage } from './page.js';
import type { Recording } from './recording.js';
import { playStory, STORY, STORY_ENV } from './story.js';
import { playTemplateTour, TOUR_CHANNEL, type TemplateTour } from './template-tour.js';

export const DEMO_DIR = fileURLToPath(new URL('.', import.meta.url));

export interface StoryDemo {
  html: string;
  recording: Recording;
  /** The loopback Discord after the story (stopped): everything the bot sent it. */
  discord: FakeDiscord;
}

/** The story, played and drawn, each step said with `say` as it happens (it takes seconds). */
export async function storyDemo(say: (step: string) => void): Promise<StoryDemo> {
  const loop = await startLoopback([STORY.cards, STORY.feed], STORY_ENV);
  say('Dispatch started as `npm start` starts it, logged in to a loopback Discord (nothing leaves this machine)');
  let recording: Recording;
  try {
    recording = await playStory(loop, say);
  } finally {
    await loop.stop();
  }
  say('drawing the page');
  const html = await renderStoryPage(recording, {
    title: 'Dispatch, as your Discord shows it',
    intro: [
      `Made by <code>npm run demo</code> on ${new Date().toUTCString()}: Dispatch, started as <code>npm start</code> starts it, logged in to a Discord on this machine (the one the tests use), received webhooks made from the Sentry examples in <code>test/fixtures/sentry/</code>, and posted this. Nothing was sent to Discord or Sentry.`,
      `The source <code>${STORY.source}</code> has two routes: <code>main</code>, live cards in #${STORY.cards}, and <code>feed</code>, a message per event in #${STORY.feed}. It is connected to Sentry's API, so its cards have triage buttons.`,
      `The story: an issue is created, assigned, commented on, alerted on twice, given a root cause by Seer and resolved; a metric alert goes critical, then resolves; Bob connects his own Sentry identity, Alice gives him a new issue in Sentry (he gets a DM) and he archives it for 24 hours from its card, as himself; a burst of new issues arrives while #${STORY.feed} is slow (summarized there, batched as cards in #${STORY.cards}); and a template is set for new issues on the feed route.`,
    ],
  });
  return { html, recording, discord: loop.discord };
}

export interface TemplateDemo {
  html: string;
  tour: TemplateTour;
}

/** One template over every fixture (or those named), drawn with what it did to each event. */
export async function templateDemo(templatePath: string, events: string[] = []): Promise<TemplateDemo> {
  const template = readFileSync(templatePath, 'utf8');
  const loop = await startLoopback([TOUR_CHANNEL]);
  let tour: TemplateTour;
  try {
    tour = await playTemplateTour(loop, template, events);
  } finally {
    await loop.stop();
  }
  const html = await renderTemplatePage(tour.channel, tour.rows, {
    title: `Dispatch with the template ${templatePath.split('/').pop()}`,
    intro: [
      `Made by <code>npm run demo -- --template</code> on ${new Date().toUTCString()}: the template was set for every event (<code>*</code>) on a feed route, and each event below was sent as Sentry sends it. Beside each message: whether the template was used, what it dropped, or why the built-in embed was posted instead.`,
      ...(tour.refused ? [`<strong>Dispatch refused the template:</strong> ${tour.refused.replace(/[<>&]/g, '')}`] : []),
    ],
  });
  return { html, tour };
}

const HELP = `npm run demo — what Dispatch posts, without a Discord token or a Sentry account.

Starts Dispatch as \`npm start\` does, against a Discord and a Sentry API on loopback (those the
tests use), plays a story from the Sentry examples in test/fixtures/sentry/ and writes a page
showing the channels as Discord would: demo/index.html. Nothing leaves the machine.

  --out <folder>        write index.html there instead of demo/
  --template <file>     one template (JSON) over every example event, with what it did to each
  --event <fixture>     with --template: only this event (a path or a name in test/fixtures/sentry/); repeatable
  --help                this text`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      template: { type: 'string' },
      event: { type: 'string', multiple: true },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (values.event && !values.template) throw new Error('--event goes with --template <file.json>');
  const outDir = resolve(values.out ?? DEMO_DIR);
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, 'index.html');
  if (values.template) {
    const { html, tour } = await templateDemo(resolve(values.template), values.event);
    writeFileSync(file, html);
    console.log(`Open ${pathToFileURL(file).href}`);
    if (tour.refused) {
      console.error(`Dispatch refused the template: ${tour.refused}`);
      process.exitCode = 1;
    }
    return;
  }
  const say = (step: string) => console.log(`demo: ${step}`);
  writeFileSync(file, (await storyDemo(say)).html);
  console.log(`Open ${pathToFileURL(file).href}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    () => process.exit(),
    (error: unknown) => {
      console.error(`demo: ${(error as Error).message}`);
      process.exit(1);
    },
  );
}
