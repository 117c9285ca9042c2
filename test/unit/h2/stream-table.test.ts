// StreamTable against a Map: random opens and closes of stream ids, sequential as a client numbers
// them and scattered so that runs collide, wrap around the table's end and grow it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StreamTable } from '../../../src/api/h2/stream-table.js';

type Op = { kind: 'open' | 'close' | 'get'; pick: number; far: boolean };

const op: fc.Arbitrary<Op> = fc.record({
  kind: fc.constantFrom('open' as const, 'open' as const, 'close' as const, 'get' as const),
  pick: fc.nat(1000),
  far: fc.boolean(),
});

describe('StreamTable', () => {
  it('answers as a Map would through opens, closes and growth', () => {
    fc.assert(fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
      const table = new StreamTable<string>();
      const map = new Map<number, string>();
      let next = 1;
      for (const { kind, pick, far } of ops) {
        if (kind === 'open') {
          // Mostly the next id; sometimes one 32 or 64 slots on, whose home collides with a run.
          const id = far ? next + 64 * (1 + (pick % 2)) + 2 * (pick % 3) : next;
          next = Math.max(next, id) + 2;
          table.set(id, `s${id}`);
          map.set(id, `s${id}`);
        } else {
          const ids = [...map.keys()];
          const id = ids.length === 0 || pick % 5 === 0 ? 2 * pick + 1 : ids[pick % ids.length]!;
          if (kind === 'close') expect(table.delete(id)).toBe(map.delete(id));
          else expect(table.get(id)).toBe(map.get(id));
        }
        expect(table.size).toBe(map.size);
      }
      for (const [id, value] of map) expect(table.get(id)).toBe(value);
      expect(table.valuesSnapshot().sort()).toEqual([...map.values()].sort());
    }), { numRuns: 300 });
  });

  it('finds every id after deletes in a run that wraps past the end of the table', () => {
    const table = new StreamTable<number>();
    // 16 slots: 29 and 31 take the last two; 63 wants the last one too and wraps to slot 0, and
    // 33 and 1, whose home is slot 0, follow it.
    for (const id of [29, 31, 63, 33, 1]) table.set(id, id);
    expect(table.delete(31)).toBe(true);
    for (const id of [29, 63, 33, 1]) expect(table.get(id)).toBe(id);
    expect(table.delete(63)).toBe(true);
    for (const id of [29, 33, 1]) expect(table.get(id)).toBe(id);
    expect(table.get(31)).toBeUndefined();
    expect(table.get(63)).toBeUndefined();
    expect(() => table.set(0, 0)).toThrow(/bad stream id/);
    table.clear();
    expect(table.size).toBe(0);
    expect(table.get(29)).toBeUndefined();
  });
});
