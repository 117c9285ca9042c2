// The driver of the pure Raft core: it owns the Ready cycle. One cycle:
//   1. take a Ready;
//   2. append its new entries and hard state to the batch, apply its committed entries in memory
//      (apply adds its own ops and the applied index to the same batch);
//   3. write the batch to LevelDB in one write, synced when the Ready says so (group commit: every
//      proposal that arrived while the previous cycle was writing is in this one Ready);
//   4. send its messages (only now: a vote or an append ack must not leave before it is durable;
//      a leader's appends and heartbeats, messagesBeforePersist, went out before the write);
//   5. advance, and hand the apply results to the waiting requests (earlier, during the write, when
//      the Ready only commits entries that an earlier cycle made durable: see cycle()).
// Cycles never overlap; proposals made during a cycle are picked up by the next.
import type { Logger } from 'pino';
import type { MemoryStorage } from '../raft/storage.js';
import type { RawNode } from '../raft/raw-node.js';
import type { ConfChange, Entry, Message, ReadState, SoftState } from '../raft/types.js';
import { isEmptySnapshot } from '../raft/types.js';
import type { Member } from './server-api.js';
import type { ServerMetricsRecorder } from './server-metrics.js';
import type { Backend, BatchOp } from '../storage/backend.js';
import type { AppliedRequest, Applier } from './apply.js';
import { deleteEntriesOps, raftStateOps, snapshotOps } from './raft-log-store.js';

export interface PeerTransport {
  send(messages: Message[]): void;
}

/** What the server needs from its links to the other members, beyond sending raft messages. */
export interface MemberLinks extends PeerTransport {
  /** True when the links to every one of `ids` have been up for the health interval (etcd: 5 s). */
  connectedToAll(ids: bigint[]): boolean;
  /** A membership change was applied: add, update or drop the peer. */
  onMembershipChanged(cc: ConfChange, member: Member): void;
}

export interface RaftNodeHooks {
  /** After each cycle's batch is durable: results of requests this member proposed. */
  onApplied(results: AppliedRequest[], appliedIndex: number): void;
  onReadStates(readStates: ReadState[]): void;
  onSoftState(softState: SoftState): void;
  /** After a cycle's write: the mvcc revisions up to here are on disk. */
  onFlushed(): void;
  /** Called with each batch before it is written, e.g. for log compaction ops. */
  beforeWrite(batch: BatchOp[], appliedIndex: number): void;
}

export interface RaftNodeOptions {
  rawNode: RawNode;
  memoryStorage: MemoryStorage;
  backend: Backend;
  applier: Applier;
  transport: PeerTransport;
  tickIntervalMs: number;
  /** --unsafe-no-fsync: write without fsync (tests and benchmarks only, as in etcd). */
  unsafeNoFsync: boolean;
  hooks: RaftNodeHooks;
  logger: Logger;
  metrics?: ServerMetricsRecorder;
}

export class RaftNode {
  private cycleRunning = false;
  private cycleScheduled = false;
  /** While set, no cycle starts: something (a snapshot install) owns the state. */
  private exclusiveHolder?: Promise<void>;
  private stopped = false;
  private tickTimer?: NodeJS.Timeout;
  private fatalError?: unknown;

  constructor(private readonly options: RaftNodeOptions) {}

  get rawNode(): RawNode {
    return this.options.rawNode;
  }

  start(): void {
    this.tickTimer = setInterval(() => {
      this.options.rawNode.tick();
      this.kick();
    }, this.options.tickIntervalMs);
    this.kick();
  }

  /** Resolves when the cycle in progress (if any) has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    while (this.cycleRunning) await new Promise((resolve) => setTimeout(resolve, 1));
  }

  propose(data: Uint8Array): void {
    this.options.rawNode.propose(data);
    this.kick();
  }

  transferLeader(to: bigint): void {
    this.options.rawNode.transferLeader(to);
    this.kick();
  }

  proposeConfChange(cc: ConfChange): void {
    this.options.rawNode.proposeConfChange(cc);
    this.kick();
  }

  readIndex(requestContext: Uint8Array): void {
    this.options.rawNode.readIndex(requestContext);
    this.kick();
  }

  step(message: Message): void {
    this.options.rawNode.step(message);
    this.kick();
  }

  /**
   * Runs `task` with no Ready cycle in progress and none starting until it is done: for changes
   * to the state that must not interleave with apply (installing a snapshot).
   */
  async exclusive<T>(task: () => Promise<T>): Promise<T> {
    while (this.exclusiveHolder) await this.exclusiveHolder;
    let release!: () => void;
    this.exclusiveHolder = new Promise<void>((resolve) => { release = resolve; });
    try {
      while (this.cycleRunning) await new Promise((resolve) => setTimeout(resolve, 1));
      return await task();
    } finally {
      this.exclusiveHolder = undefined;
      release();
      this.kick();
    }
  }

