import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EtcdError } from '../../../src/errors.js';
import { EventType, SortOrder, SortTarget } from '../../../src/mvcc/types.js';
import { FROM_KEY, b, del, get, keysOf, openHarness, put, type Harness } from './helpers.js';

let h: Harness;
beforeEach(async () => { h = await openHarness({ leaseIds: [7n, 8n] }); });
afterEach(async () => { await h.close(); });

describe('MvccStore put and delete', () => {
  it('starts at revision 1 and bumps once per write, with create/mod/version', async () => {
    expect(h.store.currentRevision).toBe(1);
    await h.write((batch) => h.store.put(put('a', '1'), batch));
    await h.write((batch) => h.store.put(put('a', '2'), batch));
    await h.write((batch) => h.store.put(put('a', '2'), batch));
    expect(h.store.currentRevision).toBe(4);
    const { kvs } = await h.store.range(get('a'));
    expect(kvs[0]).toMatchObject({ createRevision: 2, modRevision: 4, version: 3, value: b('2'), lease: 0n });
    await h.write((batch) => h.store.deleteRange(del('a'), batch));
    await h.write((batch) => h.store.put(put('a', '3'), batch));
    const again = await h.store.range(get('a'));
    expect(again.kvs[0]).toMatchObject({ createRevision: 6, modRevision: 6, version: 1 });
    expect(h.store.keysTotal).toBe(1);
  });

  it('returns prevKv and events carrying prevKv', async () => {
    const first = await h.write((batch) => h.store.put(put('a', '1', { prevKv: true }), batch));
    expect(first.result.prevKv).toBeUndefined();
    expect(first.events).toHaveLength(1);
    expect(first.events[0].type).toBe(EventType.PUT);
    expect(first.events[0].prevKv).toBeUndefined();
    const second = await h.write((batch) => h.store.put(put('a', '2', { prevKv: true }), batch));
    expect(second.result.prevKv?.value).toEqual(b('1'));
    const quiet = await h.write((batch) => h.store.put(put('a', '3'), batch));
    expect(quiet.result.prevKv).toBeUndefined();
    expect(quiet.events[0].prevKv?.value).toEqual(b('2'));
  });

  it('an event first read after later writes of its key still shows its own write and the one it replaced', async () => {
    // A put's event decodes its key-values when first read (StoredPutEvent): the stored bytes it
    // points at must stay as they were through overwrites, deletes and a txn of the same key.
    const events = [];
    events.push(...(await h.write((batch) => h.store.put(put('a', '1', { lease: 0n }), batch))).events);
    events.push(...(await h.write((batch) => h.store.put(put('a', '2'), batch))).events);
    events.push(...(await h.write((batch) => h.store.txn({ compare: [], success: [{ put: put('a', '3') }, { put: put('a', '4') }], failure: [] }, undefined as never, batch))).events);
    await h.write((batch) => h.store.deleteRange(del('a'), batch));
    for (let i = 0; i < 50; i++) await h.write((batch) => h.store.put(put('a', `later-${i}`), batch));
    expect(events.map((e) => [e.kv.value.toString(), e.kv.modRevision, e.kv.createRevision, e.kv.version, e.prevKv?.value.toString(), e.prevKv?.version]))
      .toEqual([['1', 2, 2, 1, undefined, undefined], ['2', 3, 2, 2, '1', 1], ['3', 4, 2, 3, '2', 2], ['4', 4, 2, 4, '3', 3]]);
  });

  it("keeps nothing of a put's key and value buffers: apply gets them as views of a Raft entry", async () => {
    // request-codec decodes a put's key and value as views of the log entry, which must not be
    // pinned (or read after the entry's memory is reused): the store copies what it keeps.
    const key = Buffer.from('key-a');
    const value = Buffer.from('value-1');
    const { events } = await h.write((batch) => h.store.put({ ...put('x', 'x'), key, value }, batch));
    const txnKey = Buffer.from('key-b');
    const txnValue = Buffer.from('value-2');
    await h.write((batch) => h.store.txn({ compare: [], success: [{ put: { ...put('x', 'x'), key: txnKey, value: txnValue } }], failure: [] }, undefined as never, batch));
    for (const bytes of [key, value, txnKey, txnValue]) bytes.fill(0x21);
    expect((await h.store.range(get('key-a'))).kvs[0]?.value).toEqual(b('value-1'));
    expect((await h.store.range(get('key-b'))).kvs[0]?.value).toEqual(b('value-2'));
    expect(events[0]?.kv.key).toEqual(b('key-a'));
    expect(events[0]?.kv.value).toEqual(b('value-1'));
    expect(keysOf((await h.store.range(get('key-', 'key.'))).kvs)).toEqual(['key-a', 'key-b']);
  });

  it('ignore_value and ignore_lease keep the old ones, and need the key', async () => {
    const batch: never[] = [];
    expect(() => h.store.put(put('a', '', { ignoreValue: true }), batch)).toThrow(new EtcdError('KeyNotFound'));
    expect(() => h.store.put(put('a', 'v', { ignoreLease: true }), batch)).toThrow(new EtcdError('KeyNotFound'));
    expect(h.store.currentRevision).toBe(1);
    await h.write((bt) => h.store.put(put('a', 'v1', { lease: 7n }), bt));
    await h.write((bt) => h.store.put(put('a', '', { ignoreValue: true }), bt));
    let kv = (await h.store.range(get('a'))).kvs[0];
    expect(kv.value).toEqual(b('v1'));
    expect(kv.lease).toBe(0n);
    await h.write((bt) => h.store.put(put('a', 'v2', { lease: 8n }), bt));
    await h.write((bt) => h.store.put(put('a', 'v3', { ignoreLease: true }), bt));
    kv = (await h.store.range(get('a'))).kvs[0];
    expect(kv).toMatchObject({ value: b('v3'), lease: 8n, version: 4 });
  });

  it('checks leases and moves the key between them', async () => {
    expect(() => h.store.put(put('a', 'v', { lease: 99n }), [])).toThrow(new EtcdError('LeaseNotFound'));
    // LeaseNotFound wins over KeyNotFound, as in etcd where the lease is checked first.
    expect(() => h.store.put(put('zz', '', { lease: 99n, ignoreValue: true }), [])).toThrow(new EtcdError('LeaseNotFound'));
    await h.write((batch) => h.store.put(put('a', 'v', { lease: 7n }), batch));
    expect(h.leases.keys(7n)).toEqual(['a']);
    await h.write((batch) => h.store.put(put('a', 'v', { lease: 8n }), batch));
    expect(h.leases.keys(7n)).toEqual([]);
    expect(h.leases.keys(8n)).toEqual(['a']);
    await h.write((batch) => h.store.put(put('a', 'v'), batch));
    expect(h.leases.keys(8n)).toEqual([]);
    await h.write((batch) => h.store.put(put('b', 'v', { lease: 8n }), batch));
    await h.write((batch) => h.store.deleteRange(del('b'), batch));
    expect(h.leases.keys(8n)).toEqual([]);
  });

  it('deletes single keys, ranges and from-key; a no-op delete keeps the revision', async () => {
    for (const key of ['a', 'b', 'c', 'd']) await h.write((batch) => h.store.put(put(key, key), batch));
    const noop = await h.write((batch) => h.store.deleteRange(del('zz'), batch));
    expect(noop.result.deleted).toBe(0);
    expect(noop.events).toEqual([]);
    expect(h.store.currentRevision).toBe(5);
    const ranged = await h.write((batch) => h.store.deleteRange(del('a', 'c', { prevKv: true }), batch));
    expect(ranged.result.deleted).toBe(2);
    expect(keysOf(ranged.result.prevKvs)).toEqual(['a', 'b']);
    expect(h.store.currentRevision).toBe(6);
    expect(ranged.events.map((e) => [e.type, e.kv.key.toString(), e.kv.modRevision, e.kv.version, e.prevKv?.value.toString()]))
      .toEqual([[EventType.DELETE, 'a', 6, 0, 'a'], [EventType.DELETE, 'b', 6, 0, 'b']]);
    const rest = await h.write((batch) => h.store.deleteRange(del('b', FROM_KEY), batch));
    expect(rest.result.deleted).toBe(2);
    expect(rest.result.prevKvs).toEqual([]);
    expect((await h.store.range(get('\0', FROM_KEY))).count).toBe(0);
    expect(h.store.keysTotal).toBe(0);
  });

  it('deleteKeys deletes in one revision and skips missing keys', async () => {
    await h.write((batch) => h.store.put(put('x', '1', { lease: 7n }), batch));
    await h.write((batch) => h.store.put(put('y', '1', { lease: 7n }), batch));
    const events = await h.write((batch) => h.store.deleteKeys([b('y'), b('missing'), b('x')], batch));
    expect(events.map((e) => [e.kv.key.toString(), e.kv.modRevision])).toEqual([['x', 4], ['y', 4]]);
    expect(h.store.currentRevision).toBe(4);
    expect(h.leases.keys(7n)).toEqual([]);
    expect(await h.write((batch) => h.store.deleteKeys([b('x')], batch))).toEqual([]);
    expect(h.store.currentRevision).toBe(4);
  });
});

