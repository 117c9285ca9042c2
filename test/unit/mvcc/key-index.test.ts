import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyIndex, KeyIndexLoader, type KeyRecord } from '../../../src/mvcc/key-index.js';
import { BinaryStringOrderedMap } from '../../../src/mvcc/ordered-map.js';

// Bytes on both sides of 0x80, where a UTF-8 or signed-byte view would break byte order.
const wideKeyArb = fc.array(fc.constantFrom(0, 1, 0x41, 0x7f, 0x80, 0xc3, 0xff), { minLength: 1, maxLength: 3 }).map((a) => Buffer.from(a));
const bin = (key: Buffer): string => key.toString('latin1');

describe('BinaryStringOrderedMap (B+tree)', () => {
  it('matches a sorted reference under random inserts, deletes and range scans', () => {
    const opArb = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), key: wideKeyArb, value: fc.nat() }),
      fc.record({ kind: fc.constant('delete' as const), key: wideKeyArb }),
      fc.record({ kind: fc.constant('scan' as const), key: wideKeyArb, end: fc.option(wideKeyArb) }),
    );
    fc.assert(fc.property(fc.array(opArb, { maxLength: 400 }), (ops) => {
      const map = new BinaryStringOrderedMap<number>();
      const reference = new Map<string, number>();
      for (const op of ops) {
        const hex = op.key.toString('hex');
        if (op.kind === 'set') {
          map.set(bin(op.key), op.value);
          reference.set(hex, op.value);
        } else if (op.kind === 'delete') {
          expect(map.delete(bin(op.key))).toBe(reference.delete(hex));
        } else {
          const got: string[] = [];
          map.forEachInRange(bin(op.key), op.end === null ? undefined : bin(op.end), (key) => { got.push(Buffer.from(key, 'latin1').toString('hex')); });
          const want = [...reference.keys()]
            .map((k) => Buffer.from(k, 'hex'))
            .filter((k) => Buffer.compare(k, op.key) >= 0 && (op.end === null || Buffer.compare(k, op.end) < 0))
            .sort(Buffer.compare)
            .map((k) => k.toString('hex'));
          expect(got).toEqual(want);
        }
        expect(map.size).toBe(reference.size);
      }
      for (const [hex, value] of reference) expect(map.get(bin(Buffer.from(hex, 'hex')))).toBe(value);
    }), { numRuns: 150 });
  });

  it('builds from sorted entries the map that inserts would, and stays a working map', () => {
    const opArb = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), key: wideKeyArb, value: fc.nat() }),
      fc.record({ kind: fc.constant('delete' as const), key: wideKeyArb }),
    );
    fc.assert(fc.property(fc.uniqueArray(wideKeyArb, { selector: bin, maxLength: 600 }), fc.array(opArb, { maxLength: 200 }), (initial, ops) => {
      const keys = initial.map(bin).sort();
      const map = BinaryStringOrderedMap.fromSorted(keys, keys.map((_, i) => i));
      const reference = new Map(keys.map((key, i) => [key, i]));
      const check = (): void => {
        const got: Array<[string, number]> = [];
        map.forEach((key, value) => { got.push([key, value]); });
        expect(got).toEqual([...reference].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
        expect(map.size).toBe(reference.size);
        for (const [key, value] of reference) expect(map.get(key)).toBe(value);
      };
      check();
      for (const op of ops) {
        if (op.kind === 'set') {
          map.set(bin(op.key), op.value);
          reference.set(bin(op.key), op.value);
        } else {
          expect(map.delete(bin(op.key))).toBe(reference.delete(bin(op.key)));
        }
      }
      check();
    }), { numRuns: 150 });
    const many = Array.from({ length: 100_000 }, (_, i) => `k${String(i).padStart(6, '0')}`);
    const big = BinaryStringOrderedMap.fromSorted(many, many);
    expect(big.height).toBeLessThanOrEqual(4);
    let seen = 0;
    big.forEachInRange('k050000', 'k050100', () => { seen++; });
    expect(seen).toBe(100);
    expect(() => BinaryStringOrderedMap.fromSorted(['b', 'a'], [1, 2])).toThrow(/not strictly increasing/);
    expect(() => BinaryStringOrderedMap.fromSorted(['a', 'a'], [1, 2])).toThrow(/not strictly increasing/);
  });

  it('stays shallow on many keys and empties cleanly', () => {
    const map = new BinaryStringOrderedMap<number>();
    const count = 100_000;
    const keyOf = (i: number): string => `key/${String((i * 7919) % count).padStart(6, '0')}`;
    for (let i = 0; i < count; i++) map.set(keyOf(i), i);
    expect(map.size).toBe(count);
    expect(map.height).toBeLessThanOrEqual(4);
    let previous: string | undefined;
    let seen = 0;
    let outOfOrder = 0;
    map.forEach((key) => {
      if (previous !== undefined && previous >= key) outOfOrder++;
      previous = key;
      seen++;
    });
    expect(seen).toBe(count);
    expect(outOfOrder).toBe(0);
    let missing = 0;
    for (let i = 0; i < count; i++) if (!map.delete(keyOf(i))) missing++;
    expect(missing).toBe(0);
    expect(map.size).toBe(0);
    expect(map.height).toBe(1);
    map.set('again', 1);
    expect(map.get('again')).toBe(1);
  });
});

