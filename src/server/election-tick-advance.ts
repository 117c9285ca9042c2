// etcd's --initial-election-tick-advance (default true): a member of a multi-member cluster that
// starts (fresh or restarted) fast-forwards its election clock once it hears from its peers, so
// the cluster elects a leader within a few ticks instead of a full election timeout or two. It
// waits for more than one active peer (as etcd does), so that a leader's heartbeat can still
// reach it first, and leaves two ticks before its own campaign for the same reason. A
// single-voter cluster campaigns at once instead (see EtcdServer.start).

/** How long to wait for peers: etcd's rafthttp ConnReadTimeout. */
const TICK_ADVANCE_WAIT_MS = 5_000;
/** How often to count active peers while waiting. */
const TICK_ADVANCE_POLL_MS = 50;

export interface TickAdvanceOptions {
  /** Ticks in an election timeout (--election-timeout / --heartbeat-interval). */
  electionTicks: number;
  /** Remote peers with a live stream now. */
  activePeers: () => number;
  /** Runs the raft clock forward by this many ticks. */
  advance: (ticks: number) => void;
  isStopped: () => boolean;
  sleep: (ms: number) => Promise<void>;
  log: (fields: Record<string, unknown>, message: string) => void;
  waitMs?: number;
  pollMs?: number;
}

/** Resolves with the ticks advanced (0 if peers never came, the server stopped, or too few ticks to spare). */
export async function advanceInitialElectionTicks(options: TickAdvanceOptions): Promise<number> {
  const waitMs = options.waitMs ?? TICK_ADVANCE_WAIT_MS;
  const pollMs = options.pollMs ?? TICK_ADVANCE_POLL_MS;
  for (let waited = 0; waited < waitMs; waited += pollMs) {
    await options.sleep(pollMs);
    if (options.isStopped()) return 0;
    const peers = options.activePeers();
    if (peers > 1) {
      const ticks = options.electionTicks - 2;
      if (ticks <= 0) return 0;
      options.advance(ticks);
      options.log({ 'advanced-ticks': ticks, 'election-ticks': options.electionTicks, 'active-remote-members': peers },
        'fast-forwarded election ticks on start-up');
      return ticks;
    }
  }
  return 0;
}
