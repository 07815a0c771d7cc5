import fc from 'fast-check';
import { describe, expect, inject, it } from 'vitest';
import { MISSING_ROUTE_LINE } from '../../src/routing/select-routes.js';
import { TEST_DIALECT } from '../support/harness.js';
import { addRoute, commandArbitraries, heal, linkPerson, makeSource } from './commands.js';
import { checkAtQuiescence, checkCardsTrueToSentry, checkNothingStale } from './invariants.js';
import type { Model } from './model.js';
import { World } from './world.js';

/**
 * The delivery engine as a whole, under a generated story: webhooks to four sources in two
 * servers (feed and card routes, several routes per source, follow-ups about the same issues,
 * duplicates, alerts whose rule names a route: their own, one removed, another server's), route and source changes, templates,
 * issues changing in Sentry without a webhook and cards read back from Sentry's API, Discord failing in every way delivery knows
 * (5xx runs, 429s, outages, a channel denied, a card deleted, the edit cap), sends held in flight
 * while the rest goes on, floods past FLOOD_AFTER, and restarts; webhooks whose body arrives around a member's change, bodies near
 * MAX_BODY_BYTES, a source off for days with a daily digest; on Postgres, two Dispatch instances on one database sharing channels
 * through advisory locks, webhooks to each in turn. The real worker, card lane,
 * routing, webhook app and database run against the loopback Discord on a simulated clock; a
 * model of what should happen runs beside them (fast-check's model-based testing), and a failure
 * shrinks to the shortest story that shows it.
 *
 * SIM_RUNS (how many stories) and SIM_SEED (to replay one; with SIM_PATH and SIM_REPLAY, the shrunk counterexample alone) go further than CI's budget; SIM_LOG=1
 * keeps the engine's log for the failing story.
 */

const RUNS = Number(process.env.SIM_RUNS ?? (TEST_DIALECT === 'postgres' ? 60 : 200));
const SEED = process.env.SIM_SEED === undefined ? Date.now() % 2 ** 31 : Number(process.env.SIM_SEED);
const MAX_COMMANDS = Number(process.env.SIM_COMMANDS ?? 28);

/** What the stories exercised, summed over the run: a budget that never floods or holds proves little. */
const coverage = {
  stories: 0,
  events: 0,
  summaries: 0,
  cards: 0,
  threads: 0,
  pointers: 0,
  restarts: 0,
  requests: 0,
  /** Messages showing an alert routed by its rule's settings (its note), and those saying the named route was missing. */
  ruleAlerts: 0,
  misrouted: 0,
  /** Cards set right by a read-back from Sentry (their line, in a thread or on the card). */
  readBacks: 0,
  digests: 0,
  /** Discord requests made by the second Dispatch on the same Postgres (0 on SQLite). */
  secondInstance: 0,
  silent: 0,
  /** Webhooks acknowledged from the spool while the database was away, then drained. */
  spooled: 0,
  /** Members' DMs sent, and clicks made as a connected member (their personal token). */
  dms: 0,
  personalClicks: 0,
};

function tally(world: World): void {
  coverage.stories += 1;
  coverage.dms += world.discord.messages.filter((m) => world.discord.dmChannels.has(m.channel_id)).length;
  coverage.personalClicks += world.sentry.updates().filter((r) => r.authorization?.startsWith('Bearer sntryu_')).length;
  coverage.restarts += world.restarts;
  coverage.secondInstance += world.secondRequests;
  coverage.spooled += world.spooled;
  coverage.requests += world.costs.requests;
  coverage.threads += world.discord.threads.size;
  for (const message of world.discord.messages) {
    const text = JSON.stringify(message.embeds);
    if (text.includes('flood summary')) coverage.summaries += 1;
    if (text.includes('live card')) coverage.cards += 1;
    if (message.content?.includes('this card moved down')) coverage.pointers += 1;
    if (text.includes('note of')) coverage.ruleAlerts += 1;
    if (text.includes(MISSING_ROUTE_LINE)) coverage.misrouted += 1;
    if (message.content?.includes('Synced from Sentry')) coverage.readBacks += 1;
    if (text.includes('dispatch.digest')) coverage.digests += 1;
    if (message.flags === 4096) coverage.silent += 1;
  }
}

