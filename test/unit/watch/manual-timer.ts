// Test double for WatchTimer: intervals fire only when the test says so, each with the interval it asked for.
import type { WatchTimer } from '../../../src/watch/types.js';

export class ManualTimer implements WatchTimer {
  readonly callbacks = new Map<number, { callback: () => void; intervalMs: number }>();
  private next = 1;
  /** The clock: moves only when the test moves it (fireEvery moves it by the interval first). */
  nowMs = 0;

  now(): number {
    return this.nowMs;
  }

  setInterval(callback: () => void, intervalMs: number): unknown {
    this.callbacks.set(this.next, { callback, intervalMs });
    return this.next++;
  }

  clearInterval(handle: unknown): void {
    this.callbacks.delete(handle as number);
  }

  /** Fires every interval once. */
  fire(): void {
    for (const { callback } of [...this.callbacks.values()]) callback();
  }

  /** Fires once the intervals registered with `intervalMs`. */
  fireEvery(intervalMs: number): void {
    this.nowMs += intervalMs;
    for (const entry of [...this.callbacks.values()]) if (entry.intervalMs === intervalMs) entry.callback();
  }
}
