// Lessor: apply-side determinism and durability, leader-side expiry, keep-alive and checkpoints.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { isEtcdError } from '../../../src/errors.js';
import { Lessor, leaseTtlSecondsMax, pickLeaseId } from '../../../src/lease/index.js';
import { Backend, type BatchOp } from '../../../src/storage/backend.js';
import { prefix } from '../../../src/storage/keys.js';

class ManualClock {
  constructor(public ms = 1_000_000) {}
  nowMs(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

function makeLessor(clock = new ManualClock(), minTtlSeconds = 2) {
  return { clock, lessor: new Lessor({ minTtlSeconds, clock, checkpointIntervalMs: 60_000 }) };
}

function errorName(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (isEtcdError(error)) return error.errorName;
    throw error;
  }
  return undefined;
}

const k = (s: string) => Buffer.from(s);

describe('Lessor apply methods', () => {
  it('grants with min TTL raise, rejects duplicates, zero id and too large TTLs', () => {
    const { lessor } = makeLessor();
    const batch: BatchOp[] = [];
    expect(lessor.grant(5n, 1, batch)).toEqual({ id: 5n, ttlSeconds: 2 });
    expect(lessor.grant(6n, 30, batch)).toEqual({ id: 6n, ttlSeconds: 30 });
    expect(lessor.grant(7n, leaseTtlSecondsMax, batch).ttlSeconds).toBe(leaseTtlSecondsMax);
    expect(batch).toHaveLength(3);
    expect(batch.every((op) => op.type === 'put' && op.key.subarray(0, 2).equals(prefix.lease))).toBe(true);
    expect(errorName(() => lessor.grant(5n, 10, []))).toBe('LeaseExist');
    expect(errorName(() => lessor.grant(0n, 10, []))).toBe('LeaseNotFound');
    expect(errorName(() => lessor.grant(8n, leaseTtlSecondsMax + 1, []))).toBe('LeaseTTLTooLarge');
    expect(errorName(() => lessor.checkGrant(8n, leaseTtlSecondsMax + 1))).toBe('LeaseTTLTooLarge');
    expect(lessor.checkGrant(8n, 0)).toBe(2);
    expect(lessor.exists(8n)).toBe(false);
    expect(lessor.leases().sort()).toEqual([5n, 6n, 7n]);
  });

  it('enforces the lease count maximum', () => {
    const lessor = new Lessor({ minTtlSeconds: 1, clock: new ManualClock(), leaseCountMax: 2 });
    lessor.grant(1n, 5, []);
    lessor.grant(2n, 5, []);
    expect(errorName(() => lessor.grant(3n, 5, []))).toBe('TooManyRequests');
  });

  it('revoke returns attached keys sorted, deletes the record, and fails for unknown leases', () => {
    const { lessor } = makeLessor();
    lessor.grant(1n, 10, []);
    lessor.attach(1n, k('b'));
    lessor.attach(1n, k('a'));
    lessor.attach(1n, k('c'));
    lessor.detach(1n, k('c'));
    const batch: BatchOp[] = [];
    expect(lessor.revoke(1n, batch).map(String)).toEqual(['a', 'b']);
    expect(batch).toEqual([{ type: 'del', key: Buffer.concat([prefix.lease, Buffer.from([0, 0, 0, 0, 0, 0, 0, 1])]) }]);
    expect(lessor.exists(1n)).toBe(false);
    expect(errorName(() => lessor.revoke(1n, []))).toBe('LeaseNotFound');
    expect(errorName(() => lessor.attach(1n, k('x')))).toBe('LeaseNotFound');
    // mvcc detaches the revoked keys after the lease is gone: must not throw.
    lessor.detach(1n, k('a'));
  });

  it('apply methods never read the clock', () => {
    const clock = { nowMs: () => { throw new Error('clock read in apply'); } };
    const lessor = new Lessor({ minTtlSeconds: 1, clock });
    const batch: BatchOp[] = [];
    lessor.grant(1n, 10, batch);
    lessor.attach(1n, k('a'));
    lessor.checkpoint(1n, 4, batch);
    lessor.detach(1n, k('a'));
    lessor.revoke(1n, batch);
    expect(batch).toHaveLength(3);
  });
});

describe('Lessor persistence', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('load restores TTLs and checkpoints, and a new leader starts from the checkpoint', async () => {
    dir = mkdtempSync(join(tmpdir(), 'lessor-'));
    const backend = await Backend.open(dir);
    try {
      const { lessor } = makeLessor();
      const batch: BatchOp[] = [];
      lessor.grant(10n, 100, batch);
      lessor.grant(-3n, 50, batch);
      lessor.grant(11n, 30, batch);
      lessor.checkpoint(10n, 40, batch);
      lessor.revoke(11n, batch);
      await backend.write(batch, true);

      const clock = new ManualClock(500);
      const loaded = await Lessor.load(backend, { minTtlSeconds: 2, clock });
      expect(loaded.leases().sort((a, b) => (a < b ? -1 : 1))).toEqual([-3n, 10n]);
      expect(loaded.timeToLive(10n)).toEqual({ ttlSeconds: 40, grantedTtlSeconds: 100, keys: [] });
      loaded.promote(1000);
      expect(loaded.timeToLive(10n)?.ttlSeconds).toBe(41);
      expect(loaded.timeToLive(-3n)?.ttlSeconds).toBe(51);
      clock.advance(41_000);
      expect(loaded.expiredLeases(10)).toEqual([10n]);
    } finally {
      await backend.close();
    }
  });
});

