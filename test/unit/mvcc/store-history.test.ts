import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EtcdError } from '../../../src/errors.js';
import { prefix, prefixEnd } from '../../../src/storage/keys.js';
import { CompareResult, CompareTarget, EventType, type MvccEvent } from '../../../src/mvcc/types.js';
import type { BatchOp, BatchOp as BackendBatchOp } from '../../../src/storage/backend.js';
import { FROM_KEY, b, cmp, del, get, keysOf, openHarness, put, txn, type Harness } from './helpers.js';

let h: Harness;
afterEach(async () => { await h.close(); });

async function storedRevisions(harness: Harness): Promise<string[]> {
  const start = Buffer.concat([prefix.mvcc, b('k/')]);
  const entries = await harness.backend.readAll(start, prefixEnd(start));
  return entries.map(([key]) => {
    const main = Number(key.readBigUInt64BE(start.length));
    const sub = Number(key.readBigUInt64BE(start.length + 8));
    return `${main}.${sub}${key[start.length + 16] === 0x74 ? 't' : ''}`;
  });
}

describe('restart', () => {
  beforeEach(async () => { h = await openHarness({ leaseIds: [7n] }); });

  it('rebuilds the index, latest values, revision and lease attachments from LevelDB', async () => {
    await h.write((batch) => h.store.put(put('a', '1', { lease: 7n }), batch));
    await h.write((batch) => h.store.put(put('b', '1'), batch));
    await h.write((batch) => h.store.put(put('a', '2', { lease: 7n }), batch));
    await h.write((batch) => h.store.deleteRange(del('b'), batch));
    await h.write((batch) => h.store.put(put('c', '1'), batch));
    const snapshots: unknown[] = [];
    for (let revision = 1; revision <= 6; revision++) snapshots.push(await h.store.range(get('\0', FROM_KEY, { revision })));
    await h.reopen();
    expect(h.store.currentRevision).toBe(6);
    expect(h.store.keysTotal).toBe(2);
    expect(h.leases.keys(7n)).toEqual(['a']);
    for (let revision = 1; revision <= 6; revision++) {
      expect(await h.store.range(get('\0', FROM_KEY, { revision }))).toEqual(snapshots[revision - 1]);
    }
    await h.write((batch) => h.store.put(put('b', '3'), batch));
    expect((await h.store.range(get('b'))).kvs[0]).toMatchObject({ createRevision: 7, version: 1 });
  });
});

describe('restart with values loaded lazily', () => {
  // Start-up keeps loaded values in their stored form until first read: every path that reads a
  // live value (range, count, prevKv, ignore_value, delete, txn compare) sees the same as before.
  it('serves values loaded at start-up like written ones, and re-attaches leases in key order', async () => {
    h = await openHarness({ leaseIds: [7n, 8n] });
    await h.write((batch) => h.store.put(put('d', 'd1', { lease: 7n }), batch)); // 2
    await h.write((batch) => h.store.put(put('b', 'b1', { lease: 7n }), batch)); // 3
    await h.write((batch) => h.store.put(put('c', 'c1', { lease: 8n }), batch)); // 4
    await h.write((batch) => h.store.put(put('a', 'a1', { lease: 7n }), batch)); // 5
    await h.write((batch) => h.store.put(put('c', 'c2'), batch)); // 6: c leaves lease 8
    await h.write((batch) => h.store.deleteRange(del('d'), batch)); // 7
    await h.write((batch) => h.store.put(put('e', 'e1', { lease: 8n }), batch)); // 8
    const before = await h.store.range(get('\0', FROM_KEY));
    await h.reopen();
    expect(h.store.keysTotal).toBe(4);
    expect([...h.leases.keysByLease.get(7n)!]).toEqual(['a', 'b']);
    expect([...h.leases.keysByLease.get(8n)!]).toEqual(['e']);
    expect((await h.store.range(get('\0', FROM_KEY, { countOnly: true }))).count).toBe(4);
    expect(await h.store.range(get('\0', FROM_KEY))).toEqual(before);
    const { result, events } = await h.write((batch) => h.store.put(put('a', 'a2', { prevKv: true }), batch));
    expect(result.prevKv).toEqual(before.kvs[0]);
    expect(events[0].prevKv).toEqual(before.kvs[0]);
    expect(events[0].kv).toMatchObject({ createRevision: 5, modRevision: 9, version: 2, lease: 0n });
    await h.write((batch) => h.store.put(put('b', 'b2', { ignoreLease: true }), batch));
    expect((await h.store.range(get('b'))).kvs[0]).toMatchObject({ value: b('b2'), lease: 7n, version: 2 });
    await h.write((batch) => h.store.put(put('e', '', { ignoreValue: true, lease: 8n }), batch));
    expect((await h.store.range(get('e'))).kvs[0]).toMatchObject({ value: b('e1'), lease: 8n, version: 2 });
    const deleted = await h.write((batch) => h.store.deleteRange(del('c', '', { prevKv: true }), batch));
    expect(deleted.result.prevKvs).toEqual([before.kvs[2]]);
    const swapped = await h.write((batch) => h.store.txn(
      txn([cmp('e', CompareTarget.VALUE, CompareResult.EQUAL, { value: 'e1' })], [{ put: put('e', 'e3') }]), undefined, batch,
    ));
    expect(swapped.result.succeeded).toBe(true);
    await h.reopen();
    expect(keysOf((await h.store.range(get('\0', FROM_KEY))).kvs)).toEqual(['a', 'b', 'e']);
    expect((await h.store.range(get('e'))).kvs[0]).toMatchObject({ value: b('e3'), version: 3, lease: 0n });
    expect(h.leases.keys(7n)).toEqual(['b']);
    expect(h.leases.keys(8n)).toEqual([]);
  });

  it('reloads overwritten, deleted and large values in random key order', async () => {
    h = await openHarness();
    const big = Buffer.alloc(300_000, 7);
    await h.write((batch) => h.store.put({ ...put('big', ''), value: big }, batch));
    for (let i = 0; i < 300; i++) {
      const key = `k${(i * 7919) % 97}`;
      await h.write((batch) => (i % 11 === 10 ? h.store.deleteRange(del(key), batch) : h.store.put(put(key, `v${i}`), batch)));
    }
    const before = await h.store.range(get('\0', FROM_KEY));
    await h.reopen();
    expect(await h.store.range(get('\0', FROM_KEY))).toEqual(before);
    expect(h.store.keysTotal).toBe(before.count);
  });
});

