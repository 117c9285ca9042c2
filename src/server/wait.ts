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

interface Waiter {
  resolve(value: Applied): void;
  reject(error: unknown): void;
  timer: NodeJS.Timeout;
}

export class RequestWaits {
  private readonly waiters = new Map<bigint, Waiter>();

  constructor(private readonly pendingMax: number) {}

  get size(): number {
    return this.waiters.size;
  }

  register(requestId: bigint, timeoutMs: number): Promise<Applied> {
    if (this.waiters.size >= this.pendingMax) return Promise.reject(new EtcdError('TooManyRequests'));
    return new Promise<Applied>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(requestId);
        reject(new EtcdError('Timeout'));
      }, timeoutMs);
      this.waiters.set(requestId, { resolve, reject, timer });
    });
  }

  settle(requestId: bigint, outcome: ApplyOutcome): void {
    const waiter = this.waiters.get(requestId);
    if (!waiter) return; // Proposed by an earlier incarnation or timed out.
    this.waiters.delete(requestId);
    clearTimeout(waiter.timer);
    if (outcome.ok) waiter.resolve({ value: outcome.value, revision: outcome.revision });
    else waiter.reject(outcome.error);
  }

  fail(requestId: bigint, error: unknown): void {
    const waiter = this.waiters.get(requestId);
    if (!waiter) return;
    this.waiters.delete(requestId);
    clearTimeout(waiter.timer);
    waiter.reject(error);
  }

  failAll(error: unknown): void {
    for (const id of [...this.waiters.keys()]) this.fail(id, error);
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
