import { describe, expect, it } from 'vitest';
import { KEEP_ALIVES_PER_BATCH_MAX, KeepAliveForwarder } from '../../../src/server/keep-alive-forwarder.js';

describe('KeepAliveForwarder', () => {
  it('sends the keep-alives of one turn of the event loop as one batch and answers each with its own TTL', async () => {
    const batches: bigint[][] = [];
    const forwarder = new KeepAliveForwarder(async (ids) => {
      batches.push(ids);
      return ids.map((id) => Number(id) * 10);
    }, () => new Error('overloaded'));
    const ttls = await Promise.all([1n, 2n, 3n].map((id) => forwarder.renew(id)));
    expect(ttls).toEqual([10, 20, 30]);
    expect(batches).toEqual([[1n, 2n, 3n]]);
  });

  it('splits at the batch maximum and keeps a bounded number of batches in flight', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const sizes: number[] = [];
    const forwarder = new KeepAliveForwarder(async (ids) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      sizes.push(ids.length);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
      return ids.map(() => 5);
    }, () => new Error('overloaded'));
    const count = KEEP_ALIVES_PER_BATCH_MAX * 6 + 1;
    const ttls = await Promise.all(Array.from({ length: count }, (_, i) => forwarder.renew(BigInt(i + 1))));
    expect(ttls.every((ttl) => ttl === 5)).toBe(true);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(count);
    expect(Math.max(...sizes)).toBe(KEEP_ALIVES_PER_BATCH_MAX);
    expect(maxInFlight).toBeLessThanOrEqual(4);
  });

  it('rejects every keep-alive of a batch the leader could not renew', async () => {
    const forwarder = new KeepAliveForwarder(async () => { throw new Error('leader changed'); }, () => new Error('overloaded'));
    const results = await Promise.allSettled([forwarder.renew(1n), forwarder.renew(2n)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});
