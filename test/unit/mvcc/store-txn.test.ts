import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EtcdError } from '../../../src/errors.js';
import { CompareResult as R, CompareTarget as T, EventType, type TxnRequest, type TxnResult } from '../../../src/mvcc/types.js';
import { FROM_KEY, b, cmp, del, get, keysOf, openHarness, put, txn, type Harness } from './helpers.js';

let h: Harness;
beforeEach(async () => {
  h = await openHarness({ leaseIds: [7n] });
  await h.write((batch) => h.store.put(put('a', 'va', { lease: 7n }), batch)); // rev 2
  await h.write((batch) => h.store.put(put('b', 'vb'), batch)); // rev 3
  await h.write((batch) => h.store.put(put('b', 'vb2'), batch)); // rev 4
});
afterEach(async () => { await h.close(); });

async function run(request: TxnRequest): Promise<{ result: TxnResult; events: ReturnType<typeof h.store.txn>['events'] }> {
  const prefetch = await h.store.prefetchTxn(request);
  return h.write((batch) => h.store.txn(request, prefetch, batch));
}

async function succeeds(...compares: ReturnType<typeof cmp>[]): Promise<boolean> {
  return (await run(txn(compares, []))).result.succeeded;
}

describe('txn compares', () => {
  it('every target and result on an existing key', async () => {
    expect(await succeeds(cmp('b', T.VERSION, R.EQUAL, { number: 2 }))).toBe(true);
    expect(await succeeds(cmp('b', T.VERSION, R.GREATER, { number: 1 }))).toBe(true);
    expect(await succeeds(cmp('b', T.VERSION, R.LESS, { number: 2 }))).toBe(false);
    expect(await succeeds(cmp('b', T.CREATE, R.EQUAL, { number: 3 }))).toBe(true);
    expect(await succeeds(cmp('b', T.MOD, R.NOT_EQUAL, { number: 4 }))).toBe(false);
    expect(await succeeds(cmp('b', T.MOD, R.LESS, { number: 5 }))).toBe(true);
    expect(await succeeds(cmp('b', T.VALUE, R.EQUAL, { value: 'vb2' }))).toBe(true);
    expect(await succeeds(cmp('b', T.VALUE, R.GREATER, { value: 'vb' }))).toBe(true);
    expect(await succeeds(cmp('b', T.VALUE, R.LESS, { value: 'vb' }))).toBe(false);
    expect(await succeeds(cmp('a', T.LEASE, R.EQUAL, { lease: 7n }))).toBe(true);
    expect(await succeeds(cmp('b', T.LEASE, R.EQUAL, { lease: 0n }))).toBe(true);
    // All compares must hold.
    expect(await succeeds(cmp('b', T.VERSION, R.EQUAL, { number: 2 }), cmp('a', T.VERSION, R.EQUAL, { number: 2 }))).toBe(false);
    expect(h.store.currentRevision).toBe(4);
  });

  it('a missing key compares as zero values, except VALUE which is always false', async () => {
    expect(await succeeds(cmp('zz', T.CREATE, R.EQUAL, { number: 0 }))).toBe(true);
    expect(await succeeds(cmp('zz', T.VERSION, R.EQUAL, { number: 0 }))).toBe(true);
    expect(await succeeds(cmp('zz', T.MOD, R.GREATER, { number: 0 }))).toBe(false);
    expect(await succeeds(cmp('zz', T.VALUE, R.EQUAL, { value: '' }))).toBe(false);
    expect(await succeeds(cmp('zz', T.VALUE, R.NOT_EQUAL, { value: 'x' }))).toBe(false);
  });

  it('range compares need every key in range to satisfy them', async () => {
    expect(await succeeds(cmp('a', T.CREATE, R.GREATER, { number: 1, rangeEnd: 'c' }))).toBe(true);
    expect(await succeeds(cmp('a', T.CREATE, R.GREATER, { number: 2, rangeEnd: 'c' }))).toBe(false);
    expect(await succeeds(cmp('a', T.VERSION, R.LESS, { number: 3, rangeEnd: FROM_KEY }))).toBe(true);
    expect(await succeeds(cmp('c', T.VERSION, R.EQUAL, { number: 0, rangeEnd: 'z' }))).toBe(true);
  });
});