async function story(commands: Iterable<fc.AsyncCommand<Model, World>>): Promise<void> {
  const world = await World.create({
    dialect: TEST_DIALECT,
    ...(TEST_DIALECT === 'postgres' ? { postgresUrl: inject('postgresUrl'), postgresTemplate: inject('postgresTemplate') } : {}),
    log: process.env.SIM_LOG === '1',
  });
  const model: Model = {
    sources: [],
    events: [],
    people: world.people.map((p) => ({ ...p, linked: false, closed: false, stops: [] })),
    nextEvent: 1,
    nextIssue: 1,
    nextName: 1,
    faults: 0,
    gates: [],
    wave: 0,
  };
  try {
    // Two sources per server; the first has three routes, so that source and route ids differ from the start
    // (source 3, in server 1, has the id of route 3, in server 0).
    await makeSource(model, world, 0, 'feed', 0);
    await addRoute(model, world, 0, 1, 'feed', 0);
    await addRoute(model, world, 0, 2, 'feed', 0);
    await makeSource(model, world, 1, 'card', 1);
    await makeSource(model, world, 2, 'feed', 0);
    await makeSource(model, world, 3, 'card', 0);
    // Two people connected from the start (Sentry user 701 in both servers), the third may connect later.
    await linkPerson(model, world, 0, true);
    await linkPerson(model, world, 1, true);
    await fc.asyncModelRun(() => ({ model, real: world }), commands);
    // Everything healed, and the clock moved well past every retry and probe.
    await heal(model, world);
    expect(await world.advance(5 * 60_000), 'the engine went quiet while healing').toBe(true);
    // A last read-back from Sentry: every card then says what Sentry has.
    await world.reconciler.syncAll(0);
    expect(await world.advance(60_000), 'the engine went quiet after the last read-back').toBe(true);
    await checkCardsTrueToSentry(world);
    await checkNothingStale(world, 0);
    await checkAtQuiescence(model, world);
    tally(world);
    coverage.events += model.events.length;
  } catch (error) {
    if (process.env.SIM_LOG === '1') {
      console.log(world.logs());
      for (const m of world.discord.messages)
        console.log(
          'message',
          m.channel_id,
          m.id,
          m.nonce,
          [...JSON.stringify([m.content, m.embeds]).matchAll(/G\dS\d+[EI]\d+/g)].map((x) => x[0]).join(' '),
        );
      for (const m of world.discord.messages)
        console.log(
          'embeds',
          m.id,
          JSON.stringify(
            (m.embeds as { title?: string; footer?: { text?: string }; description?: string }[]).map((e) => [
              e.title,
              e.footer?.text,
              (e.description ?? '').slice(0, 80),
            ]),
          ),
        );
    }
    throw error;
  } finally {
    await world.close();
  }
}

describe(`the delivery engine simulated (${TEST_DIALECT})`, () => {
  it(`${RUNS} generated stories keep every invariant (seed ${SEED})`, { timeout: 1_500_000 }, async () => {
    console.log(`simulation: ${RUNS} runs on ${TEST_DIALECT}, seed ${SEED} (replay with SIM_SEED=${SEED})`);
    const started = Date.now();
    await fc.assert(
      fc.asyncProperty(
        fc.commands(commandArbitraries, {
          maxCommands: MAX_COMMANDS,
          size: 'max',
          ...(process.env.SIM_REPLAY === undefined ? {} : { replayPath: process.env.SIM_REPLAY }),
        }),
        (commands) => story(commands),
      ),
      {
        numRuns: RUNS,
        seed: SEED,
        endOnFailure: process.env.SIM_SHRINK === '0',
        ...(process.env.SIM_PATH === undefined ? {} : { path: process.env.SIM_PATH }),
      },
    );
    console.log(`simulation: ${RUNS} runs in ${((Date.now() - started) / 1000).toFixed(1)} s; exercised ${JSON.stringify(coverage)}`);
  });
});
