// MemoryStorage keeps its entries column by column; this checks it against a plain array of Entry
// objects (the shape it replaced) over random appends with conflicts, compactions and snapshots.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../../src/raft/storage.js';
import { type Entry, RaftError, entrySizeBytes } from '../../../src/raft/types.js';

/** The reference: entries[0] is the dummy standing for the snapshot. */
class ReferenceLog {
  entries: Entry[] = [{ term: 0, index: 0, type: 0, data: new Uint8Array(0) }];
  get first(): number { return this.entries[0]!.index + 1; }
  get last(): number { return this.entries[0]!.index + this.entries.length - 1; }
}

type Step =
  | { kind: 'append'; back: number; count: number; term: number; sizes: number[] }
  | { kind: 'compact'; back: number }
  | { kind: 'snapshot'; ahead: number; term: number }
  | { kind: 'read'; lo: number; span: number; max: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('append' as const), back: fc.nat(4), count: fc.integer({ min: 1, max: 6 }), term: fc.integer({ min: 1, max: 5 }), sizes: fc.array(fc.nat(40), { minLength: 6, maxLength: 6 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('compact' as const), back: fc.nat(8) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('snapshot' as const), ahead: fc.nat(5), term: fc.integer({ min: 1, max: 9 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('read' as const), lo: fc.nat(30), span: fc.nat(10), max: fc.nat(200) }) },
);

/** An entry whose data lies somewhere inside a larger buffer, as the entry arena places them. */
function entryAt(index: number, term: number, size: number): Entry {
  const pad = (index + 3 * term) % 7;
  const backing = Buffer.alloc(size + 10, 0xaa);
  const data = backing.subarray(pad, pad + size);
  data.fill((index + term) % 251);
  return { term, index, type: index % 3 === 0 ? 1 : 0, data };
}

function plain(entry: Entry): { term: number; index: number; type: number; data: number[] } {
  return { term: entry.term, index: entry.index, type: entry.type, data: [...entry.data] };
}

function outcome(read: () => unknown): unknown {
  try {
    return read();
  } catch (error) {
    return error instanceof RaftError ? `RaftError ${error.code}` : 'Error';
  }
}

describe('MemoryStorage', () => {
  it('answers as a plain array of entries would, through appends, conflicts, compactions and snapshots', () => {
    fc.assert(fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
      const storage = new MemoryStorage();
      const reference = new ReferenceLog();
      for (const s of steps) {
        if (s.kind === 'append') {
          const start = Math.max(1, reference.last + 1 - s.back);
          const entries = Array.from({ length: s.count }, (_, i) => entryAt(start + i, s.term, s.sizes[i]!));
          storage.append(entries);
          const kept = entries.filter((e) => e.index >= reference.first);
          if (kept.length > 0) reference.entries = [...reference.entries.slice(0, kept[0]!.index - reference.entries[0]!.index), ...kept];
        } else if (s.kind === 'compact') {
          const index = reference.last - s.back;
          if (index <= reference.entries[0]!.index) continue;
          storage.compact(index);
          const dummy = reference.entries[index - reference.entries[0]!.index]!;
          reference.entries = [{ term: dummy.term, index, type: 0, data: new Uint8Array(0) }, ...reference.entries.slice(index - reference.entries[0]!.index + 1)];
        } else if (s.kind === 'snapshot') {
          const index = reference.last + s.ahead;
          if (index <= storage.snapshot().metadata.index) continue;
          storage.applySnapshot({ metadata: { index, term: s.term, confState: { voters: [1n], learners: [] } }, data: new Uint8Array(0) });
          reference.entries = [{ term: s.term, index, type: 0, data: new Uint8Array(0) }];
        } else {
          const lo = reference.entries[0]!.index + s.lo - 3;
          const hi = Math.min(lo + s.span, reference.last + 1);
          const expected = outcome(() => {
            if (lo <= reference.entries[0]!.index) throw new RaftError('Compacted');
            const all = reference.entries.slice(lo - reference.entries[0]!.index, hi - reference.entries[0]!.index);
            let size = 0;
            return all.filter((e, i) => (size += entrySizeBytes(e)) <= s.max || i === 0).map(plain);
          });
          expect(outcome(() => storage.entries(lo, hi, s.max).map(plain))).toEqual(expected);
        }
        expect(storage.firstIndex()).toBe(reference.first);
        expect(storage.lastIndex()).toBe(reference.last);
        for (let index = reference.entries[0]!.index - 1; index <= reference.last + 1; index++) {
          const entry = reference.entries[index - reference.entries[0]!.index];
          const expected = index < reference.entries[0]!.index ? 'RaftError Compacted' : entry === undefined ? 'RaftError Unavailable' : entry.term;
          expect(outcome(() => storage.term(index))).toBe(expected);
        }
      }
    }), { numRuns: 300 });
  });

  it('keeps every entry through growth past its first columns, compactions and a conflict', () => {
    const storage = new MemoryStorage();
    for (let start = 1; start <= 5000; start += 250) {
      storage.append(Array.from({ length: 250 }, (_, i) => entryAt(start + i, 1 + Math.floor((start + i) / 1000), (start + i) % 17)));
    }
    storage.compact(1200);
    // A new leader replaces the tail from 4500 on, from term 9.
    storage.append(Array.from({ length: 1000 }, (_, i) => entryAt(4500 + i, 9, i % 5)));
    expect(storage.firstIndex()).toBe(1201);
    expect(storage.lastIndex()).toBe(5499);
    expect(storage.term(1200)).toBe(2);
    const all = storage.entries(1201, 5500, Number.MAX_SAFE_INTEGER);
    expect(all).toHaveLength(4299);
    all.forEach((entry, i) => {
      const index = 1201 + i;
      const expected = index >= 4500 ? entryAt(index, 9, (index - 4500) % 5) : entryAt(index, 1 + Math.floor(index / 1000), index % 17);
      expect(plain(entry)).toEqual(plain(expected));
    });
  });

  it('hands out entries whose data are views of the appended bytes, not copies', () => {
    const storage = new MemoryStorage();
    const entry = entryAt(1, 1, 8);
    storage.append([entry]);
    const [read] = storage.entries(1, 2, 1000);
    expect(read!.data.buffer).toBe(entry.data.buffer);
    expect(read!.data.byteOffset).toBe(entry.data.byteOffset);
    expect([...read!.data]).toEqual([...entry.data]);
  });
});
