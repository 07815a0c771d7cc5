import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { asSourceId } from '../../src/ids.js';
import { SpoolFile, SpoolFull, SpoolInUse, type SpoolEntry } from '../../src/spool/spool-file.js';
import { tempDir } from '../support/harness.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function spoolIn(maxBytes = 1_000_000): { path: string; open: () => SpoolFile } {
  const dir = tempDir('dispatch-spool-');
  cleanups.push(dir.remove);
  const path = join(dir.path, 'dispatch.spool.db');
  const open = () => {
    const file = SpoolFile.open(path, { synchronous: 'FULL', maxBytes });
    cleanups.push(() => file.close());
    return file;
  };
  return { path, open };
}

const entry = (text: string, sourceId = 1, receivedAt = 1000): SpoolEntry => ({
  receivedAt,
  sourceId: asSourceId(sourceId),
  slug: `slug-${sourceId}`,
  eventType: 'issue.created',
  body: Buffer.from(text),
});

describe('the spool file', () => {
  it('keeps what it was given across a close and reopen, oldest first', () => {
    const spool = spoolIn();
    const first = spool.open();
    first.append(entry('{"n":1}'), 0);
    first.append(entry('{"n":2}', 2), 0);
    first.close();
    const again = spool.open();
    expect(again.count).toBe(2);
    expect(again.bytes).toBe(14);
    const batch = again.nextBatch(10, 1_000_000)!;
    expect(batch.drainAt).toBeNull();
    expect(batch.rows.map((r) => [r.body.toString(), r.sourceId, r.slug, r.eventType])).toEqual([
      ['{"n":1}', 1, 'slug-1', 'issue.created'],
      ['{"n":2}', 2, 'slug-2', 'issue.created'],
    ]);
  });

  it('is refused to a second opener: two replicas never drain one spool', () => {
    const spool = spoolIn();
    spool.open();
    expect(() => spool.open()).toThrow(SpoolInUse);
  });

  it('keeps the same bytes for the same source once within the dedupe window, and again after it or for another source', () => {
    const file = spoolIn().open();
    expect(file.append(entry('{"same":true}', 1, 1000), 0).duplicate).toBe(false);
    expect(file.append(entry('{"same":true}', 1, 2000), 500).duplicate).toBe(true);
    expect(file.append(entry('{"same":true}', 2, 2000), 500).duplicate).toBe(false);
    expect(file.append(entry('{"same":true}', 1, 9000), 1500).duplicate).toBe(false);
    expect(file.count).toBe(3);
  });

  it('refuses past its cap, says it is full until something is removed', () => {
    const file = spoolIn(20).open();
    const { seq } = file.append(entry('0123456789'), 0);
    expect(() => file.append(entry('abcdefghijk'), 0)).toThrow(SpoolFull);
    expect(file.full).toBe(true);
    expect(file.count).toBe(1);
    file.remove([seq]);
    expect(file.full).toBe(false);
    expect(file.append(entry('abcdefghijk'), 0).duplicate).toBe(false);
  });

  it('hands out batches bounded by rows and by bytes (at least one event), and the batch in doubt again as it was', () => {
    const file = spoolIn().open();
    const seqs = ['aaaa', 'bbbb', 'cccc', 'dddddddddddd', 'eeee'].map((text) => file.append(entry(text), 0).seq);
    expect(file.nextBatch(2, 1000)!.rows.map((r) => r.seq)).toEqual(seqs.slice(0, 2));
    expect(file.nextBatch(10, 10)!.rows.map((r) => r.seq)).toEqual(seqs.slice(0, 2));
    expect(file.nextBatch(10, 1)!.rows.map((r) => r.seq)).toEqual(seqs.slice(0, 1));

    file.markDraining(seqs.slice(0, 3), 4242);
    const inDoubt = file.nextBatch(1, 1)!;
    expect(inDoubt).toMatchObject({ drainAt: 4242 });
    expect(inDoubt.rows.map((r) => r.seq)).toEqual(seqs.slice(0, 3));
    // A late answer to the webhook's own write does not take an event out from under a drain.
    file.removeUnlessDraining(seqs[0]!);
    expect(file.count).toBe(5);
    file.removeUnlessDraining(seqs[4]!);
    expect(file.count).toBe(4);

    file.remove(seqs.slice(0, 3));
    expect(file.nextBatch(10, 1000)).toMatchObject({ drainAt: null, rows: [{ seq: seqs[3] }] });
    expect(file.bytes).toBe(12);
  });
});
