import { describe, expect, it } from 'vitest';
import { KeyIndexLoader, type KeyRecord } from '../../../src/mvcc/key-index.js';
import { encodeKeyValue } from '../../../src/mvcc/kv-codec.js';
import type { KeyValue } from '../../../src/mvcc/types.js';
import { ValueSlabs } from '../../../src/mvcc/value-slabs.js';

function stored(key: string, main: number, valueBytes: number, lease = 0n): { kv: KeyValue; bytes: Buffer } {
  const kv: KeyValue = {
    key: Buffer.from(key), createRevision: 2, modRevision: main, version: main - 1, lease,
    value: Buffer.alloc(valueBytes, main % 251),
  };
  return { kv, bytes: encodeKeyValue(kv) };
}

describe('ValueSlabs', () => {
  it('keeps every placed value readable through overwrites, deletes, repacks and own-buffer values', () => {
    const slabs0 = new ValueSlabs({ slabBytes: 4096, repackDeadBytesMin: 2048 });
    let slabs = slabs0;
    const loader = new KeyIndexLoader();
    const want = new Map<string, KeyValue>();
    let repacks = 0;
    for (let main = 2; main < 400; main++) {
      const key = `k${main % 37}`;
      const record = loader.put(key, main, 0);
      if (record.hasLive) slabs.release(record);
      // Every 50th value is too big for a slab and keeps its own Buffer.
      const { kv, bytes } = stored(key, main, main % 50 === 0 ? 1000 : main % 90, BigInt(main % 3));
      slabs.place(record, bytes);
      want.set(key, kv);
      if (main % 7 === 0) {
        const victim = loader.get(`k${(main * 3) % 37}`);
        if (victim?.hasLive) {
          loader.tombstone(victim, main, 1);
          slabs.release(victim);
          victim.live = undefined;
          want.delete(victim.binaryKey);
        }
      }
      if (slabs.wantsRepack) {
        slabs = slabs.repack((visit) => loader.forEach(visit));
        repacks++;
      }
    }
    expect(repacks).toBeGreaterThan(3);
    const index = loader.finish();
    const got = new Map<string, KeyValue>();
    index.forEach((record: KeyRecord) => {
      if (record.hasLive) got.set(record.binaryKey, record.live as KeyValue);
    });
    expect(got).toEqual(want);
  });

  it('decodes a stored value once and drops the slab once a new value is set', () => {
    const slabs = new ValueSlabs();
    const loader = new KeyIndexLoader();
    const record = loader.put('a', 2, 0);
    const { kv, bytes } = stored('a', 2, 10, 5n);
    slabs.place(record, bytes);
    bytes.fill(0); // the slab holds its own copy
    expect(record.liveStoredLength).toBe(bytes.length);
    const first = record.live;
    expect(first).toEqual(kv);
    expect(record.live).toBe(first);
    expect(record.liveStored).toBeUndefined();
    record.live = undefined;
    expect(record.hasLive).toBe(false);
  });
});
