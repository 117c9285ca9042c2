// Counts election timeouts the member spends without a leader, as etcd's monitorLeader does, and
// says when streams that asked for a leader (`hasleader=true`) must end. etcd is slower to end a
// running stream than to refuse a new one (that is done at open, at once): reconnecting a stream
// costs a client more, so it waits for several leaderless checks in a row.
import type { WatchTimer } from './types.js';

/** Consecutive leaderless checks (one per election timeout) before require-leader streams end; etcd's maxNoLeaderCnt. */
export const leaderlessChecksMax = 3;

export interface LeaderProbe {
  /** True while the member knows a leader (itself included). */
  hasLeader(): boolean;
  /** The interval between checks: etcd checks once per election timeout. */
  electionTimeoutMs: number;
}

export class LeaderWatchdog {
  private leaderlessChecks = 0;
  private readonly handle: unknown;

  constructor(
    private readonly probe: LeaderProbe,
    private readonly timer: WatchTimer,
    /** Called at every check from the leaderlessChecksMax-th leaderless one on, until a leader is back. */
    private readonly onLeaderLost: () => void,
  ) {
    if (!(probe.electionTimeoutMs > 0)) throw new Error(`LeaderWatchdog: electionTimeoutMs must be > 0, got ${probe.electionTimeoutMs}`);
    this.handle = timer.setInterval(() => this.check(), probe.electionTimeoutMs);
  }

  /** One check; the timer calls it once per election timeout. */
  check(): void {
    if (this.probe.hasLeader()) {
      this.leaderlessChecks = 0;
      return;
    }
    // Saturate: the count only matters up to the threshold, and a member may stay leaderless for days.
    if (this.leaderlessChecks < leaderlessChecksMax) this.leaderlessChecks++;
    if (this.leaderlessChecks >= leaderlessChecksMax) this.onLeaderLost();
  }

  stop(): void {
    this.timer.clearInterval(this.handle);
  }
}