describe('compaction', () => {
  beforeEach(async () => { h = await openHarness(); });

  it('keeps the newest revision at or below R per key unless a tombstone, and everything after', async () => {
    await h.write((batch) => h.store.put(put('a', '1'), batch)); // 2
    await h.write((batch) => h.store.put(put('a', '2'), batch)); // 3
    await h.write((batch) => h.store.put(put('b', '1'), batch)); // 4
    await h.write((batch) => h.store.deleteRange(del('b'), batch)); // 5
    await h.write((batch) => h.store.put(put('a', '3'), batch)); // 6
    await h.write((batch) => h.store.put(put('c', '1'), batch)); // 7
    const batch: BackendBatchOp[] = [];
    expect(() => h.store.compact(8, batch)).toThrow(new EtcdError('FutureRev'));
    const physical = h.store.compact(5, batch);
    await h.backend.write(batch, false);
    await physical;
    expect(await storedRevisions(h)).toEqual(['3.0', '6.0', '7.0']);
    expect(h.store.compactRevision).toBe(5);
    expect(() => h.store.compact(5, [])).toThrow(new EtcdError('Compacted'));
    await expect(h.store.range(get('a', '', { revision: 4 }))).rejects.toThrow(new EtcdError('Compacted'));
    expect((await h.store.range(get('a', FROM_KEY, { revision: 5 }))).kvs.map((kv) => kv.value.toString())).toEqual(['2']);
    expect(keysOf((await h.store.range(get('a', FROM_KEY, { revision: 6 }))).kvs)).toEqual(['a']);
    await expect(h.store.history(4, 10, 100)).rejects.toThrow(new EtcdError('Compacted'));
    await h.reopen();
    expect(h.store.compactRevision).toBe(5);
    expect(h.store.currentRevision).toBe(7);
    await expect(h.store.range(get('a', '', { revision: 4 }))).rejects.toThrow(new EtcdError('Compacted'));
    expect((await h.store.range(get('a', '', { revision: 5 }))).kvs[0].value).toEqual(b('2'));
  });

  it('keeps the current revision across a restart when its only record was compacted away', async () => {
    await h.write((batch) => h.store.put(put('a', '1'), batch));
    await h.write((batch) => h.store.deleteRange(del('a'), batch));
    await h.write((batch) => h.store.compact(3, batch));
    await h.store.purgeIdle();
    expect(await storedRevisions(h)).toEqual([]);
    await h.reopen();
    expect(h.store.currentRevision).toBe(3);
    await h.write((batch) => h.store.put(put('a', '2'), batch));
    expect(h.store.currentRevision).toBe(4);
  });

  it('waits for the compacted revision to be flushed before purging', async () => {
    await h.write((batch) => h.store.put(put('a', '1'), batch)); // 2
    const unflushed: BackendBatchOp[] = [];
    h.store.put(put('a', '2'), unflushed); // 3, not written yet
    let purged = false;
    const compactBatch: BackendBatchOp[] = [];
    const physical = h.store.compact(3, compactBatch).then(() => { purged = true; });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(purged).toBe(false);
    await h.backend.write([...unflushed, ...compactBatch], false);
    h.store.markFlushed(3);
    await physical;
    expect(await storedRevisions(h)).toEqual(['3.0']);
  });

  it('purges in slices of the batch limit (records read, kept ones too), pausing between slices', async () => {
    await h.close();
    h = await openHarness({ purge: { batchLimit: 10, sleepIntervalMs: 20 } });
    // Revisions 2..61 alternate: k (each purged but the last) and a0..a29 (each kept).
    for (let i = 0; i < 30; i++) {
      await h.write((batch) => h.store.put(put('k', String(i)), batch));
      await h.write((batch) => h.store.put(put(`a${i}`, 'v'), batch));
    }
    const writes = vi.spyOn(h.backend, 'write');
    const started = performance.now();
    await h.write((batch) => h.store.compact(61, batch));
    await h.store.purgeIdle();
    const elapsedMs = performance.now() - started;
    // After the compaction's own batch: six slices of ten records read, five of them purged in each
    // (four in the last: k's last revision stays), then the finished mark alone.
    const deletesPerWrite = writes.mock.calls.slice(1).map(([ops]) => ops.filter((op) => op.type === 'del').length);
    expect(deletesPerWrite).toEqual([5, 5, 5, 5, 5, 4, 0]);
    expect((await storedRevisions(h)).length).toBe(31);
    // A pause after each of the six slices; timers never fire early (whole milliseconds).
    expect(elapsedMs).toBeGreaterThanOrEqual(6 * 20 - 1);
  });

  it('hashes what each compaction kept: equal for equal data, whatever the purge had done before a restart', async () => {
    const writeAll = async (harness: Harness, thirdValue: string) => {
      await harness.write((batch) => harness.store.put(put('a', '1'), batch)); // 2
      await harness.write((batch) => harness.store.put(put('a', '2'), batch)); // 3
      await harness.write((batch) => harness.store.put(put('b', thirdValue), batch)); // 4
      await harness.write((batch) => harness.store.deleteRange(del('a'), batch)); // 5
    };
    await writeAll(h, '1');
    await h.write((batch) => h.store.compact(4, batch));
    await h.store.purgeIdle();
    const same = await openHarness();
    const other = await openHarness();
    try {
      await writeAll(same, '1');
      await writeAll(other, 'X');
      // `same` was stopped after scheduling its compaction, before its purge: it resumes on open.
      const scheduled = Buffer.alloc(8);
      scheduled.writeBigUInt64BE(4n);
      await same.backend.write([{ type: 'put', key: Buffer.concat([prefix.mvcc, b('meta/compactScheduled')]), value: scheduled }], true);
      await same.reopen();
      await same.store.purgeIdle();
      await other.write((batch) => other.store.compact(4, batch));
      await other.store.purgeIdle();
      const [ours] = h.store.compactionHashes();
      expect(ours?.revision).toBe(4);
      expect(same.store.compactionHashes()).toEqual([ours]);
      expect(other.store.compactionHashes()[0]?.hash).not.toBe(ours!.hash);
      // Newest first; a compaction overtaken by a newer one while it purged keeps no hash.
      await h.write((batch) => h.store.put(put('c', '1'), batch)); // 6
      await h.write((batch) => h.store.put(put('c', '2'), batch)); // 7
      await h.write((batch) => { void h.store.compact(6, batch); h.store.compact(7, batch); });
      await h.store.purgeIdle();
      expect(h.store.compactionHashes().map((entry) => entry.revision)).toEqual([7, 4]);
    } finally {
      await same.close();
      await other.close();
    }
  });

  it('resumes an interrupted purge on open', async () => {
    await h.write((batch) => h.store.put(put('a', '1'), batch)); // 2
    await h.write((batch) => h.store.put(put('a', '2'), batch)); // 3
    await h.write((batch) => h.store.put(put('b', '1'), batch)); // 4
    // What a crash right after the compaction's batch leaves: scheduled, nothing purged.
    const scheduled = Buffer.alloc(8);
    scheduled.writeBigUInt64BE(3n);
    await h.backend.write([{ type: 'put', key: Buffer.concat([prefix.mvcc, b('meta/compactScheduled')]), value: scheduled }], true);
    await h.reopen();
    expect(h.store.compactRevision).toBe(3);
    await h.store.purgeIdle();
    expect(await storedRevisions(h)).toEqual(['3.0', '4.0']);
    await expect(h.store.range(get('a', '', { revision: 2 }))).rejects.toThrow(new EtcdError('Compacted'));
  });
});