describe('KeyIndex', () => {
  it('follows the worked example of the header', () => {
    const index = new KeyIndex();
    const foo = Buffer.from('foo');
    index.put(foo, 1, 0);
    index.put(foo, 2, 0);
    index.tombstone(foo, 3, 0);
    index.put(foo, 4, 0);
    index.put(foo, 5, 0);
    const record = index.get(foo)!;
    expect(record.revisionAt(2)).toEqual({ main: 2, sub: 0 });
    expect(record.revisionAt(3)).toBeUndefined();
    expect(record.revisionAt(4)).toEqual({ main: 4, sub: 0 });
    expect(record.revisionAt(0)).toBeUndefined();
    expect(record.previousRevision(4, 0)).toBeUndefined();
    expect(record.previousRevision(3, 0)).toEqual({ main: 2, sub: 0 });

    index.compact(2);
    expect(record.hasRevision(1, 0)).toBe(false);
    expect(record.hasRevision(2, 0)).toBe(true);
    expect(record.revisionAt(2)).toEqual({ main: 2, sub: 0 });
    index.compact(4);
    expect(record.generations().length).toBe(1);
    expect(record.hasRevision(3, 0)).toBe(false);
    index.tombstone(foo, 6, 0);
    index.compact(6);
    expect(index.get(foo)).toBeUndefined();
    expect(index.size).toBe(0);
  });

  it('handles a delete and re-put of one key inside one main revision', () => {
    const index = new KeyIndex();
    const key = Buffer.from('c');
    index.put(key, 3, 0);
    index.tombstone(key, 4, 1);
    index.put(key, 4, 2);
    const record = index.get(key)!;
    expect(record.revisionAt(4)).toEqual({ main: 4, sub: 2 });
    expect(record.revisionAt(3)).toEqual({ main: 3, sub: 0 });
    expect(record.hasRevision(4, 1)).toBe(true);
    expect(record.previousRevision(4, 1)).toEqual({ main: 3, sub: 0 });
    expect(record.previousRevision(4, 2)).toBeUndefined();
    index.compact(4);
    expect(record.hasRevision(4, 1)).toBe(false);
    expect(record.hasRevision(4, 2)).toBe(true);
  });

  it('refuses revisions out of order and tombstones of dead keys', () => {
    const index = new KeyIndex();
    index.put(Buffer.from('a'), 5, 0);
    expect(() => index.put(Buffer.from('a'), 5, 0)).toThrow(/not after/);
    expect(() => index.tombstone(Buffer.from('b'), 6, 0)).toThrow(/not alive/);
  });

  // The dumb model: for each key, every revision ever written, with a tombstone flag; compaction
  // state is just the compact revision, and what must survive is computed from the full list.
  it('agrees with a list-of-revisions reference model under writes, reads and compactions', () => {
    const keys = ['a', 'b', 'ba', 'c', 'd'];
    const opArb = fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant('put' as const), keys: fc.uniqueArray(fc.constantFrom(...keys), { minLength: 1, maxLength: 3 }) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), keys: fc.uniqueArray(fc.constantFrom(...keys), { minLength: 1, maxLength: 3 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('compact' as const), back: fc.nat(6) }) },
    );
    fc.assert(fc.property(fc.array(opArb, { maxLength: 60 }), fc.array(fc.tuple(fc.constantFrom(...keys), fc.constantFrom('', 'b', 'c', 'z', '\0')), { minLength: 1, maxLength: 5 }), (ops, ranges) => {
      const index = new KeyIndex();
      const model = new Map<string, Array<{ main: number; sub: number; tombstone: boolean }>>();
      let current = 1;
      let compacted = 0;
      const aliveInModel = (k: string): boolean => {
        const revs = model.get(k);
        return revs !== undefined && revs.length > 0 && !revs[revs.length - 1].tombstone;
      };
      for (const op of ops) {
        if (op.kind === 'compact') {
          const at = Math.max(current - op.back, compacted + 1);
          if (at > current) continue;
          compacted = at;
          index.compact(at);
          continue;
        }
        const main = current + 1;
        let sub = 0;
        for (const k of op.keys) {
          if (op.kind === 'put') {
            index.put(Buffer.from(k), main, sub);
          } else {
            if (!aliveInModel(k)) continue;
            index.tombstone(Buffer.from(k), main, sub);
          }
          const revs = model.get(k) ?? [];
          revs.push({ main, sub, tombstone: op.kind === 'delete' });
          model.set(k, revs);
          sub++;
        }
        if (sub > 0) current = main;
      }
      const modelAt = (k: string, at: number): { main: number; sub: number } | undefined => {
        const revs = (model.get(k) ?? []).filter((r) => r.main <= at);
        const last = revs[revs.length - 1];
        return last && !last.tombstone ? { main: last.main, sub: last.sub } : undefined;
      };
      // Reads at every revision >= the compaction point are unchanged by compaction.
      for (let at = Math.max(compacted, 1); at <= current; at++) {
        for (const [start, endText] of ranges) {
          const rangeEnd = Buffer.from(endText);
          const got: string[] = [];
          index.forEachInRange(Buffer.from(start), rangeEnd, (record) => {
            const r = record.revisionAt(at);
            if (r) got.push(`${record.key}@${r.main}.${r.sub}`);
          });
          const want = keys
            .filter((k) => (endText === '' ? k === start : k >= start && (endText === '\0' || k < endText)))
            .flatMap((k) => { const r = modelAt(k, at); return r ? [`${k}@${r.main}.${r.sub}`] : []; });
          expect(got).toEqual(want);
        }
      }
      // Exactly the revisions compaction keeps are still indexed.
      for (const [k, revs] of model) {
        const atOrBefore = revs.filter((r) => r.main <= compacted);
        const newest = atOrBefore[atOrBefore.length - 1];
        for (const r of revs) {
          const keep = r.main > compacted || (r === newest && !r.tombstone);
          expect(index.get(Buffer.from(k))?.hasRevision(r.main, r.sub) === true).toBe(keep);
        }
        if (!revs.some((r) => r.main > compacted || (r === newest && !r.tombstone))) {
          expect(index.get(Buffer.from(k))).toBeUndefined();
        }
      }
    }), { numRuns: 300 });
  });

  it('KeyIndexLoader builds the index that the same puts and tombstones build one by one', () => {
    const keyArb = fc.constantFrom('a', 'b', 'ba', 'c', '\x80', '\xff', '\x00');
    const opArb = fc.record({ tombstone: fc.boolean(), keys: fc.uniqueArray(keyArb, { minLength: 1, maxLength: 3 }) });
    const describeRecord = (record: KeyRecord): string =>
      `${record.key.toString('hex')}:${record.generations().map((g) => `${g.revisions.map((r) => `${r.main}.${r.sub}`).join(',')}${g.closed ? 'x' : ''}`).join('|')}`;
    fc.assert(fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
      const index = new KeyIndex();
      const loader = new KeyIndexLoader();
      let main = 1;
      for (const op of ops) {
        main++;
        op.keys.forEach((text, sub) => {
          const key = Buffer.from(text, 'latin1');
          const record = loader.get(text);
          if (op.tombstone && record?.isAlive) {
            index.tombstone(key, main, sub);
            loader.tombstone(record, main, sub);
          } else if (!op.tombstone) {
            index.put(key, main, sub);
            loader.put(text, main, sub);
          }
        });
      }
      const built = loader.finish();
      const want: string[] = [];
      index.forEach((record) => { want.push(describeRecord(record)); });
      const got: string[] = [];
      built.forEach((record) => { got.push(describeRecord(record)); });
      expect(got).toEqual(want);
      expect(built.size).toBe(index.size);
    }), { numRuns: 200 });
  });
});
