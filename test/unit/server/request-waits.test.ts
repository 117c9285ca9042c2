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
    track(1, waits.register(1));
    await vi.advanceTimersByTimeAsync(400);
    track(2, waits.register(2));
    track(3, waits.register(3));
    await vi.advanceTimersByTimeAsync(300);
    track(4, waits.register(4));
    waits.settle(2, { ok: true, value: 'x', revision: 5 });
    await vi.advanceTimersByTimeAsync(299); // t = 999: nobody due yet
    expect([...outcomes]).toEqual([[2, 'applied']]);
    await vi.advanceTimersByTimeAsync(1); // t = 1000: 1 is due
    expect(outcomes.get(1)).toBe('Timeout');
    expect(outcomes.has(3)).toBe(false);
    await vi.advanceTimersByTimeAsync(400); // t = 1400: 3 is due, 4 (registered at 700) is not
    expect(outcomes.get(3)).toBe('Timeout');
    expect(outcomes.has(4)).toBe(false);
    waits.fail(4, new Error('stopped'));
    await vi.advanceTimersByTimeAsync(0);
    expect(outcomes.get(4)).toBe('Error: stopped');
    expect(waits.size).toBe(0);
    expect(vi.getTimerCount()).toBeLessThanOrEqual(1);
    await vi.advanceTimersByTimeAsync(2000);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('keeps one timer however many wait, and none after failAll', async () => {
    const waits = new RequestWaits(2000, 1000);
    const all = Array.from({ length: 1000 }, (_, i) => waits.register(i).catch((error: unknown) => error));
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
    settle(waits.register(1, true));
    settle(waits.register(2, true));
    settle(waits.register(3)); // a conf change: not a proposal in etcd's metrics
    settle(waits.register(4, true)); // refused: pendingMax is 3
    expect(released).toEqual([true]);
    waits.settle(1, { ok: true, value: 'x', revision: 5 });
    waits.settle(1, { ok: true, value: 'x', revision: 5 }); // already released: nothing more
    waits.settle(3, { ok: false, error: new EtcdError('Timeout') });
    expect(released).toEqual([true, false]);
    settle(waits.register(5, true));
    waits.settle(5, { ok: false, error: new EtcdError('KeyNotFound') });
    expect(released).toEqual([true, false, true]);
    await vi.advanceTimersByTimeAsync(1000); // 2 times out
    expect(released).toEqual([true, false, true, true]);
    settle(waits.register(6, true));
    waits.failAll(new EtcdError('Stopped'));
    expect(released).toEqual([true, false, true, true, true]);
    expect(waits.size).toBe(0);
  });

  it('calls each callback once, and a throwing one stops neither the others nor the caller', () => {
    const reported: unknown[] = [];
    const waits = new RequestWaits(10, 1000, undefined, (error) => reported.push(error));
    const seen: string[] = [];
    waits.registerCallback(1, false, () => { seen.push('1'); throw new Error('bug in 1'); });
    waits.registerCallback(2, false, (settled) => seen.push(`2:${settled.ok ? String(settled.value) : 'failed'}`));
    waits.registerCallback(3, false, (settled) => seen.push(`3:${settled.ok ? 'ok' : (settled.error as EtcdError).errorName}`));
    expect(() => waits.settle(1, { ok: true, value: 'a', revision: 2 })).not.toThrow();
    waits.settle(2, { ok: true, value: 'b', revision: 3 });
    waits.settle(2, { ok: true, value: 'again', revision: 4 });
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
    waits.registerCallback(1, false, shared, 'first');
    waits.registerCallback(2, false, shared, 'second');
    waits.registerCallback(3, false, shared);
    waits.settle(2, { ok: true, value: 'b', revision: 3 });
    waits.fail(1, new EtcdError('Stopped'));
    waits.failAll(new EtcdError('Stopped'));
    expect(seen).toEqual(['second:ok', 'first:failed', 'undefined:failed']);
  });

  it('refuses a callback past pendingMax by throwing, and counts it as failed', () => {
    const released: boolean[] = [];
    const waits = new RequestWaits(1, 1000, (failed) => released.push(failed));
    waits.registerCallback(1, true, () => undefined);
    expect(() => waits.registerCallback(2, true, () => undefined)).toThrow(expect.objectContaining({ errorName: 'TooManyRequests' }));
    expect(released).toEqual([true]);
    waits.failAll(new EtcdError('Stopped'));
  });

  it('refuses past pendingMax with TooManyRequests', async () => {
    const waits = new RequestWaits(1, 1000);
    void waits.register(1).catch(() => undefined);
    await expect(waits.register(2)).rejects.toMatchObject({ errorName: 'TooManyRequests' });
    waits.failAll(new EtcdError('Stopped'));
  });

  it('finds each waiter by id across gaps, out-of-order releases and growth of the ring', () => {
    // Ids come from one counter in order; some are drawn and never registered (a refused request).
    const waits = new RequestWaits(10_000, 1000);
    const seen = new Map<number, unknown>();
    const record = (settled: { ok: boolean; value?: unknown }, target: unknown) => seen.set(target as number, settled.ok ? settled.value : 'failed');
    const ids: number[] = [];
    for (let id = 5_000_000; ids.length < 5000; id += id % 7 === 0 ? 3 : 1) {
      waits.registerCallback(id, false, record, id);
      ids.push(id);
    }
    expect(waits.size).toBe(5000);
    // A fixed shuffle: every waiter released once, the front rarely first.
    const order = ids.map((id, i) => ({ id, key: (i * 7919) % 5003 })).sort((a, b) => a.key - b.key).map((e) => e.id);
    for (const id of order) {
      waits.settle(id, { ok: true, value: id * 2, revision: 1 });
      waits.settle(id, { ok: true, value: 'again', revision: 1 });
      waits.settle(id + 1_000_000, { ok: true, value: 'unknown id', revision: 1 });
    }
    expect(seen.size).toBe(5000);
    expect(ids.every((id) => seen.get(id) === id * 2)).toBe(true);
    expect(waits.size).toBe(0);
    // Empty again: the next id starts the ring anew, wherever it is.
    waits.registerCallback(17, false, record, 17);
    waits.settle(17, { ok: true, value: 'seventeen', revision: 1 });
    expect(seen.get(17)).toBe('seventeen');
  });

  it('keeps ids that do not follow (a wrapped counter, a wide gap) beside the ring, in deadline order', async () => {
    const waits = new RequestWaits(100, 1000);
    const outcomes = new Map<number, string>();
    const track = (id: number, promise: Promise<unknown>): void => {
      promise.then((applied) => outcomes.set(id, String((applied as { value: unknown }).value)), (error: unknown) => outcomes.set(id, (error as EtcdError).errorName));
    };
    const top = 2 ** 48 - 2;
    track(top, waits.register(top));
    await vi.advanceTimersByTimeAsync(100);
    track(1, waits.register(1)); // the counter wrapped: below the ring's first id
    await vi.advanceTimersByTimeAsync(100);
    track(top + 1, waits.register(top + 1));
    track(50_000, waits.register(50_000)); // far past the ring's last id
    await vi.advanceTimersByTimeAsync(100);
    track(2, waits.register(2));
    waits.settle(50_000, { ok: true, value: 'far', revision: 1 });
    await vi.advanceTimersByTimeAsync(0);
    expect([...outcomes]).toEqual([[50_000, 'far']]);
    await vi.advanceTimersByTimeAsync(700); // t = 1000
    expect(outcomes.get(top)).toBe('Timeout');
    expect(outcomes.has(1)).toBe(false);
    await vi.advanceTimersByTimeAsync(100); // t = 1100
    expect(outcomes.get(1)).toBe('Timeout');
    await vi.advanceTimersByTimeAsync(100); // t = 1200
    expect(outcomes.get(top + 1)).toBe('Timeout');
    waits.settle(2, { ok: true, value: 'two', revision: 1 });
    await vi.advanceTimersByTimeAsync(0);
    expect(outcomes.get(2)).toBe('two');
    expect(waits.size).toBe(0);
  });

  it('times out the oldest waiter on time when a released caller registers again', async () => {
    const waits = new RequestWaits(100, 1000);
    const seen: string[] = [];
    let next = 10;
    // A caller that retries at once when its request times out, as a client would.
    const retrying = (settled: { ok: boolean }, target: unknown) => {
      seen.push(`${String(target)}:${settled.ok ? 'ok' : 'timeout'}`);
      if (!settled.ok && next < 12) waits.registerCallback(next, false, retrying, next++);
    };
    waits.registerCallback(1, false, retrying, 1);
    await vi.advanceTimersByTimeAsync(500);
    waits.registerCallback(2, false, retrying, 2);
    await vi.advanceTimersByTimeAsync(500); // t = 1000: 1 times out and 10 registers
    expect(seen).toEqual(['1:timeout']);
    await vi.advanceTimersByTimeAsync(500); // t = 1500: 2 is due, though 10 armed the timer for t = 2000
    expect(seen).toEqual(['1:timeout', '2:timeout']);
    waits.settle(10, { ok: true, value: 'x', revision: 1 });
    waits.settle(11, { ok: true, value: 'x', revision: 1 });
    expect(seen).toEqual(['1:timeout', '2:timeout', '10:ok', '11:ok']);
    expect(waits.size).toBe(0);
  });
});
