import { afterEach, describe, expect, it, vi } from 'vitest';
import { READ_INDEX_RETRY_INTERVAL_MS, ReadIndexRounds } from '../../../src/server/read-index.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('ReadIndexRounds', () => {
  it('puts the member id in every context, so rounds of different members never collide at the leader', async () => {
    const seen: Buffer[] = [];
    const a = new ReadIndexRounds((context) => seen.push(Buffer.from(context)), 5000, 0xaan);
    const b = new ReadIndexRounds((context) => seen.push(Buffer.from(context)), 5000, 0xbbn);
    const readA = a.readIndex();
    const readB = b.readIndex();
    await Promise.resolve();
    expect(seen).toHaveLength(2);
    expect(seen[0].equals(seen[1])).toBe(false);
    a.onReadStates([{ index: 7, requestContext: seen[0] }]);
    b.onReadStates([{ index: 9, requestContext: seen[1] }]);
    expect(await readA).toBe(7);
    expect(await readB).toBe(9);
  });

  it('lets concurrent reads share one round', async () => {
    const seen: Buffer[] = [];
    const rounds = new ReadIndexRounds((context) => seen.push(Buffer.from(context)), 5000, 1n);
    const reads = [rounds.readIndex(), rounds.readIndex(), rounds.readIndex()];
    await Promise.resolve();
    expect(seen).toHaveLength(1);
    rounds.onReadStates([{ index: 3, requestContext: seen[0] }]);
    expect(await Promise.all(reads)).toEqual([3, 3, 3]);
  });

  it('asks again while a request was dropped (no leader yet), and times out with etcd\'s error', async () => {
    vi.useFakeTimers();
    const seen: Buffer[] = [];
    const rounds = new ReadIndexRounds((context) => seen.push(Buffer.from(context)), 1800, 1n);
    const read = rounds.readIndex();
    const outcome = read.then(() => 'resolved', (error: Error) => error.message);
    await vi.advanceTimersByTimeAsync(1);
    expect(seen).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(READ_INDEX_RETRY_INTERVAL_MS * 2);
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(seen.every((context) => context.equals(seen[0]))).toBe(true);
    await vi.advanceTimersByTimeAsync(2000);
    expect(await outcome).toBe('etcdserver: request timed out');
    const calls = seen.length;
    await vi.advanceTimersByTimeAsync(READ_INDEX_RETRY_INTERVAL_MS * 2);
    expect(seen).toHaveLength(calls);
  });
});
