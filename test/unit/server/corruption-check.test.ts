// The judging rules of etcd's corruption checks (corruption-check.ts), one rule per case.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import {
  checkCompactionHashesAsLeader, judgeCompactionHashes, judgeInitialCheck, judgeLeaderCheck, type CompactionHashCheckHost,
} from '../../../src/server/corruption-check.js';

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

describe('judgeCompactionHashes', () => {
  it('passes members that agree, and names the ones outside a majority (the leader too)', () => {
    expect(judgeCompactionHashes(9n, 5, [{ id: 1n, hash: 5 }, { id: 2n, hash: 5 }])).toEqual([]);
    expect(judgeCompactionHashes(9n, 5, [{ id: 1n, hash: 6 }, { id: 2n, hash: 5 }])).toEqual([{ peer: 1n, reason: 'detected compaction hash mismatch' }]);
    expect(judgeCompactionHashes(9n, 5, [{ id: 1n, hash: 6 }, { id: 2n, hash: 6 }])).toEqual([{ peer: 9n, reason: 'detected compaction hash mismatch' }]);
    // No majority: whoever differs from the leader (it cannot tell more).
    expect(judgeCompactionHashes(9n, 5, [{ id: 1n, hash: 6 }, { id: 2n, hash: 7 }, { id: 3n, hash: 5 }]).map((f) => f.peer)).toEqual([1n, 2n]);
  });
});

describe('checkCompactionHashesAsLeader', () => {
  function host(own: Array<{ revision: number; hash: number }>, peers: Record<string, Record<number, number>>, leader = true) {
    const asked: Array<[bigint, number]> = [];
    let alarms = 0;
    const h: CompactionHashCheckHost = {
      memberId: 9n, logger: pino({ level: 'silent' }),
      peerIds: () => Object.keys(peers).map(BigInt),
      isLeader: () => leader,
      compactionHashes: () => own,
      peerCompactionHash: async (id, revision) => {
        asked.push([id, revision]);
        const hash = peers[String(id)]![revision];
        return hash === undefined ? { id, error: `no hash of a compaction at revision ${revision}` } : { id, hash };
      },
      raiseCorruptAlarm: async () => { alarms++; },
    };
    return { h, asked, alarms: () => alarms };
  }

  it('compares the newest compaction every peer has a hash for, and stops at the last one checked', async () => {
    // Peer 2 is still purging at 30: the check falls back to 20, where all agree.
    const t = host([{ revision: 30, hash: 3 }, { revision: 20, hash: 2 }, { revision: 10, hash: 1 }], { 1: { 30: 3, 20: 2 }, 2: { 20: 2 } });
    expect(await checkCompactionHashesAsLeader(t.h, 0)).toEqual({ revision: 20, findings: [] });
    expect(t.asked.map(([, revision]) => revision)).toEqual([30, 30, 20, 20]);
    // Already checked at 20: only newer compactions are asked about.
    const again = host([{ revision: 30, hash: 3 }, { revision: 20, hash: 2 }], { 1: { 30: 3, 20: 2 }, 2: { 20: 2 } });
    expect(await checkCompactionHashesAsLeader(again.h, 20)).toEqual({ findings: [] });
    expect(again.asked.map(([, revision]) => revision)).toEqual([30, 30]);
    expect(t.alarms() + again.alarms()).toBe(0);
  });

  it('raises CORRUPT on a different hash, and does nothing on a follower', async () => {
    const t = host([{ revision: 20, hash: 2 }], { 1: { 20: 2 }, 2: { 20: 99 } });
    expect(await checkCompactionHashesAsLeader(t.h, 0)).toEqual({ revision: 20, findings: [{ peer: 2n, reason: 'detected compaction hash mismatch' }] });
    expect(t.alarms()).toBe(1);
    const follower = host([{ revision: 20, hash: 2 }], { 1: { 20: 3 } }, false);
    expect(await checkCompactionHashesAsLeader(follower.h, 0)).toEqual({ findings: [] });
    expect(follower.asked).toEqual([]);
  });
});
