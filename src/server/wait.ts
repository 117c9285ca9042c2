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

/** A slot's state in the ring. */
const EMPTY = 0;
const WAITING = 1;
const WAITING_METERED = 2;

/** An id this far past the ring's last one still goes into the ring (the ones between stay empty). */
const RING_GAP_MAX = 1024;
const RING_CAPACITY_INITIAL = 1024;

/**
 * A member's request ids come from one counter (request-ids.ts) and are registered in the order they
 * are drawn; ids drawn and not registered (a request refused before it waits) leave gaps. So the
 * waiters sit in a ring in id order: the waiter of an id is found by subtracting the ring's first id,
 * with no Map and no object per waiter (a Map keyed by request id was ~300 B of garbage per put in
 * its rehashing, a waiter object another ~90). An id that does not follow the ring's last one (the
 * counter wrapped, or a gap over RING_GAP_MAX) waits in a Map beside it.
 *
 * Every waiter has the same timeout, so deadlines come in the order of registration, which is the
 * ring's order (and the Map's): one timer, armed for the oldest waiter's deadline, serves them all.
 * A timer per request (1000 in flight at 100 conns/1000 clients) was an object for the GC to promote
 * and a timer-list insert and removal per request.
 */
export class RequestWaits {
  // The ring: `length` slots from `head` hold the ids firstId, firstId + 1, ...; slots past them are
  // EMPTY with no references. The first slot is never EMPTY while length > 0.
  private capacity = RING_CAPACITY_INITIAL;
  private states = new Uint8Array(RING_CAPACITY_INITIAL);
  private callbacks: Array<SettledCallback | undefined> = new Array<SettledCallback | undefined>(RING_CAPACITY_INITIAL).fill(undefined);
  private targets: unknown[] = new Array<unknown>(RING_CAPACITY_INITIAL).fill(undefined);
  private deadlines = new Float64Array(RING_CAPACITY_INITIAL);
  private head = 0;
  private length = 0;
  private firstId = 0;
  /** Waiters whose ids did not fit the ring, in registration (so deadline) order. */
  private readonly strays = new Map<number, Waiter>();
  private waiting = 0;
  private timer: NodeJS.Timeout | undefined = undefined;

  constructor(
    private readonly pendingMax: number,
    private readonly timeoutMs: number,
    private readonly onReleased?: WaiterReleased,
    /** A callback that threw (a bug): reported here so that the other waiters are still released. */
    private readonly onCallbackError: (error: unknown) => void = (error) => queueMicrotask(() => { throw error; }),
  ) {}

  get size(): number {
    return this.waiting;
  }

