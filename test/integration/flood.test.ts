import { afterEach, describe, expect, it } from 'vitest';
import { queueStats } from '../../src/db/queue.js';
import { deliveriesOf, sourceRow } from '../support/db.js';
import { startHarness, waitFor, type Harness } from '../support/harness.js';
import { admin, answerOf, shownText, slash, str } from '../support/interactions.js';
import { loadFixture } from '../support/sentry.js';

const issue = loadFixture('issue.created.json') as { data: { issue: Record<string, unknown> } };
const error = loadFixture('error.created.json') as { data: { error: Record<string, unknown> } };
const comment = loadFixture('comment.created.json') as { data: Record<string, unknown> };

const payloads = {
  issue: (i: number) => ({ ...issue, data: { issue: { ...issue.data.issue, shortId: `FLOOD-${i}` } } }),
  error: (i: number) => ({ ...error, data: { error: { ...error.data.error, event_id: `e${i}` } } }),
  comment: (i: number) => ({ ...comment, data: { ...comment.data, comment_id: i } }),
};

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function outageThenBurst(counts: { issue: number; error: number; comment: number }) {
  h = await startHarness({
    env: { FLOOD_THRESHOLD: '50', FLOOD_AFTER: '200ms', RETRY_SCHEDULE: '400ms,400ms,400ms', BATCH_LINGER: '20ms' },
  });
  const source = await h.addSource({ secret: null });
  // Discord is down for the first three attempts (about 1.2 s).
  h.discord.inject(Array(3).fill({ status: 503, body: { message: 'Service Unavailable' } }), h.channelId);
  const sends: Promise<Response>[] = [];
  for (const [resource, n] of Object.entries(counts) as [keyof typeof payloads, number][]) {
    for (let i = 0; i < n; i++) sends.push(h.postEvent(source, resource, payloads[resource](i)));
  }
  expect((await Promise.all(sends)).every((r) => r.status === 202)).toBe(true);
  const total = counts.issue + counts.error + counts.comment;
  await expect.poll(async () => (await queueStats(h!.dispatch.db, Date.now())).depth, { timeout: 20_000 }).toBe(0);
  await new Promise((r) => setTimeout(r, 100));
  return { source, total };
}

function tally(harness: Harness) {
  let individual = 0;
  const summarized = new Map<string, number>();
  for (const embed of harness.discord.messagesIn(harness.channelId).flatMap((m) => m.embeds) as {
    title?: string;
    footer?: { text: string };
  }[]) {
    const match = /^\+(\d+) more (\S+) events? /.exec(embed.title ?? '');
    if (match && embed.footer?.text.endsWith('flood summary'))
      summarized.set(match[2]!, (summarized.get(match[2]!) ?? 0) + Number(match[1]));
    else individual += 1;
  }
  return { individual, summarized, summarizedTotal: [...summarized.values()].reduce((a, b) => a + b, 0) };
}

describe('floods', () => {
  it('collapses a backlog past the threshold into per-type summaries, every event posted or counted exactly once', async () => {
    const { source, total } = await outageThenBurst({ issue: 80, error: 30, comment: 10 });
    const { individual, summarized, summarizedTotal } = tally(h!);
    expect(individual + summarizedTotal).toBe(total);
    expect(summarizedTotal).toBeGreaterThan(50);
    expect([...summarized.keys()].sort()).toEqual(['comment.created', 'error.created', 'issue.created']);
    const summary = h!.discord
      .messagesIn(h!.channelId)
      .flatMap((m) => m.embeds)
      .find((e) => String((e as { title?: string }).title).includes('issue.created')) as { title: string; description: string };
    expect(summary.title).toMatch(/^\+\d+ more issue\.created events from python since \d\d:\d\d UTC$/);
    expect(summary.description).toContain('**Latest:**');

    const rows = await deliveriesOf(h!.dispatch.db, source.id);
    const collapsed = rows.filter((e) => e.status === 'collapsed').length;
    expect(collapsed).toBe(summarizedTotal);
    expect(rows.filter((e) => e.status === 'delivered').length).toBe(individual);
    const after = await sourceRow(h!.dispatch.db, source.id);
    expect(after).toMatchObject({ eventsCollapsed: summarizedTotal, eventsDelivered: individual, floodSummaries: summarized.size });

    await waitFor(() => h!.dispatch.client.isReady(), 20_000, 'the gateway');
    const info = await answerOf(h!.discord, slash(admin(h!.guild), 'info', [str('source', source.name)]));
    expect(shownText(info)).toContain(`${summarizedTotal} events collapsed into ${summarized.size} summaries`);
  });

  it('below the threshold, every event gets its own embed', async () => {
    const { total } = await outageThenBurst({ issue: 30, error: 10, comment: 5 });
    const { individual, summarizedTotal } = tally(h!);
    expect(summarizedTotal).toBe(0);
    expect(individual).toBe(total);
  });
});