describe('history', () => {
  it('returns events in order with prevKv, from disk and from the cache, never splitting a revision', async () => {
    h = await openHarness({ historyCacheMaxRevisions: 2 });
    await h.write((batch) => h.store.put(put('a', '1'), batch)); // 2
    await h.write((batch) => h.store.put(put('b', '1'), batch)); // 3
    await h.write((batch) => h.store.put(put('a', '2'), batch)); // 4
    await h.write((batch) => h.store.deleteRange(del('a', 'c'), batch)); // 5: two events
    await h.write((batch) => h.store.put(put('a', '3'), batch)); // 6
    const all = await h.store.history(2, 6, 100);
    expect(all.map((e) => [e.type, e.kv.key.toString(), e.kv.modRevision, e.prevKv?.value.toString()])).toEqual([
      [EventType.PUT, 'a', 2, undefined],
      [EventType.PUT, 'b', 3, undefined],
      [EventType.PUT, 'a', 4, '1'],
      [EventType.DELETE, 'a', 5, '2'],
      [EventType.DELETE, 'b', 5, '1'],
      [EventType.PUT, 'a', 6, undefined],
    ]);
    expect(all[3].kv).toEqual({ key: b('a'), createRevision: 0, modRevision: 5, version: 0, value: b(''), lease: 0n });
    // maxEvents 4 ends inside revision 5: the whole revision comes.
    expect((await h.store.history(2, 6, 4)).map((e) => e.kv.modRevision)).toEqual([2, 3, 4, 5, 5]);
    expect((await h.store.history(5, 5, 1)).length).toBe(2);
    expect(await h.store.history(7, 10, 100)).toEqual([]);
    // The same answer after a restart, when everything comes from disk.
    await h.reopen(2);
    // Compared as plain events: a cached put's event decodes its key-values when read (StoredPutEvent).
    const plain = (events: MvccEvent[]) => events.map((e) => ({ type: e.type, kv: e.kv, prevKv: e.prevKv }));
    expect(plain(await h.store.history(2, 6, 100))).toEqual(plain(all));
  });

  it('serves revisions whose batch is not written yet and never evicts them', async () => {
    h = await openHarness({ historyCacheMaxRevisions: 1 });
    const pending: BackendBatchOp[] = [];
    for (let i = 0; i < 5; i++) h.store.put(put('k', String(i)), pending);
    expect(h.store.currentRevision).toBe(6);
    expect((await h.store.history(2, 6, 100)).map((e) => e.kv.value.toString())).toEqual(['0', '1', '2', '3', '4']);
    expect((await h.store.range(get('k', '', { revision: 3 }))).kvs[0].value).toEqual(b('1'));
    await h.backend.write(pending, false);
    h.store.markFlushed(6);
    expect((await h.store.history(2, 6, 100)).map((e) => e.prevKv?.value.toString())).toEqual([undefined, '0', '1', '2', '3']);
  });

  it('omits prevKv whose revision was compacted away', async () => {
    h = await openHarness({ historyCacheMaxRevisions: 1 });
    await h.write((batch) => h.store.put(put('a', '1'), batch)); // 2
    await h.write((batch) => h.store.put(put('a', '2'), batch)); // 3
    await h.write((batch) => h.store.put(put('a', '3'), batch)); // 4
    await h.write((batch) => h.store.compact(3, batch));
    await h.store.purgeIdle();
    const events = await h.store.history(3, 4, 10);
    expect(events.map((e) => [e.kv.modRevision, e.prevKv?.modRevision])).toEqual([[3, undefined], [4, 3]]);
  });
});

