// Property tests: the quorum arithmetic against dumb reference versions.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { majorityCommittedIndex, majorityVoteResult } from '../../../src/raft/quorum.js';
import { decodeConfChange, encodeConfChange } from '../../../src/raft/conf-change.js';

/** Dumb reference: the largest index such that a strict majority of voters acknowledged at least it. */
function dumbCommitted(acked: number[]): number {
  let best = 0;
  for (const candidate of acked) {
    const holders = acked.filter((a) => a >= candidate).length;
    if (holders * 2 > acked.length && candidate > best) best = candidate;
  }
  return best;
}

describe('quorum', () => {
  it('majorityCommittedIndex equals the dumb majority search', () => {
    fc.assert(fc.property(fc.array(fc.nat(1000), { minLength: 1, maxLength: 9 }), (acked) => {
      const voters = new Set(acked.map((_, i) => BigInt(i + 1)));
      const result = majorityCommittedIndex(voters, (id) => acked[Number(id) - 1]);
      expect(result).toBe(dumbCommitted(acked));
    }));
  });

  it('voters that never acknowledged count as 0', () => {
    expect(majorityCommittedIndex(new Set([1n, 2n, 3n]), (id) => (id === 1n ? 5 : undefined))).toBe(0);
    expect(majorityCommittedIndex(new Set([1n, 2n, 3n]), (id) => (id === 3n ? undefined : 5))).toBe(5);
  });

  it('majorityVoteResult matches counting', () => {
    fc.assert(fc.property(fc.array(fc.constantFrom<boolean | undefined>(true, false, undefined), { minLength: 1, maxLength: 9 }), (votes) => {
      const voters = new Set(votes.map((_, i) => BigInt(i)));
      const map = new Map<bigint, boolean>();
      votes.forEach((v, i) => { if (v !== undefined) map.set(BigInt(i), v); });
      const granted = votes.filter((v) => v === true).length;
      const possible = votes.filter((v) => v !== false).length;
      const majority = Math.floor(votes.length / 2) + 1;
      const expected = granted >= majority ? 'won' : possible >= majority ? 'pending' : 'lost';
      expect(majorityVoteResult(voters, map)).toBe(expected);
    }));
  });

  it('ConfChange encoding round-trips', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 3 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.uint8Array({ maxLength: 64 }),
      (type, nodeId, context) => {
        const decoded = decodeConfChange(encodeConfChange({ type, nodeId, context }));
        expect(decoded).toEqual({ type, nodeId, context });
      }));
  });
});