describe('txn execution', () => {
  it('runs the chosen branch, responses in order, one revision for all writes', async () => {
    const { result, events } = await run(txn([cmp('b', T.VALUE, R.EQUAL, { value: 'vb2' })], [
      { put: put('c', '1') },
      { range: get('c') },
      { deleteRange: del('a', '', { prevKv: true }) },
      { put: put('b', 'new', { prevKv: true }) },
      { range: get('a', FROM_KEY) },
    ], [{ put: put('never', '1') }]));
    expect(result.succeeded).toBe(true);
    expect(result.responses).toHaveLength(5);
    const [putC, rangeC, delA, putB, rangeAll] = result.responses as any[];
    // Sub-response revisions are what etcd puts in their headers: writes carry the txn's revision.
    expect(putC.put).toEqual({ revision: 5 });
    expect(delA.deleteRange.revision).toBe(5);
    // Reads inside a txn see its earlier writes.
    expect(rangeC.range.kvs[0]).toMatchObject({ value: b('1'), modRevision: 5, createRevision: 5 });
    expect(delA.deleteRange.deleted).toBe(1);
    expect(delA.deleteRange.prevKvs[0].value).toEqual(b('va'));
    expect(putB.put.prevKv.value).toEqual(b('vb2'));
    expect(keysOf(rangeAll.range.kvs)).toEqual(['b', 'c']);
    expect(h.store.currentRevision).toBe(5);
    expect(events.map((e) => [e.type, e.kv.key.toString(), e.kv.modRevision])).toEqual([
      [EventType.PUT, 'c', 5], [EventType.DELETE, 'a', 5], [EventType.PUT, 'b', 5],
    ]);
    expect(h.leases.keys(7n)).toEqual([]);
    expect((await h.store.range(get('never'))).count).toBe(0);
  });

  it('runs the failure branch when a compare fails; read-only txns keep the revision', async () => {
    const { result, events } = await run(txn([cmp('b', T.VERSION, R.EQUAL, { number: 9 })], [{ put: put('x', '1') }], [{ range: get('b') }]));
    expect(result.succeeded).toBe(false);
    expect((result.responses[0] as any).range.kvs[0].value).toEqual(b('vb2'));
    expect(events).toEqual([]);
    expect(h.store.currentRevision).toBe(4);
  });

  it('nested txns choose their branch against the state before the txn', async () => {
    const { result } = await run(txn([], [
      { put: put('n', '1') },
      // Before the txn, n does not exist, so this compare holds although n was just written.
      { txn: txn([cmp('n', T.VERSION, R.EQUAL, { number: 0 })], [{ put: put('inner-then', '1') }], [{ put: put('inner-else', '1') }]) },
      { range: get('inner-then') },
    ]));
    const nested = (result.responses[1] as any).txn as TxnResult;
    expect(nested.succeeded).toBe(true);
    expect((result.responses[2] as any).range.count).toBe(1);
    expect(h.store.currentRevision).toBe(5);
  });

  it('reads at old revisions inside a txn see history, and the pre-txn state at the current revision', async () => {
    const { result } = await run(txn([], [
      { put: put('b', 'during') },
      { range: get('b', '', { revision: 4 }) },
      { range: get('b', '', { revision: 3 }) },
      { range: get('b') },
    ]));
    const values = result.responses.slice(1).map((r: any) => r.range.kvs[0].value.toString());
    expect(values).toEqual(['vb2', 'vb', 'during']);
  });

  it('a failing check changes nothing: unknown lease, missing key, future or compacted reads', async () => {
    const before = h.store.currentRevision;
    const attempt = async (request: TxnRequest): Promise<unknown> => {
      const prefetch = await h.store.prefetchTxn(request);
      const batch: never[] = [];
      try {
        h.store.txn(request, prefetch, batch);
      } catch (error) {
        expect(batch).toEqual([]);
        return error;
      }
      return undefined;
    };
    expect(await attempt(txn([], [{ put: put('c', '1') }, { put: put('d', '1', { lease: 99n }) }]))).toEqual(new EtcdError('LeaseNotFound'));
    expect(await attempt(txn([], [{ put: put('c', '1') }, { put: put('d', '', { ignoreValue: true }) }]))).toEqual(new EtcdError('KeyNotFound'));
    expect(await attempt(txn([], [{ put: put('c', '1') }, { range: get('a', '', { revision: 5 }) }]))).toEqual(new EtcdError('FutureRev'));
    // A check only applies to the branch that runs.
    expect(await attempt(txn([cmp('a', T.VERSION, R.EQUAL, { number: 2 })], [{ put: put('c', '1') }], [{ put: put('d', '1', { lease: 99n }) }])))
      .toEqual(new EtcdError('LeaseNotFound'));
    expect(await attempt(txn([cmp('a', T.VERSION, R.EQUAL, { number: 1 })], [{ put: put('c', '1') }], [{ put: put('d', '1', { lease: 99n }) }])))
      .toBeUndefined();
    const now = h.store.currentRevision;
    expect(now).toBe(before + 1);
    await h.write((batch) => h.store.compact(4, batch));
    expect(await attempt(txn([], [{ put: put('e', '1') }, { range: get('a', '', { revision: 3 }) }]))).toEqual(new EtcdError('Compacted'));
    expect(h.store.currentRevision).toBe(now);
    expect((await h.store.range(get('c'))).kvs[0].version).toBe(1);
  });

  it('a from-key delete then a put of a deleted key re-creates it in the same revision', async () => {
    const { events } = await run(txn([], [{ deleteRange: del('a', FROM_KEY) }, { put: put('b', 'again') }]));
    expect(events.map((e) => `${e.type}:${e.kv.key}`)).toEqual(['1:a', '1:b', '0:b']);
    const kv = (await h.store.range(get('b'))).kvs[0];
    expect(kv).toMatchObject({ createRevision: 5, modRevision: 5, version: 1 });
    const history = await h.store.history(5, 5, 100);
    expect(history.map((e) => `${e.type}:${e.kv.key}`)).toEqual(['1:a', '1:b', '0:b']);
    await h.reopen();
    expect((await h.store.range(get('b'))).kvs[0]).toMatchObject({ createRevision: 5, version: 1, value: b('again') });
    expect(h.store.currentRevision).toBe(5);
  });
});
