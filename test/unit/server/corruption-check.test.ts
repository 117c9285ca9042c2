// The judging rules of etcd's corruption checks (corruption-check.ts), one rule per case.
import { describe, expect, it } from 'vitest';
import { judgeInitialCheck, judgeLeaderCheck } from '../../../src/server/corruption-check.js';

const local = { hash: 7, revision: 20, compactRevision: 5 };

describe('judgeInitialCheck', () => {
  it('flags a different hash at the same compact revision only', () => {
    const result = judgeInitialCheck(local, [
      { id: 1n, answer: { hash: 7, compactRevision: 5, revision: 22 } },
      { id: 2n, answer: { hash: 8, compactRevision: 5, revision: 20 } },
      { id: 3n, answer: { hash: 9, compactRevision: 6, revision: 25 } },
      { id: 4n, error: 'FutureRev' },
      { id: 5n, error: 'Compacted' },
      { id: 6n, error: 'connect ECONNREFUSED' },
    ]);
    expect(result.mismatches).toEqual([{ peer: 2n, reason: 'found different hash values from remote peer' }]);
    expect(result.unchecked.map((finding) => [finding.peer, finding.reason])).toEqual([
      [3n, 'found different compact revision values from remote peer'],
      [4n, 'cannot fetch hash from slow remote peer'],
      [5n, 'cannot fetch hash from remote peer; local member is behind'],
      [6n, 'cannot fetch hash from remote peer: connect ECONNREFUSED'],
    ]);
  });
});

describe('judgeLeaderCheck', () => {
  it('passes members that agree, also ones at another compact revision', () => {
    expect(judgeLeaderCheck(9n, local, { ...local, revision: 21, hash: 3 }, [
      { id: 1n, answer: { hash: 7, compactRevision: 5, revision: 21 } },
      { id: 2n, answer: { hash: 1, compactRevision: 4, revision: 20 } },
      { id: 3n, error: 'timeout' },
    ])).toEqual([]);
  });

  it("flags the leader's own hash changing at the same revision", () => {
    expect(judgeLeaderCheck(9n, local, { ...local, hash: 8 }, [])).toEqual([{ peer: 9n, reason: 'found hash mismatch' }]);
  });

  it('flags a follower ahead of the leader, or with another hash at the same compact revision', () => {
    const findings = judgeLeaderCheck(9n, local, local, [
      { id: 1n, answer: { hash: 7, compactRevision: 5, revision: 21 } },
      { id: 2n, answer: { hash: 7, compactRevision: 6, revision: 20 } },
      { id: 3n, answer: { hash: 4, compactRevision: 5, revision: 20 } },
    ]);
    expect(findings.map((finding) => [finding.peer, finding.reason])).toEqual([
      [1n, "revision from follower must be less than or equal to leader's"],
      [2n, "compact revision from follower must be less than or equal to leader's"],
      [3n, 'same compact revision then hashes must match'],
    ]);
  });
});