describe('MvccStore range', () => {
  beforeEach(async () => {
    // a@2 b@3 c@4 d@5, then b updated @6 and a updated @7: versions a=2 b=2 c=1 d=1.
    for (const [key, value] of [['a', '4'], ['b', '3'], ['c', '2'], ['d', '1'], ['b', '5'], ['a', '0']]) {
      await h.write((batch) => h.store.put(put(key, value), batch));
    }
  });

  it('single key, missing key, range, from-key and all keys', async () => {
    expect(keysOf((await h.store.range(get('b'))).kvs)).toEqual(['b']);
    const missing = await h.store.range(get('zz'));
    expect(missing).toMatchObject({ kvs: [], count: 0, more: false, revision: 7 });
    expect(keysOf((await h.store.range(get('b', 'd'))).kvs)).toEqual(['b', 'c']);
    expect(keysOf((await h.store.range(get('c', FROM_KEY))).kvs)).toEqual(['c', 'd']);
    expect(keysOf((await h.store.range(get('\0', FROM_KEY))).kvs)).toEqual(['a', 'b', 'c', 'd']);
    expect((await h.store.range(get('d', 'a'))).count).toBe(0);
  });

  it('limit, more and count', async () => {
    const limited = await h.store.range(get('a', FROM_KEY, { limit: 2 }));
    expect(keysOf(limited.kvs)).toEqual(['a', 'b']);
    expect(limited.more).toBe(true);
    expect(limited.count).toBe(4);
    const exact = await h.store.range(get('a', FROM_KEY, { limit: 4 }));
    expect(exact.more).toBe(false);
    const counted = await h.store.range(get('a', FROM_KEY, { countOnly: true, limit: 1 }));
    expect(counted).toMatchObject({ kvs: [], count: 4, more: false });
  });

  it('keys_only strips values without touching the store', async () => {
    const { kvs } = await h.store.range(get('a', FROM_KEY, { keysOnly: true }));
    expect(kvs.every((kv) => kv.value.length === 0)).toBe(true);
    expect((await h.store.range(get('a'))).kvs[0].value).toEqual(b('0'));
  });

  it('sorts by every target and order', async () => {
    const sorted = async (sortTarget: number, sortOrder: number, limit = 0): Promise<string[]> =>
      keysOf((await h.store.range(get('a', FROM_KEY, { sortTarget, sortOrder, limit }))).kvs);
    expect(await sorted(SortTarget.KEY, SortOrder.DESCEND)).toEqual(['d', 'c', 'b', 'a']);
    expect(await sorted(SortTarget.VALUE, SortOrder.ASCEND)).toEqual(['a', 'd', 'c', 'b']);
    expect(await sorted(SortTarget.VALUE, SortOrder.DESCEND)).toEqual(['b', 'c', 'd', 'a']);
    expect(await sorted(SortTarget.MOD, SortOrder.DESCEND)).toEqual(['a', 'b', 'd', 'c']);
    expect(await sorted(SortTarget.CREATE, SortOrder.DESCEND)).toEqual(['d', 'c', 'b', 'a']);
    expect(await sorted(SortTarget.VERSION, SortOrder.DESCEND)).toEqual(['a', 'b', 'c', 'd']);
    // Target other than KEY with order NONE sorts ascending.
    expect(await sorted(SortTarget.MOD, SortOrder.NONE)).toEqual(['c', 'd', 'b', 'a']);
    // A requested order disables the limit push-down: the top 2 of all keys.
    expect(await sorted(SortTarget.MOD, SortOrder.DESCEND, 2)).toEqual(['a', 'b']);
    // Order NONE keeps etcd's push-down: the first 3 keys by key, then sorted, then truncated.
    expect(await sorted(SortTarget.VALUE, SortOrder.NONE, 2)).toEqual(['a', 'c']);
  });

  it('min/max mod and create revision filters; count stays the total', async () => {
    const filtered = await h.store.range(get('a', FROM_KEY, { minModRevision: 5, maxModRevision: 6 }));
    expect(keysOf(filtered.kvs)).toEqual(['b', 'd']);
    expect(filtered.count).toBe(4);
    expect(keysOf((await h.store.range(get('a', FROM_KEY, { minCreateRevision: 4 }))).kvs)).toEqual(['c', 'd']);
    expect(keysOf((await h.store.range(get('a', FROM_KEY, { maxCreateRevision: 3 }))).kvs)).toEqual(['a', 'b']);
    const limited = await h.store.range(get('a', FROM_KEY, { maxCreateRevision: 4, limit: 1 }));
    expect(keysOf(limited.kvs)).toEqual(['a']);
    expect(limited.more).toBe(true);
  });

  it('reads old revisions from history, with count at that revision', async () => {
    const at3 = await h.store.range(get('a', FROM_KEY, { revision: 3 }));
    expect(keysOf(at3.kvs)).toEqual(['a', 'b']);
    expect(at3.kvs[0]).toMatchObject({ value: b('4'), version: 1, modRevision: 2 });
    expect(at3.count).toBe(2);
    expect(at3.revision).toBe(7);
    await h.write((batch) => h.store.deleteRange(del('c'), batch));
    const at7 = await h.store.range(get('a', FROM_KEY, { revision: 7, limit: 3 }));
    expect(keysOf(at7.kvs)).toEqual(['a', 'b', 'c']);
    expect(at7.more).toBe(true);
    expect(at7.count).toBe(4);
    expect((await h.store.range(get('c', '', { revision: 8 }))).count).toBe(0);
    await expect(h.store.range(get('a', '', { revision: 9 }))).rejects.toThrow(new EtcdError('FutureRev'));
  });
});