  /**
   * A promise of the request's apply outcome (its `value` and `revision`); see registerCallback.
   */
  register(requestId: number, metered = false): Promise<Applied> {
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
   * with one shared `settled`, so that a waiting put holds no closure of its own. An id must not be
   * registered twice while it waits.
   */
  registerCallback(requestId: number, metered: boolean, settled: SettledCallback, target?: unknown): void {
    if (this.waiting >= this.pendingMax) {
      if (metered) this.onReleased?.(true);
      throw new EtcdError('TooManyRequests');
    }
    const deadlineMs = performance.now() + this.timeoutMs;
    if (!this.placeInRing(requestId, metered, settled, target, deadlineMs)) {
      this.strays.set(requestId, { settled, target, deadlineMs, metered });
    }
    this.waiting++;
    if (this.timer === undefined) this.armTimer(this.timeoutMs);
  }

  private placeInRing(requestId: number, metered: boolean, settled: SettledCallback, target: unknown, deadlineMs: number): boolean {
    if (this.length === 0) {
      this.head = 0;
      this.firstId = requestId;
    }
    const offset = requestId - this.firstId;
    if (!(offset >= this.length && offset - this.length <= RING_GAP_MAX)) return false;
    if (offset >= this.capacity) this.grow(offset + 1);
    const slot = (this.head + offset) & (this.capacity - 1);
    this.states[slot] = metered ? WAITING_METERED : WAITING;
    this.callbacks[slot] = settled;
    this.targets[slot] = target;
    this.deadlines[slot] = deadlineMs;
    this.length = offset + 1;
    return true;
  }

  /** Doubles the ring until it holds `slots`, its waiters moved to the start in order. */
  private grow(slots: number): void {
    let capacity = this.capacity * 2;
    while (capacity < slots) capacity *= 2;
    const states = new Uint8Array(capacity);
    const callbacks = new Array<SettledCallback | undefined>(capacity).fill(undefined);
    const targets = new Array<unknown>(capacity).fill(undefined);
    const deadlines = new Float64Array(capacity);
    for (let i = 0; i < this.length; i++) {
      const slot = (this.head + i) & (this.capacity - 1);
      states[i] = this.states[slot]!;
      callbacks[i] = this.callbacks[slot];
      targets[i] = this.targets[slot];
      deadlines[i] = this.deadlines[slot]!;
    }
    this.capacity = capacity;
    this.states = states;
    this.callbacks = callbacks;
    this.targets = targets;
    this.deadlines = deadlines;
    this.head = 0;
  }

  private armTimer(delayMs: number): void {
    this.timer = setTimeout(() => this.expire(), Math.max(1, Math.ceil(delayMs)));
  }

  /** Releases every waiter past its deadline (the oldest ones), then waits for the next. */
  private expire(): void {
    this.timer = undefined;
    const now = performance.now();
    // A released caller may register again (its slot is cleared first): state is read anew each time.
    while (this.length > 0 && this.deadlines[this.head]! <= now) this.releaseSlot(0, { ok: false, error: new EtcdError('Timeout') });
    for (const [requestId, waiter] of this.strays) {
      if (waiter.deadlineMs > now) break;
      this.strays.delete(requestId);
      this.releaseWaiter(waiter, true, { ok: false, error: new EtcdError('Timeout') });
    }
    let next = Infinity;
    if (this.length > 0) next = this.deadlines[this.head]!;
    for (const waiter of this.strays.values()) {
      next = Math.min(next, waiter.deadlineMs);
      break;
    }
    // A caller released above may have registered again and armed the timer for its own, later
    // deadline: the oldest waiter's comes first.
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (next !== Infinity) this.armTimer(next - now);
  }

  settle(requestId: number, outcome: ApplyOutcome): void {
    this.release(requestId, !outcome.ok, outcome);
  }

  fail(requestId: number, error: unknown): void {
    this.release(requestId, true, { ok: false, error });
  }

  /** Releases the waiter of `requestId`, if it still waits (else it timed out or is an earlier incarnation's). */
  private release(requestId: number, failed: boolean, settled: Settled): void {
    const offset = requestId - this.firstId;
    if (offset >= 0 && offset < this.length) {
      if (this.states[(this.head + offset) & (this.capacity - 1)] !== EMPTY) this.releaseSlot(offset, settled, failed);
      return;
    }
    if (this.strays.size === 0) return;
    const waiter = this.strays.get(requestId);
    if (waiter === undefined) return;
    this.strays.delete(requestId);
    this.releaseWaiter(waiter, failed, settled);
  }

  /** Empties the ring's slot at `offset` (and the empty ones it leaves at the front), then calls its waiter. */
  private releaseSlot(offset: number, settled: Settled, failed = true): void {
    const mask = this.capacity - 1;
    const slot = (this.head + offset) & mask;
    const metered = this.states[slot] === WAITING_METERED;
    const callback = this.callbacks[slot]!;
    const target = this.targets[slot];
    this.states[slot] = EMPTY;
    this.callbacks[slot] = undefined;
    this.targets[slot] = undefined;
    this.waiting--;
    if (offset === 0) {
      do {
        this.head = (this.head + 1) & mask;
        this.firstId++;
        this.length--;
      } while (this.length > 0 && this.states[this.head] === EMPTY);
    }
    if (metered) this.onReleased?.(failed);
    this.call(callback, target, settled);
  }

  private releaseWaiter(waiter: Waiter, failed: boolean, settled: Settled): void {
    this.waiting--;
    if (waiter.metered) this.onReleased?.(failed);
    this.call(waiter.settled, waiter.target, settled);
  }

  private call(callback: SettledCallback, target: unknown, settled: Settled): void {
    try {
      callback(settled, target);
    } catch (error) {
      this.onCallbackError(error);
    }
  }

  /** Releases every waiter with `error` (the server stops): no timer is left running. */
  failAll(error: unknown): void {
    while (this.length > 0) this.releaseSlot(0, { ok: false, error });
    for (const requestId of [...this.strays.keys()]) this.fail(requestId, error);
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
