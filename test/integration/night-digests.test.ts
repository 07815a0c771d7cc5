import { afterEach, describe, expect, it } from 'vitest';
import { claimDigest, quietHeld } from '../../src/db/digests.js';
import { setSourceEnabled } from '../../src/db/sources.js';
import { scheduleWorld } from '../support/schedule-world.js';

/**
 * What quiet hours held goes into one digest, the one of its own night. Found in review of issue
 * 28's rewrite, each test failing before its fix: a night's digest made late took the next night's
 * held events too, and a second left-over digest could be claimed beside one underway.
 */
let w: Awaited<ReturnType<typeof scheduleWorld>> | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

describe('a night digest made late', () => {
  /**
   * Found in review: last night's digest, made late because its source was disabled when it was due
   * (or Dispatch was down), took every event quiet hours held on the route, tonight's too: they were
   * shown in a digest of last night posted in the middle of tonight, and tonight's digest did not list them.
   */
  it("takes last night's held events only: tonight's are in tonight's digest", async () => {
    w = await scheduleWorld('feed');
    await w.edit({ schedule: { quietFrom: 22 * 60, quietTo: 8 * 60 } });
    w.setClock('2026-01-10T23:00:00Z');
    await w.send('issue.created', 'NIGHT1', 'warning');
    w.setClock('2026-01-11T07:00:00Z');
    const disabled = await setSourceEnabled(w.db, w.source, false, w.now());
    w.setClock('2026-01-11T08:00:30Z');
    expect(await w.scheduler.tick()).toBe(0); // none while it is disabled
    w.setClock('2026-01-11T22:30:00Z');
    await w.send('issue.created', 'NIGHT2', 'warning');
    w.setClock('2026-01-11T23:00:00Z');
    await setSourceEnabled(w.db, disabled, true, w.now());
    await w.scheduler.tick(); // last night's, late
    w.setClock('2026-01-12T08:00:30Z');
    await w.scheduler.tick(); // tonight's
    const quiet = (await w.digests()).filter((d) => d.kind === 'quiet');
    expect(quiet.map((d) => [new Date(d.period_end).toISOString(), d.events])).toEqual([
      ['2026-01-11T08:00:00.000Z', 1],
      ['2026-01-12T08:00:00.000Z', 1],
    ]);
    const [lastNight, tonight] = (await w.digestBodies()).map((b) => b.data.description);
    expect([lastNight?.includes('ISS-NIGHT1'), lastNight?.includes('ISS-NIGHT2'), tonight?.includes('ISS-NIGHT2')]).toEqual([
      true,
      false,
      true,
    ]);
  });
});

describe('what quiet hours held is taken by one digest at a time', () => {
  /**
   * Found in review: the claim's guard looked for an unfinished 'quiet' digest only, so a replica that
   * had read "nothing underway" just before another replica claimed a left-over digest claimed one
   * too, and the held events were split between two digests.
   */
  it('a second left-over digest is not claimed while one of the route is underway', async () => {
    w = await scheduleWorld('feed');
    await w.edit({ schedule: { quietFrom: 22 * 60, quietTo: 8 * 60 } });
    w.setClock('2026-01-10T23:00:00Z');
    await w.send('issue.created', 'HELD1', 'warning');
    w.setClock('2026-01-11T03:00:00Z');
    await w.edit({ schedule: { quietFrom: 23 * 60, quietTo: 2 * 60 } }); // over already: HELD1 is left over
    const route = await w.current();
    const seenByB = await quietHeld(w.db, route.id); // replica B looks: nothing underway
    expect(seenByB.digestUnderway).toBe(false);
    const period = (end: number) => ({ start: seenByB.oldest!, end });
    expect(await claimDigest(w.db, { routeId: route.id, kind: 'leftover', period: period(w.now()) }, w.now())).toBeDefined(); // replica A
    w.setClock('2026-01-11T03:00:00.500Z');
    expect(await claimDigest(w.db, { routeId: route.id, kind: 'leftover', period: period(w.now()) }, w.now())).toBeUndefined(); // B
    expect(await claimDigest(w.db, { routeId: route.id, kind: 'quiet', period: period(w.now()) }, w.now())).toBeUndefined();
  });
});
