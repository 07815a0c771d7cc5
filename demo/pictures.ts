/**
 * npm run docs:pictures — the README's pictures: runs the demo, opens its page in headless
 * Chromium (Debian's, through playwright-core) and saves parts of it in docs/pictures/. Made by
 * hand and committed; CI never needs a browser.
 */
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { DEMO_DIR, storyDemo } from './run.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(ROOT, 'docs/pictures');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Pictures stay small enough for a README. */
const MAX_BYTES = 300 * 1024;

/** Each picture: the part of the demo page it shows (`parts`: only the box around these parts of it), and the page's width. */
export const PICTURES: Record<string, { selector: string; parts?: string[]; width?: number }> = {
  'live-card': { selector: '[data-picture="issue-card"]' },
  'card-life': { selector: '#life-1', width: 1700 },
  triage: { selector: '#panel-triage' },
  'archive-choice': { selector: '#panel-archive' },
  'direct-message': { selector: '#panel-dm' },
  'feed-message': { selector: '[data-picture="feed-message"]' },
  'flood-summary': { selector: '[data-picture="flood-summary"]' },
  digest: { selector: '[data-picture="digest"]' },
  'metric-alert': { selector: '#life-2', width: 1100 },
  seer: {
    selector: '#channel-sentry-feed discord-embed[author-name="Seer autofix"]',
    parts: ['.discord-left-border', '.discord-embed-root'],
  },
};

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) {
    console.error(
      `docs:pictures needs Chromium at ${CHROMIUM}. On Debian or Ubuntu: sudo apt-get install -y chromium fonts-noto-color-emoji` +
        ' (or set CHROMIUM_PATH to another Chromium or Chrome).',
    );
    process.exit(1);
  }
  const page = join(DEMO_DIR, 'index.html');
  writeFileSync(page, (await storyDemo((step) => console.log(`demo: ${step}`))).html);
  mkdirSync(OUT, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM });
  try {
    for (const [name, { selector, parts, width = 900 }] of Object.entries(PICTURES)) {
      const tab = await browser.newPage({ viewport: { width, height: 900 } });
      await tab.goto(`file://${page}`);
      const file = join(OUT, `${name}.png`);
      const element = tab.locator(selector).first();
      if (parts) {
        // An embed's element is as wide as the message; the embed itself is the box around its border and body.
        await element.scrollIntoViewIfNeeded();
        const boxes = await Promise.all(parts.map((part) => element.locator(part).first().boundingBox()));
        const x = Math.min(...boxes.map((b) => b!.x));
        const y = Math.min(...boxes.map((b) => b!.y));
        const right = Math.max(...boxes.map((b) => b!.x + b!.width));
        const bottom = Math.max(...boxes.map((b) => b!.y + b!.height));
        await tab.screenshot({ path: file, clip: { x, y, width: right - x, height: bottom - y } });
      } else await element.screenshot({ path: file });
      await tab.close();
      const size = statSync(file).size;
      console.log(`${file} (${Math.round(size / 1024)} KB)${size > MAX_BYTES ? ': over 300 KB, crop it' : ''}`);
    }
  } finally {
    await browser.close();
  }
}

main().then(
  () => process.exit(),
  (error: unknown) => {
    console.error(`docs:pictures: ${(error as Error).message}`);
    process.exit(1);
  },
);
