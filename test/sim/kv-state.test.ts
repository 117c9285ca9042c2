// The simulator's KV state machine and its in-memory backend: equal entries give equal mvcc hashes,
// a different entry a different one; snapshots and reopening keep the state; the backend iterates in
// byte order with LevelDB's range, reverse, limit and snapshot-at-open semantics.
import { describe, expect, test } from 'vitest';
import { type Entry, EntryType } from '../../src/raft/types.js';
import { encodeInternalRequest } from '../../src/server/request-codec.js';
import { encodeWrite } from './kv-clients.js';
import { KvStateMachine } from './kv-state.js';
import { MemoryBackend } from './memory-backend.js';

function entry(index: number, key: string, input: Parameters<typeof encodeWrite>[2]): Entry {
  return { index, term: 1, type: EntryType.Normal, data: encodeInternalRequest(encodeWrite(index, key, input)) };
}

const script = (): Entry[] => [
  entry(2, 'a', { kind: 'put', value: 'x' }),
  entry(3, 'b', { kind: 'cas', expected: null, value: 'y' }),
  entry(4, 'a', { kind: 'cas', expected: 'nope', value: 'z' }),
  { index: 5, term: 2, type: EntryType.Normal, data: new Uint8Array(0) },
  entry(6, 'a', { kind: 'delete' }),
  entry(7, 'b', { kind: 'cas', expected: 'y', value: 'w' }),
];

describe('KvStateMachine', () => {
  test('applies puts, deletes and compare-and-swaps with etcd semantics', async () => {
    const kv = await KvStateMachine.empty(1);
    const outcomes = script().map((e) => kv.apply(e)?.outcome);
    expect(outcomes[1]).toMatchObject({ ok: true, txnSucceeded: true });
    expect(outcomes[2]).toMatchObject({ ok: true, txnSucceeded: false });
    expect(outcomes[3]).toBeUndefined();
    expect(outcomes[5]).toMatchObject({ ok: true, txnSucceeded: true });
    expect(await kv.get('a')).toBeNull();
    expect(await kv.get('b')).toBe('w');
    expect(kv.appliedIndex).toBe(7);
    expect(() => kv.apply(entry(9, 'a', { kind: 'put', value: 'gap' }))).toThrow(/applied after 7/);
  });

  test('equal entries give equal hashes at every revision; one different value changes it', async () => {
    const [one, two, other] = [await KvStateMachine.empty(1), await KvStateMachine.empty(1), await KvStateMachine.empty(1)];
    for (const e of script()) {
      one.apply(e);
      two.apply(e);
    }
    const changed = script();
    changed[0] = entry(2, 'a', { kind: 'put', value: 'X' });
    for (const e of changed) other.apply(e);
    for (let revision = 1; revision <= one.store.currentRevision; revision++) expect(await two.hashAt(revision)).toBe(await one.hashAt(revision));
    expect(await other.hashAt(one.store.currentRevision)).not.toBe(await one.hashAt(one.store.currentRevision));
  });

  test('a snapshot and a reopen both restore the same state and applied index', async () => {
    const kv = await KvStateMachine.empty(1);
    for (const e of script()) kv.apply(e);
    const { kv: restored, chainHash } = await KvStateMachine.fromSnapshot(kv.encodeSnapshot(0xdeadbeef), 7);
    const reopened = await KvStateMachine.reopen(kv);
    expect(chainHash).toBe(0xdeadbeef);
    for (const copy of [restored, reopened]) {
      expect(copy.appliedIndex).toBe(7);
      expect(copy.store.currentRevision).toBe(kv.store.currentRevision);
      expect(await copy.hashAt(0)).toBe(await kv.hashAt(0));
      expect(await copy.get('b')).toBe('w');
    }
    await expect(KvStateMachine.fromSnapshot(kv.encodeSnapshot(0), 6)).rejects.toThrow(/snapshot says index 7/);
  });
});

describe('MemoryBackend', () => {
  const b = (s: string | number[]): Buffer => (typeof s === 'string' ? Buffer.from(s) : Buffer.from(s));
  const keys = (entries: Array<[Buffer, Buffer]>): string[] => entries.map(([k]) => k.toString('hex'));

  test('orders keys as unsigned bytes and honours gte/lt, reverse and limit', async () => {
    const backend = new MemoryBackend();
    await backend.write([{ type: 'put', key: b([0xff]), value: b('1') }, { type: 'put', key: b([0x01]), value: b('2') },
      { type: 'put', key: b([0x80, 0x00]), value: b('3') }, { type: 'put', key: b([0x80]), value: b('4') }], true);
    expect(keys(backend.entries())).toEqual(['01', '80', '8000', 'ff']);
    expect(keys(await backend.readAll(b([0x80]), b([0xff])))).toEqual(['80', '8000']);
    const reversed: string[] = [];
    for await (const [key] of backend.iterate({ gte: b([0x01]), reverse: true, limit: 2 })) reversed.push(key.toString('hex'));
    expect(reversed).toEqual(['ff', '8000']);
  });

  test('a batch applies in op order; an iterator, once started, sees the data as it was then', async () => {
    // As with Backend.iterate, the LevelDB iterator (and its snapshot) is opened at the first next().
    const backend = new MemoryBackend();
    await backend.write([{ type: 'put', key: b('k'), value: b('1') }, { type: 'del', key: b('k') }, { type: 'put', key: b('j'), value: b('2') },
      { type: 'put', key: b('m'), value: b('4') }], false);
    expect(await backend.get(b('k'))).toBeUndefined();
    const iterator = backend.iterate({});
    const first = await iterator.next();
    backend.writeNow([{ type: 'put', key: b('l'), value: b('3') }, { type: 'del', key: b('m') }]);
    const seen: string[] = [];
    for await (const [key, value] of iterator) seen.push(`${key}=${value}`);
    expect(first.value?.[0].toString()).toBe('j');
    expect(seen).toEqual(['m=4']);
    expect((await backend.get(b('l')))?.toString()).toBe('3');
  });
});