describe('hashKv', () => {
  it('agrees across stores with the same history, whether read from cache or disk, and sees differences', async () => {
    const build = async (lastValue: string, cacheMax: number): Promise<Harness> => {
      const harness = await openHarness({ historyCacheMaxRevisions: cacheMax });
      await harness.write((batch) => harness.store.put(put('a', '1'), batch));
      await harness.write((batch) => harness.store.put(put('b', '1'), batch));
      await harness.write((batch) => harness.store.deleteRange(del('a'), batch));
      await harness.write((batch) => harness.store.put(put('b', lastValue), batch));
      return harness;
    };
    h = await build('2', 1);
    const other = await build('2', 100);
    const different = await build('X', 100);
    try {
      const hash = await h.store.hashKv(0);
      expect(hash.hashRevision).toBe(5);
      expect(await other.store.hashKv(0)).toEqual(hash);
      expect((await different.store.hashKv(0)).hash).not.toBe(hash.hash);
      // A hash at an earlier revision ignores later writes.
      expect((await different.store.hashKv(4)).hash).toBe((await h.store.hashKv(4)).hash);
      // Compaction on one member, purge finished or not, leaves the hash of retained data equal.
      await h.write((batch) => h.store.compact(4, batch));
      const otherBatch: BackendBatchOp[] = [];
      other.store.compact(4, otherBatch);
      const compactedHash = await h.store.hashKv(5);
      expect(compactedHash.compactRevision).toBe(4);
      expect(await other.store.hashKv(5)).toEqual(compactedHash);
      await expect(h.store.hashKv(4)).rejects.toThrow(new EtcdError('Compacted'));
      await expect(h.store.hashKv(6)).rejects.toThrow(new EtcdError('FutureRev'));
      await h.reopen(1);
      expect(await h.store.hashKv(5)).toEqual(compactedHash);
    } finally {
      await other.close();
      await different.close();
    }
  });
});

