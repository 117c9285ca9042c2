// RevisionWindow: the values of consecutive revisions, pushed at the top and dropped at the bottom,
// found by revision across growth of the ring and far from zero.
import { describe, expect, it } from 'vitest';
import { RevisionWindow } from '../../../src/mvcc/revision-window.js';

describe('RevisionWindow', () => {
  it('holds [low, high) through pushes, shifts and growth, and nothing outside it', () => {
    const start = 2 ** 40 - 700; // crosses 2^40 and wraps the ring many times
    const window = new RevisionWindow<string>(start);
    expect(window.get(start)).toBeUndefined();
    let low = start;
    for (let revision = start; revision < start + 5000; revision++) {
      window.push(revision, `v${revision}`);
      // Grows to 3000 held, then shrinks to 100 at the end.
      const keep = revision < start + 3000 ? 3000 : 100;
      while (window.size > keep) { window.shift(); low++; }
    }
    expect(window.low).toBe(low);
    expect(window.size).toBe(100);
    expect(window.get(low - 1)).toBeUndefined();
    expect(window.get(low)).toBe(`v${low}`);
    expect(window.get(start + 4999)).toBe(`v${start + 4999}`);
    expect(window.get(start + 5000)).toBeUndefined();
    for (let revision = low; revision < start + 5000; revision++) expect(window.get(revision)).toBe(`v${revision}`);
  });

  it('refuses a revision that does not follow, and starts over at reset', () => {
    const window = new RevisionWindow<number>(2);
    window.push(2, 20);
    expect(() => window.push(4, 40)).toThrow(/expected 3/);
    window.shift();
    window.shift(); // empty: nothing to drop
    expect(window.low).toBe(3);
    window.reset(10);
    expect(window.size).toBe(0);
    expect(window.get(2)).toBeUndefined();
    window.push(10, 100);
    expect(window.get(10)).toBe(100);
  });
});
