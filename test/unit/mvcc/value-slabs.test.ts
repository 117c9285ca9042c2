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
    const slabs = new ValueSlabs({ slabBytes: 4096, repackDeadBytesMin: 2048 });
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
          victim.clearLive();
          want.delete(victim.binaryKey);
        }
      }
      if (slabs.wantsRepack) {
        slabs.repackAll((visit) => loader.forEach(visit));
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

  it('decodes the copy in the slab on every read; clearLive drops the value', () => {
    const slabs = new ValueSlabs();
    const loader = new KeyIndexLoader();
    const record = loader.put('a', 2, 0);
    const { kv, bytes } = stored('a', 2, 10, 5n);
    slabs.place(record, bytes);
    bytes.fill(0); // the slab holds its own copy
    expect(record.liveStoredLength).toBe(bytes.length);
    expect(record.live).toEqual(kv);
    expect(record.live).toEqual(kv);
    expect(slabs.liveByteCount).toBe(bytes.length);
    slabs.release(record);
    record.clearLive();
    expect(record.hasLive).toBe(false);
    expect(record.live).toBeUndefined();
    expect(slabs.deadByteCount).toBe(bytes.length);
  });

  it('a large value keeps a Buffer of its own, copied out of a larger one it is a view of', () => {
    const slabs = new ValueSlabs({ slabBytes: 4096 });
    const loader = new KeyIndexLoader();
    const { kv, bytes } = stored('big', 3, 2000);
    const backing = Buffer.concat([Buffer.alloc(7), bytes, Buffer.alloc(9)]);
    const record = loader.put('big', 3, 0);
    slabs.place(record, backing.subarray(7, 7 + bytes.length));
    backing.fill(0);
    expect(record.live).toEqual(kv);
    expect(record.liveStoredSlab?.length).toBe(bytes.length);
    const exact = loader.put('exact', 4, 0);
    const encoded = stored('exact', 4, 2000).bytes;
    const own = Buffer.allocUnsafeSlow(encoded.length); // a whole ArrayBuffer: kept as it is
    encoded.copy(own);
    slabs.place(exact, own);
    expect(exact.liveStoredSlab).toBe(own);
  });

  it('an incremental repack moves every value out of the slabs made before it began, and no other', () => {
    const slabs = new ValueSlabs({ slabBytes: 1024, repackDeadBytesMin: 512 });
    const loader = new KeyIndexLoader();
    const want = new Map<string, KeyValue>();
    const put = (key: string, main: number, size: number): void => {
      const record = loader.put(key, main, 0);
      if (record.hasLive) slabs.release(record);
      const { kv, bytes } = stored(key, main, size);
      slabs.place(record, bytes);
      want.set(key, kv);
    };
    let main = 2;
    for (; main < 60; main++) put(`k${main % 20}`, main, 40);
    put('huge', main++, 500); // its own Buffer: never moved
    expect(slabs.wantsRepack).toBe(true);
    const huge = loader.get('huge')!;
    const hugeBuffer = huge.liveStoredSlab;
    const before = new Map<string, Buffer | undefined>();
    loader.forEach((record) => before.set(record.binaryKey, record.liveStoredSlab));
    slabs.beginRepack();
    expect(slabs.wantsRepack).toBe(false);
    expect(slabs.deadByteCount).toBe(0);
    // Writes during the walk land in new slabs; the walk leaves those where they are.
    put('k3', main++, 40);
    const rewritten = loader.get('k3')!.liveStoredSlab;
    loader.forEach((record) => slabs.moveIfOld(record));
    slabs.endRepack();
    expect(loader.get('k3')!.liveStoredSlab).toBe(rewritten);
    expect(huge.liveStoredSlab).toBe(hugeBuffer);
    const oldSlabs = new Set([...before.values()].filter((slab) => slab !== hugeBuffer));
    const got = new Map<string, KeyValue>();
    loader.forEach((record) => {
      if (record.binaryKey !== 'huge') expect(oldSlabs.has(record.liveStoredSlab!)).toBe(false);
      got.set(record.binaryKey, record.live!);
    });
    expect(got).toEqual(want);
  });
});
