// RequestWaits releases each waiter with "request timed out" once its own deadline passes, from one
// timer for all of them, and never a waiter that was settled or failed first.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EtcdError } from '../../../src/errors.js';
import { RequestWaits } from '../../../src/server/wait.js';

describe('RequestWaits', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('times each waiter out at its own deadline and settles the others', async () => {
    const waits = new RequestWaits(100, 1000);
    const outcomes = new Map<number, string>();
    const track = (id: number, promise: Promise<unknown>): void => {
      promise.then(() => outcomes.set(id, 'applied'), (error: unknown) => outcomes.set(id, error instanceof EtcdError ? error.errorName : String(error)));
    };
    track(1, waits.register(1n));
    await vi.advanceTimersByTimeAsync(400);
    track(2, waits.register(2n));
    track(3, waits.register(3n));
    await vi.advanceTimersByTimeAsync(300);
    track(4, waits.register(4n));
    waits.settle(2n, { ok: true, value: 'x', revision: 5 });
    await vi.advanceTimersByTimeAsync(299); // t = 999: nobody due yet
    expect([...outcomes]).toEqual([[2, 'applied']]);
    await vi.advanceTimersByTimeAsync(1); // t = 1000: 1 is due
    expect(outcomes.get(1)).toBe('Timeout');
    expect(outcomes.has(3)).toBe(false);
    await vi.advanceTimersByTimeAsync(400); // t = 1400: 3 is due, 4 (registered at 700) is not
    expect(outcomes.get(3)).toBe('Timeout');
    expect(outcomes.has(4)).toBe(false);
    waits.fail(4n, new Error('stopped'));
    await vi.advanceTimersByTimeAsync(0);
    expect(outcomes.get(4)).toBe('Error: stopped');
    expect(waits.size).toBe(0);
    expect(vi.getTimerCount()).toBeLessThanOrEqual(1);
    await vi.advanceTimersByTimeAsync(2000);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('keeps one timer however many wait, and none after failAll', async () => {
    const waits = new RequestWaits(2000, 1000);
    const all = Array.from({ length: 1000 }, (_, i) => waits.register(BigInt(i)).catch((error: unknown) => error));
    expect(vi.getTimerCount()).toBe(1);
    waits.failAll(new EtcdError('Stopped'));
    expect(vi.getTimerCount()).toBe(0);
    const errors = await Promise.all(all);
    expect(errors.every((error) => error instanceof EtcdError && error.errorName === 'Stopped')).toBe(true);
  });

  it('reports each metered waiter once when released, failed unless applied; unmetered ones never', async () => {
    const released: boolean[] = [];
    const waits = new RequestWaits(3, 1000, (failed) => released.push(failed));
    const settle = (promise: Promise<unknown>): void => { promise.catch(() => undefined); };
    settle(waits.register(1n, true));
    settle(waits.register(2n, true));
    settle(waits.register(3n)); // a conf change: not a proposal in etcd's metrics
    settle(waits.register(4n, true)); // refused: pendingMax is 3
    expect(released).toEqual([true]);
    waits.settle(1n, { ok: true, value: 'x', revision: 5 });
    waits.settle(1n, { ok: true, value: 'x', revision: 5 }); // already released: nothing more
    waits.settle(3n, { ok: false, error: new EtcdError('Timeout') });
    expect(released).toEqual([true, false]);
    settle(waits.register(5n, true));
    waits.settle(5n, { ok: false, error: new EtcdError('KeyNotFound') });
    expect(released).toEqual([true, false, true]);
    await vi.advanceTimersByTimeAsync(1000); // 2 times out
    expect(released).toEqual([true, false, true, true]);
    settle(waits.register(6n, true));
    waits.failAll(new EtcdError('Stopped'));
    expect(released).toEqual([true, false, true, true, true]);
    expect(waits.size).toBe(0);
  });

  it('calls each callback once, and a throwing one stops neither the others nor the caller', () => {
    const reported: unknown[] = [];
    const waits = new RequestWaits(10, 1000, undefined, (error) => reported.push(error));
    const seen: string[] = [];
    waits.registerCallback(1n, false, () => { seen.push('1'); throw new Error('bug in 1'); });
    waits.registerCallback(2n, false, (settled) => seen.push(`2:${settled.ok ? String(settled.value) : 'failed'}`));
    waits.registerCallback(3n, false, (settled) => seen.push(`3:${settled.ok ? 'ok' : (settled.error as EtcdError).errorName}`));
    expect(() => waits.settle(1n, { ok: true, value: 'a', revision: 2 })).not.toThrow();
    waits.settle(2n, { ok: true, value: 'b', revision: 3 });
    waits.settle(2n, { ok: true, value: 'again', revision: 4 });
    waits.failAll(new EtcdError('Stopped'));
    expect(seen).toEqual(['1', '2:b', '3:Stopped']);
    expect(reported).toHaveLength(1);
    expect((reported[0] as Error).message).toBe('bug in 1');
  });

  it('hands each waiter its own target: one shared callback serves many requests', () => {
    // EtcdServer.putWith registers every put with the same callback and the caller's completion as
    // the target, so that a waiting put holds no closure of its own.
    const waits = new RequestWaits(10, 1000);
    const seen: string[] = [];
    const shared = (settled: { ok: boolean }, target: unknown) => seen.push(`${String(target)}:${settled.ok ? 'ok' : 'failed'}`);
    waits.registerCallback(1n, false, shared, 'first');
    waits.registerCallback(2n, false, shared, 'second');
    waits.registerCallback(3n, false, shared);
    waits.settle(2n, { ok: true, value: 'b', revision: 3 });
    waits.fail(1n, new EtcdError('Stopped'));
    waits.failAll(new EtcdError('Stopped'));
    expect(seen).toEqual(['second:ok', 'first:failed', 'undefined:failed']);
  });

  it('refuses a callback past pendingMax by throwing, and counts it as failed', () => {
    const released: boolean[] = [];
    const waits = new RequestWaits(1, 1000, (failed) => released.push(failed));
    waits.registerCallback(1n, true, () => undefined);
    expect(() => waits.registerCallback(2n, true, () => undefined)).toThrow(expect.objectContaining({ errorName: 'TooManyRequests' }));
    expect(released).toEqual([true]);
    waits.failAll(new EtcdError('Stopped'));
  });

  it('refuses past pendingMax with TooManyRequests', async () => {
    const waits = new RequestWaits(1, 1000);
    void waits.register(1n).catch(() => undefined);
    await expect(waits.register(2n)).rejects.toMatchObject({ errorName: 'TooManyRequests' });
    waits.failAll(new EtcdError('Stopped'));
  });
});