  /** Schedules a cycle soon; many calls in one tick of the event loop make one cycle. */
  kick(): void {
    if (this.stopped || this.cycleScheduled || this.cycleRunning || this.exclusiveHolder) return;
    this.cycleScheduled = true;
    setImmediate(() => {
      this.cycleScheduled = false;
      void this.runCycles();
    });
  }

  private async runCycles(): Promise<void> {
    if (this.cycleRunning || this.stopped || this.exclusiveHolder) return;
    this.cycleRunning = true;
    try {
      while (!this.stopped && this.options.rawNode.hasReady()) await this.cycle();
    } catch (error) {
      // A failed write or apply leaves memory ahead of disk: continuing could acknowledge lost
      // writes. Stop the process; a restart replays the log from the last durable applied index.
      this.fatalError = error;
      this.options.logger.fatal({ err: error }, 'raft cycle failed; stopping');
      process.exit(1);
    } finally {
      this.cycleRunning = false;
    }
  }

  private async cycle(): Promise<void> {
    const { rawNode, memoryStorage, backend, applier, transport, hooks } = this.options;
    const ready = rawNode.ready();
    if (ready.softState) hooks.onSoftState(ready.softState);

    const batch: BatchOp[] = [];
    if (ready.snapshot && !isEmptySnapshot(ready.snapshot)) {
      // A snapshot from the leader (its state was installed when it arrived): the log before it is
      // gone, and the new entries follow it.
      const first = memoryStorage.firstIndex();
      const last = memoryStorage.lastIndex();
      if (last >= first) deleteEntriesOps(batch, first, last);
      snapshotOps(batch, ready.snapshot.metadata);
      memoryStorage.applySnapshot(ready.snapshot);
    }
    if (ready.entries.length > 0) {
      // Entries that conflict with the new ones are replaced; anything persisted beyond the new
      // last index belongs to the abandoned suffix and is deleted in the same batch.
      const newLastIndex = ready.entries[ready.entries.length - 1].index;
      const oldLastIndex = memoryStorage.lastIndex();
      if (oldLastIndex > newLastIndex) deleteEntriesOps(batch, newLastIndex + 1, oldLastIndex);
    }
    raftStateOps(batch, ready.hardState, ready.entries);
    if (ready.entries.length > 0) memoryStorage.append(ready.entries);
    if (ready.hardState) memoryStorage.setHardState(ready.hardState);

    const committed: Entry[] = ready.committedEntries;
    const results = committed.length > 0 ? await applier.applyEntries(committed, batch) : [];
    hooks.beforeWrite(batch, applier.appliedIndex);

    // A Ready with nothing to persist but apply's own ops (a one-member cluster's commit of entries
    // the previous cycle synced): its committed entries are already durable on a quorum, and a crash
    // before this batch lands replays them from the log. So their requests are answered now, while
    // the batch is written; the Backend holds any read started after this until the write is done.
    const answeredBeforeWrite = ready.entries.length === 0 && !ready.mustSync && !ready.snapshot;
    if (answeredBeforeWrite) hooks.onApplied(results, applier.appliedIndex);

    // A leader's appends go out now, so followers write in parallel with this member.
    if (ready.messagesBeforePersist.length > 0) transport.send(ready.messagesBeforePersist);
    const sync = ready.mustSync && !this.options.unsafeNoFsync;
    const writeStartedMs = performance.now();
    await backend.write(batch, sync);
    const writeSeconds = (performance.now() - writeStartedMs) / 1000;
    if (sync) this.options.metrics?.walFsyncObserved(writeSeconds);
    this.options.metrics?.backendCommitObserved(writeSeconds);
    hooks.onFlushed();

    if (ready.messages.length > 0) transport.send(ready.messages);
    if (ready.readStates.length > 0) hooks.onReadStates(ready.readStates);
    rawNode.advance();
    if (!answeredBeforeWrite) hooks.onApplied(results, applier.appliedIndex);
  }

  get failed(): unknown {
    return this.fatalError;
  }
}

/**
 * The transport of a one-member cluster: such a cluster has no peer to talk to, so a message to
 * send means the membership and the Raft core disagree — an invariant violation, not a no-op.
 */
export class SingleMemberTransport implements MemberLinks {
  send(messages: Message[]): void {
    if (messages.length > 0) {
      throw new Error(`single-member cluster asked to send ${messages.length} raft message(s) to ${messages[0].to}`);
    }
  }

  connectedToAll(ids: bigint[]): boolean {
    return ids.length === 0;
  }

  onMembershipChanged(cc: ConfChange): void {
    throw new Error(`membership change for ${cc.nodeId.toString(16)} on a member started without a peer transport`);
  }
}
