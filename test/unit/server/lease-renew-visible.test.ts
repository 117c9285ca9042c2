// A leader renews a keep-alive only once it has applied what any member may already have answered
// (waitAppliedVisible). With followers that commit on their own, a follower can answer a LeaseGrant
// before its leader has heard the follower's ack: the client's first keep-alive, forwarded to the
// leader, must wait for the grant there instead of being told the lease does not exist (the 3-member
// lease-keepalive bench saw "requested lease not found" before this), and a renewal must not
// outrun a revoke a follower already answered.
import { describe, expect, it } from 'vitest';
import { Lessor } from '../../../src/lease/index.js';
import { LeaseOperations, type LeaseHost } from '../../../src/server/lease-operations.js';

class ManualClock {
  ms = 1_000_000;
  nowMs(): number {
    return this.ms;
  }
}

/** A leader whose apply of what followers may have committed completes when `applyVisible()` is called. */
function leaderWithPendingApply(pending: Array<(lessor: Lessor) => void>) {
  const lessor = new Lessor({ minTtlSeconds: 1, clock: new ManualClock() });
  lessor.promote(0);
  let release!: () => void;
  const visibleApplied = new Promise<void>((resolve) => { release = resolve; });
  let waits = 0;
  const host = {
    lessor: () => lessor,
    isLeader: () => true,
    waitAppliedVisible: () => { waits++; return visibleApplied; },
    header: () => ({ clusterId: 1n, memberId: 1n, revision: 1, raftTerm: 1 }),
    checkRequireLeader: () => undefined,
    identify: () => ({}),
  } as unknown as LeaseHost;
  const applyVisible = () => {
    for (const apply of pending) apply(lessor);
    release();
  };
  return { operations: new LeaseOperations(host), lessor, applyVisible, waits: () => waits };
}

const settled = async <T>(promise: Promise<T>): Promise<boolean> => {
  let done = false;
  void promise.then(() => { done = true; }, () => { done = true; });
  for (let i = 0; i < 10; i++) await Promise.resolve();
  return done;
};

describe('lease renewal on the leader waits for what followers may have answered', () => {
  it('a forwarded keep-alive for a grant a follower answered first renews it once applied here', async () => {
    const leader = leaderWithPendingApply([(lessor) => lessor.grant(42n, 100, [])]);
    const renewed = leader.operations.renewForwarded([42n]);
    expect(await settled(renewed)).toBe(false);
    leader.applyVisible();
    expect(await renewed).toEqual([100]);
    expect(leader.waits()).toBe(1);
  });

  it('a keep-alive on the leader itself waits the same way', async () => {
    const leader = leaderWithPendingApply([(lessor) => lessor.grant(7n, 30, [])]);
    const answer = leader.operations.leaseKeepAlive(7n);
    expect(await settled(answer)).toBe(false);
    leader.applyVisible();
    expect((await answer).ttl).toBe(30);
  });

  it('a revoke a follower answered first stops the renewal', async () => {
    const leader = leaderWithPendingApply([(lessor) => lessor.revoke(9n, [])]);
    leader.lessor.grant(9n, 60, []);
    const renewed = leader.operations.renewForwarded([9n, 10n]);
    leader.applyVisible();
    expect(await renewed).toEqual([0, 0]);
  });
});