describe('store against a reference model', () => {
  it('range at every retained revision matches snapshots, before and after restart', async () => {
    type Snapshot = Map<string, { value: string; createRevision: number; modRevision: number; version: number }>;
    const keys = ['a', 'b', 'c', 'd'];
    const opArb = fc.oneof(
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('put' as const), key: fc.constantFrom(...keys), value: fc.string({ maxLength: 3 }) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: fc.constantFrom(...keys), end: fc.constantFrom('', 'c', '\0') }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('compact' as const), back: fc.nat(4) }) },
    );
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 25 }), async (ops) => {
      const harness = await openHarness({ historyCacheMaxRevisions: 3 });
      try {
        const snapshots: Snapshot[] = [new Map(), new Map()]; // index = revision
        let compacted = 0;
        for (const op of ops) {
          const latest = new Map(snapshots[snapshots.length - 1]);
          const revision = snapshots.length;
          if (op.kind === 'put') {
            await harness.write((batch: BatchOp[]) => harness.store.put(put(op.key, op.value), batch));
            const prev = latest.get(op.key);
            latest.set(op.key, { value: op.value, createRevision: prev?.createRevision ?? revision, modRevision: revision, version: (prev?.version ?? 0) + 1 });
            snapshots.push(latest);
          } else if (op.kind === 'delete') {
            const end = op.end === '\0' ? FROM_KEY : b(op.end);
            const { result } = await harness.write((batch: BatchOp[]) => harness.store.deleteRange(del(op.key, end), batch));
            const doomed = [...latest.keys()].filter((k) => (op.end === '' ? k === op.key : k >= op.key && (op.end === '\0' || k < op.end)));
            expect(result.deleted).toBe(doomed.length);
            if (doomed.length > 0) {
              for (const k of doomed) latest.delete(k);
              snapshots.push(latest);
            }
          } else {
            const at = Math.max(snapshots.length - 1 - op.back, compacted + 1);
            if (at > snapshots.length - 1) continue;
            await harness.write((batch: BatchOp[]) => harness.store.compact(at, batch));
            compacted = at;
          }
          expect(harness.store.currentRevision).toBe(snapshots.length - 1);
        }
        const check = async (): Promise<void> => {
          for (let revision = Math.max(compacted, 1); revision < snapshots.length; revision++) {
            const got = await harness.store.range(get('\0', FROM_KEY, { revision }));
            const want = [...snapshots[revision].entries()].sort(([x], [y]) => (x < y ? -1 : 1))
              .map(([key, kv]) => ({ key: b(key), value: b(kv.value), createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version, lease: 0n }));
            expect(got.kvs).toEqual(want);
          }
          if (compacted > 1) await expect(harness.store.range(get('a', '', { revision: compacted - 1 }))).rejects.toThrow(EtcdError);
        };
        await check();
        await harness.reopen(3);
        expect(harness.store.currentRevision).toBe(snapshots.length - 1);
        expect(harness.store.keysTotal).toBe(snapshots[snapshots.length - 1].size);
        await check();
      } finally {
        await harness.close();
      }
    }), { numRuns: 25 });
    h = await openHarness();
  });
});