describe('Lessor leader methods', () => {
  it('expires only on the leader, after the TTL, and re-reports after the retry interval', () => {
    const { clock, lessor } = makeLessor();
    lessor.grant(1n, 10, []);
    clock.advance(60_000);
    expect(lessor.expiredLeases(10)).toEqual([]);
    lessor.promote(0);
    clock.advance(9_999);
    expect(lessor.expiredLeases(10)).toEqual([]);
    clock.advance(1);
    expect(lessor.expiredLeases(10)).toEqual([1n]);
    expect(lessor.expiredLeases(10)).toEqual([]);
    clock.advance(3_000);
    expect(lessor.expiredLeases(10)).toEqual([1n]);
    lessor.revoke(1n, []);
    clock.advance(3_000);
    expect(lessor.expiredLeases(10)).toEqual([]);
  });

  it('a grant applied while leading expires ttl after the next clock read, and respects maxCount', () => {
    const { clock, lessor } = makeLessor();
    lessor.promote(0);
    for (let id = 1n; id <= 5n; id++) lessor.grant(id, 5, []);
    expect(lessor.expiredLeases(10)).toEqual([]);
    clock.advance(5_000);
    expect(lessor.expiredLeases(3)).toHaveLength(3);
    expect(lessor.expiredLeases(3)).toHaveLength(2);
  });

  it('renew restarts the TTL; unknown, expired or non-leader renew fails', () => {
    const { clock, lessor } = makeLessor();
    lessor.grant(1n, 10, []);
    expect(errorName(() => lessor.renew(1n))).toBe('NotLeader');
    lessor.promote(0);
    clock.advance(8_000);
    expect(lessor.timeToLive(1n)?.ttlSeconds).toBe(2);
    expect(lessor.renew(1n)).toBe(10);
    clock.advance(500);
    expect(lessor.timeToLive(1n)?.ttlSeconds).toBe(9);
    clock.advance(9_000);
    expect(lessor.expiredLeases(10)).toEqual([]);
    clock.advance(500);
    expect(lessor.expiredLeases(10)).toEqual([1n]);
    expect(errorName(() => lessor.renew(1n))).toBe('LeaseNotFound');
    expect(errorName(() => lessor.renew(99n))).toBe('LeaseNotFound');
  });

  it('demote stops expiry; promote extends deadlines', () => {
    const { clock, lessor } = makeLessor();
    lessor.grant(1n, 10, []);
    lessor.promote(0);
    lessor.demote();
    clock.advance(20_000);
    expect(lessor.expiredLeases(10)).toEqual([]);
    lessor.promote(5_000);
    clock.advance(14_999);
    expect(lessor.expiredLeases(10)).toEqual([]);
    clock.advance(1);
    expect(lessor.expiredLeases(10)).toEqual([1n]);
  });

  it('timeToLive reports keys, granted TTL, and undefined for unknown leases', () => {
    const { lessor } = makeLessor();
    lessor.grant(1n, 10, []);
    lessor.attach(1n, k('z'));
    lessor.attach(1n, k('y'));
    expect(lessor.timeToLive(1n)).toEqual({ ttlSeconds: 10, grantedTtlSeconds: 10, keys: [k('y'), k('z')] });
    expect(lessor.timeToLive(2n)).toBeUndefined();
  });

  it('checkpointsDue records long leases periodically and clears a checkpoint after renew', () => {
    const { clock, lessor } = makeLessor();
    lessor.grant(1n, 600, []);
    lessor.grant(2n, 30, []); // shorter than the interval: never checkpointed
    lessor.promote(0);
    expect(lessor.checkpointsDue(10)).toEqual([]);
    clock.advance(60_000);
    expect(lessor.checkpointsDue(10)).toEqual([{ id: 1n, remainingTtlSeconds: 540 }]);
    expect(lessor.checkpointsDue(10)).toEqual([]);
    lessor.checkpoint(1n, 540, []);
    lessor.renew(1n);
    expect(lessor.checkpointsDue(10)).toEqual([{ id: 1n, remainingTtlSeconds: 0 }]);
    expect(lessor.checkpointsDue(10)).toEqual([]);
  });

  it('keeps expiry correct under many renewals (stale heap entries)', () => {
    const { clock, lessor } = makeLessor(new ManualClock(), 1);
    lessor.grant(1n, 2, []);
    lessor.grant(2n, 3, []);
    lessor.promote(0);
    for (let i = 0; i < 10_000; i++) {
      clock.advance(1);
      lessor.renew(1n);
      if (i % 1000 === 0) lessor.renew(2n);
    }
    expect(lessor.expiredLeases(10)).toEqual([]);
    lessor.renew(2n);
    clock.advance(2_000);
    expect(lessor.expiredLeases(10)).toEqual([1n]);
    lessor.revoke(1n, []);
    clock.advance(999);
    expect(lessor.expiredLeases(10)).toEqual([]);
    clock.advance(1);
    expect(lessor.expiredLeases(10)).toEqual([2n]);
  });

  it('property: a lease expires exactly when its last renewal plus TTL has passed', () => {
    fc.assert(fc.property(
      fc.array(fc.record({ advanceMs: fc.integer({ min: 0, max: 4000 }), renew: fc.boolean() }), { maxLength: 40 }),
      (steps) => {
        const { clock, lessor } = makeLessor(new ManualClock(0), 1);
        lessor.grant(1n, 3, []);
        lessor.promote(0);
        let deadlineMs = 3000;
        let reported = false;
        for (const step of steps) {
          clock.advance(step.advanceMs);
          const expired = lessor.expiredLeases(10);
          if (!reported) {
            expect(expired.includes(1n)).toBe(clock.ms >= deadlineMs);
            reported = expired.includes(1n);
          }
          if (step.renew && !reported) {
            lessor.renew(1n);
            deadlineMs = clock.ms + 3000;
          }
        }
      },
    ));
  });
});

