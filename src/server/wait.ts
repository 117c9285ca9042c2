// Waiters for the results of proposed requests, keyed by request id, each with a deadline. The
// deadline error is etcd's "request timed out": the request may still be applied later (as in etcd,
// the client cannot know), but the caller is released.
import { EtcdError } from '../errors.js';
import type { ApplyOutcome } from './apply.js';

/** What a proposer gets back: apply's result and the revision right after it. */
export interface Applied {
  value: unknown;
  revision: number;
}

/** How a waiter is released: apply's outcome, or the refusal, failure or timeout that came first. */
export type Settled = { ok: true; value: unknown; revision: number } | { ok: false; error: unknown };

/**
 * Called once with the request's end, and the target it was registered with. It runs inside the
 * Raft cycle's apply hook: it must not throw.
 */
export type SettledCallback = (settled: Settled, target: unknown) => void;

interface Waiter {
  settled: SettledCallback;
  /** Handed to `settled`: one function can then serve every request of a kind (see registerCallback). */
  target: unknown;
  /** performance.now() at which the caller is released with "request timed out". */
  deadlineMs: number;
  /** Reported to onReleased when released (etcd's pending and failed proposal metrics). */
  metered: boolean;
}

/** Told when a metered waiter is released: applied (failed false), or refused, failed or timed out. */
export type WaiterReleased = (failed: boolean) => void;

/**
 * Every waiter has the same timeout, so deadlines come in the order of registration, which is the
 * Map's order: one timer, armed for the oldest waiter's deadline, serves them all. A timer per
 * request (1000 in flight at 100 conns/1000 clients) was an object for the GC to promote and a
 * timer-list insert and removal per request.
 */
export class RequestWaits {
  private readonly waiters = new Map<bigint, Waiter>();
  private timer: NodeJS.Timeout | undefined = undefined;

  constructor(
    private readonly pendingMax: number,
    private readonly timeoutMs: number,
    private readonly onReleased?: WaiterReleased,
    /** A callback that threw (a bug): reported here so that the other waiters are still released. */
    private readonly onCallbackError: (error: unknown) => void = (error) => queueMicrotask(() => { throw error; }),
  ) {}

  get size(): number {
    return this.waiters.size;
  }

  /**
   * A promise of the request's apply outcome (its `value` and `revision`); see registerCallback.
   */
  register(requestId: bigint, metered = false): Promise<Applied> {
    return new Promise<Applied>((resolve, reject) => {
      try {
        this.registerCallback(requestId, metered, (settled) => (settled.ok ? resolve(settled) : reject(settled.error)));
      } catch (error) {
        reject(error);
      }
    });
  }

  /**
   * `settled` is called once, when the request is applied, fails or times out; past pendingMax this
   * throws TooManyRequests instead. A write answered through a callback costs no promise, no async
   * frame and no microtask jobs: at 1000 clients those were ~1 KB of garbage per put. `metered`
   * requests are reported to onReleased when released; a refused one counts as failed, as it never
   * reaches a waiter. `target` is passed to `settled`: a put registers its caller's completion there
   * with one shared `settled`, so that a waiting put holds no closure of its own.
   */
  registerCallback(requestId: bigint, metered: boolean, settled: SettledCallback, target?: unknown): void {
    if (this.waiters.size >= this.pendingMax) {
      if (metered) this.onReleased?.(true);
      throw new EtcdError('TooManyRequests');
    }
    this.waiters.set(requestId, { settled, target, deadlineMs: performance.now() + this.timeoutMs, metered });
    if (this.timer === undefined) this.armTimer(this.timeoutMs);
  }

  private armTimer(delayMs: number): void {
    this.timer = setTimeout(() => this.expire(), Math.max(1, Math.ceil(delayMs)));
  }

  /** Releases every waiter past its deadline (the oldest ones), then waits for the next. */
  private expire(): void {
    this.timer = undefined;
    const now = performance.now();
    for (const [requestId, waiter] of this.waiters) {
      if (waiter.deadlineMs > now) {
        this.armTimer(waiter.deadlineMs - now);
        return;
      }
      this.waiters.delete(requestId);
      if (waiter.metered) this.onReleased?.(true);
      this.release(waiter, { ok: false, error: new EtcdError('Timeout') });
    }
  }

  settle(requestId: bigint, outcome: ApplyOutcome): void {
    const waiter = this.waiters.get(requestId);
    if (!waiter) return; // Proposed by an earlier incarnation or timed out.
    this.waiters.delete(requestId);
    if (waiter.metered) this.onReleased?.(!outcome.ok);
    this.release(waiter, outcome);
  }

  fail(requestId: bigint, error: unknown): void {
    const waiter = this.waiters.get(requestId);
    if (!waiter) return;
    this.waiters.delete(requestId);
    if (waiter.metered) this.onReleased?.(true);
    this.release(waiter, { ok: false, error });
  }

  private release(waiter: Waiter, settled: Settled): void {
    try {
      waiter.settled(settled, waiter.target);
    } catch (error) {
      this.onCallbackError(error);
    }
  }

  /** Releases every waiter with `error` (the server stops): no timer is left running. */
  failAll(error: unknown): void {
    for (const id of [...this.waiters.keys()]) this.fail(id, error);
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** Resolves promises once the applied index reaches a target. */
export class AppliedIndexWaits {
  private waiters: Array<{ index: number; resolve(): void }> = [];

  wait(index: number, appliedIndex: number): Promise<void> {
    if (index <= appliedIndex) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ index, resolve }));
  }

  notify(appliedIndex: number): void {
    if (this.waiters.length === 0) return;
    const still: typeof this.waiters = [];
    for (const waiter of this.waiters) {
      if (waiter.index <= appliedIndex) waiter.resolve();
      else still.push(waiter);
    }
    this.waiters = still;
  }
}
