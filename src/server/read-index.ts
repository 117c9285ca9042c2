// Linearizable reads (etcd's linearizableReadLoop): every read that arrives while no read-index
// round is open joins the next round; one round costs one ReadIndex request to Raft, however many
// reads share it. A read proceeds once the member has applied up to the round's index.
import { EtcdError } from '../errors.js';
import type { ReadState } from '../raft/types.js';

interface Round {
  context: Buffer;
  waiters: Array<{ resolve(index: number): void; reject(error: unknown): void }>;
  timer?: NodeJS.Timeout;
  retryTimer?: NodeJS.Timeout;
}

/**
 * Raft drops a read-index request silently when there is no leader (or the leader is busy with the
 * same context); like etcd's linearizableReadLoop we ask again at this interval until the round
 * resolves or times out.
 */
export const READ_INDEX_RETRY_INTERVAL_MS = 500;

export class ReadIndexRounds {
  private nextRoundId = 1n;
  private open?: Round;
  private readonly inFlight = new Map<string, Round>();

  /**
   * `memberId` goes into every round's context: the leader keys pending reads by context, so the
   * contexts of different members must never collide (a collision is dropped as a duplicate).
   */
  constructor(
    private readonly requestReadIndex: (context: Uint8Array) => void,
    private readonly timeoutMs: number,
    private readonly memberId: bigint,
  ) {}

  /** Resolves with the read index to wait for. */
  readIndex(): Promise<number> {
    return new Promise((resolve, reject) => {
      if (!this.open) {
        const context = Buffer.alloc(16);
        context.writeBigUInt64BE(this.memberId, 0);
        context.writeBigUInt64BE(this.nextRoundId++, 8);
        this.open = { context, waiters: [] };
        // Sending the round on the next turn of the event loop lets concurrent reads join it.
        queueMicrotask(() => this.send());
      }
      this.open.waiters.push({ resolve, reject });
    });
  }

  private send(): void {
    const round = this.open;
    if (!round) return;
    this.open = undefined;
    const key = round.context.toString('hex');
    this.inFlight.set(key, round);
    round.timer = setTimeout(() => {
      clearInterval(round.retryTimer);
      this.inFlight.delete(key);
      for (const waiter of round.waiters) waiter.reject(new EtcdError('Timeout'));
    }, this.timeoutMs);
    round.retryTimer = setInterval(() => {
      if (!this.inFlight.has(key)) return;
      try {
        this.requestReadIndex(round.context);
      } catch {
        // No leader yet: the next retry (or the timeout) decides.
      }
    }, READ_INDEX_RETRY_INTERVAL_MS);
    try {
      this.requestReadIndex(round.context);
    } catch (error) {
      clearTimeout(round.timer);
      clearInterval(round.retryTimer);
      this.inFlight.delete(key);
      for (const waiter of round.waiters) waiter.reject(error);
    }
  }

  onReadStates(readStates: ReadState[]): void {
    for (const state of readStates) {
      const key = Buffer.from(state.requestContext).toString('hex');
      const round = this.inFlight.get(key);
      if (!round) continue;
      this.inFlight.delete(key);
      clearTimeout(round.timer);
      clearInterval(round.retryTimer);
      for (const waiter of round.waiters) waiter.resolve(state.index);
    }
  }

  failAll(error: unknown): void {
    for (const round of this.inFlight.values()) {
      clearTimeout(round.timer);
      clearInterval(round.retryTimer);
      for (const waiter of round.waiters) waiter.reject(error);
    }
    this.inFlight.clear();
  }
}
