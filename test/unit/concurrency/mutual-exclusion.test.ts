// Mutual exclusion under contention, in process: workers × acquisitions on one lock, some waiters
// cancelled on the way. Holding intervals (our own clock) never overlap, and the holders' keys'
// create revisions grow in the order the lock was held (the queue is served in create order).
import { describe, expect, it } from 'vitest';
import { ServerLocks } from '../../../src/concurrency/mutex.js';
import { isConcurrencyError } from '../../../src/concurrency/errors.js';
import { emptyRangeRequest } from '../../../src/mvcc/types.js';
import { grantLease, keysUnder, startServer } from './fixture.js';

const workerCount = 5;
const acquisitionsPerWorker = 10;

interface Holding { worker: number; createRevision: number; acquiredMs: number; releasedMs: number }

describe('ServerLocks mutual exclusion', () => {
  it(`never lets two of ${workerCount} workers × ${acquisitionsPerWorker} acquisitions hold the lock at once`, async () => {
    const server = await startServer();
    const locks = new ServerLocks(server);
    const name = Buffer.from('contended');
    const holdings: Holding[] = [];
    let holders = 0;
    let maxHolders = 0;
    let cancelled = 0;
    // A fixed pattern rather than Math.random: a failure replays exactly.
    const holdMs = (worker: number, round: number): number => (worker * 7 + round * 3) % 5;

    const worker = async (id: number): Promise<void> => {
      const lease = await grantLease(server);
      for (let round = 0; round < acquisitionsPerWorker; round++) {
        if ((id + round) % 7 === 3) {
          // A waiter that gives up: it must leave the queue without ever holding.
          const abort = new AbortController();
          setTimeout(() => abort.abort(), 2);
          try {
            const held = await locks.lock(name, lease, abort.signal);
            await locks.unlock(held.key); // it got the lock before the abort: give it back
          } catch (error) {
            expect(isConcurrencyError(error, 'Canceled')).toBe(true);
            cancelled++;
          }
          continue;
        }
        const held = await locks.lock(name, lease, new AbortController().signal);
        const acquiredMs = performance.now();
        holders++;
        maxHolders = Math.max(maxHolders, holders);
        const { result } = await server.range(emptyRangeRequest(held.key));
        await new Promise((resolve) => setTimeout(resolve, holdMs(id, round)));
        holders--;
        const releasedMs = performance.now();
        holdings.push({ worker: id, createRevision: result.kvs[0]!.createRevision, acquiredMs, releasedMs });
        await locks.unlock(held.key);
      }
    };
    await Promise.all(Array.from({ length: workerCount }, (_, id) => worker(id)));

    expect(maxHolders).toBe(1);
    expect(holdings.length + cancelled).toBe(workerCount * acquisitionsPerWorker);
    expect(holdings.length).toBeGreaterThanOrEqual(workerCount * acquisitionsPerWorker - 8);
    const byTime = [...holdings].sort((x, y) => x.acquiredMs - y.acquiredMs);
    for (let i = 1; i < byTime.length; i++) {
      expect(byTime[i]!.acquiredMs).toBeGreaterThanOrEqual(byTime[i - 1]!.releasedMs);
      expect(byTime[i]!.createRevision).toBeGreaterThan(byTime[i - 1]!.createRevision);
    }
    expect(await keysUnder(server, 'contended/')).toEqual([]);
  }, 30_000);
});