describe('pickLeaseId', () => {
  it('returns positive int63 ids not in use', () => {
    fc.assert(fc.property(
      fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 2, maxLength: 20 }),
      (draws) => {
        // Reference: the first candidate built from consecutive 32-bit draws that is neither 0 nor in use.
        let expected: bigint | undefined;
        for (let attempt = 0, j = 0; attempt < 64 && expected === undefined; attempt++, j += 2) {
          const high = BigInt(Math.floor(draws[j % draws.length] * 2 ** 32));
          const low = BigInt(Math.floor(draws[(j + 1) % draws.length] * 2 ** 32));
          const candidate = ((high << 32n) | low) & ((1n << 63n) - 1n);
          if (candidate > 1n) expected = candidate;
        }
        let i = 0;
        const pick = () => pickLeaseId(() => draws[i++ % draws.length], (candidate) => candidate === 1n);
        if (expected === undefined) {
          expect(pick).toThrow(/random source/);
        } else {
          const id = pick();
          expect(id).toBe(expected);
          expect(id > 1n && id < 1n << 63n).toBe(true);
        }
      },
    ), { numRuns: 200, examples: [[[0.5, 0.5]], [[0, 0]]] });
    const used = new Set<bigint>();
    let seed = 7;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    for (let n = 0; n < 1000; n++) {
      const id = pickLeaseId(random, (candidate) => used.has(candidate));
      expect(id > 0n && id < 1n << 63n).toBe(true);
      expect(used.has(id)).toBe(false);
      used.add(id);
    }
  });

  it('skips zero and ids in use, and gives up on a broken random source', () => {
    const values = [0, 0, 0, 0.5];
    let i = 0;
    const id = pickLeaseId(() => values[i++], () => false);
    expect(id).toBe(1n << 31n);
    expect(() => pickLeaseId(() => 0.25, () => true)).toThrow(/random source/);
  });
});
