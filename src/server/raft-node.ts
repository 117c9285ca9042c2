// The driver of the pure Raft core: it owns the Ready cycle. One cycle:
//   1. take a Ready; a leader's appends and heartbeats (messagesBeforePersist), those that only
//      carry the commit index included, leave at once; apply its committed entries in memory
//      (apply collects its LevelDB ops);
//   2. append its entries, hard state and any snapshot marker to the write-ahead log in one write,
//      synced when the Ready says so (group commit: every proposal that arrived while the previous
//      cycle was writing is in this one Ready);
//   3. once the log write is durable: hand apply's ops to LevelDB without sync (the log is the
//      durable copy; the Backend holds them up to 100 ms), send the other messages (a vote or an
//      append ack must not leave before the log write), and answer the requests whose entries
//      were applied (a follower's answers to a Ready that only applied leave after those, see
//      sendAfterAnswers); then advance. Requests whose entries were durable here before this
//      Ready are answered before its write instead (committedAreDurable).
// Cycles never overlap; proposals made during a cycle are picked up by the next.
import type { Logger } from 'pino';
import type { MemoryStorage } from '../raft/storage.js';
import type { RawNode } from '../raft/raw-node.js';
import type { ConfChange, Entry, Message, Ready, ReadState, SnapshotMetadata, SoftState } from '../raft/types.js';
import { isEmptySnapshot, MessageType } from '../raft/types.js';
import type { Member } from './server-api.js';
import type { ServerMetricsRecorder } from './server-metrics.js';
import type { Backend, BatchOp } from '../storage/backend.js';
import type { AppliedRequest, Applier } from './apply.js';
import type { RaftWal, WalRecord } from './raft-wal.js';
import { markEventLoopBusy } from '../idle-scavenge.js';

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
  /** After a cycle's LevelDB batch is handed over: reads of the mvcc revisions up to here go to it. */
  onFlushed(): void;
  /**
   * Called with each batch before it is written: returns the marker of a log compaction made now,
   * which the cycle records in the log (and after which it releases the log's old segments).
   */
  beforeWrite(batch: BatchOp[], appliedIndex: number): SnapshotMetadata | undefined;
}

export interface RaftNodeOptions {
  rawNode: RawNode;
  memoryStorage: MemoryStorage;
  backend: Backend;
  /** The durable Raft log; LevelDB holds the state machine, written without sync. */
  wal: RaftWal;
  applier: Applier;
  transport: PeerTransport;
  tickIntervalMs: number;
  /** --unsafe-no-fsync: write without fsync (tests and benchmarks only, as in etcd). */
  unsafeNoFsync: boolean;
  hooks: RaftNodeHooks;
  logger: Logger;
  metrics?: ServerMetricsRecorder;
}

/**
 * A kick this long after the last cycle ended starts the next one at once. Under load the next
 * requests arrive while a cycle runs or within a few tens of microseconds of its end, in the
 * same poll; at one client the next put comes a client round trip later (~250 us here).
 */
export const IDLE_START_NOW_MS = 0.15;

/** A Ready that applied nothing answers nobody. */
const noResults: AppliedRequest[] = Object.freeze([]) as unknown as AppliedRequest[];

export class RaftNode {
  private cycleRunning = false;
  private cycleScheduled = false;
  /** While set, no cycle starts: something (a snapshot install) owns the state. */
  private exclusiveHolder?: Promise<void>;
  private stopped = false;
  private tickTimer?: NodeJS.Timeout;
  private fatalError?: unknown;
  private lastCycleEndedMs = 0;
  /** Messages held back until this turn's answers and watch events are written (see sendAfterAnswers). */
  private heldMessages: Message[] = [];

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

  /** Moves the raft clock forward by `ticks` at once (the initial election tick advance). */
  advanceTicks(ticks: number): void {
    if (this.stopped) return;
    for (let tick = 0; tick < ticks; tick++) this.options.rawNode.tick();
    this.kick();
  }

  /** Resolves when the cycle in progress (if any) has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    while (this.cycleRunning) await new Promise((resolve) => setTimeout(resolve, 1));
    await this.options.wal.close();
  }

  /** No Ready cycle running or about to start: every applied entry's log write has finished. */
  get idle(): boolean {
    return !this.cycleRunning && !this.cycleScheduled && this.exclusiveHolder === undefined;
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
    const { rawNode } = this.options;
    rawNode.step(message);
    // A follower's ack may commit entries whose requests wait here. With nothing new to persist,
    // the cycle it starts only applies, answers and sends: no batch to gather, so it runs at once,
    // and Node writes the answers in this turn of the loop instead of after the next poll (a
    // leader's ack arrives right after its own log write, which the busy rule in kick() counts).
    this.kick(message.type === MessageType.AppResp && !rawNode.hasUnstableEntries);
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

  /**
   * Schedules a cycle soon. Under load, many calls in one turn of the event loop make one cycle:
   * it starts after the loop has read every socket that was ready (setImmediate). After a quiet
   * spell no other request is waiting to join, so the cycle starts as soon as the caller's
   * callback returns; that also lets Node write the replies in this same turn rather than after
   * the next poll, ~50 us less per put at 1 client (see IDLE_START_NOW_MS).
   */
  kick(startNow = false): void {
    if (this.stopped || this.cycleScheduled || this.cycleRunning || this.exclusiveHolder) return;
    this.cycleScheduled = true;
    if (startNow || performance.now() - this.lastCycleEndedMs >= IDLE_START_NOW_MS) queueMicrotask(this.startScheduledCycles);
    else setImmediate(this.startScheduledCycles);
  }

  private readonly startScheduledCycles = (): void => {
    if (!this.cycleScheduled) return;
    this.cycleScheduled = false;
    if (this.cycleRunning || this.stopped || this.exclusiveHolder) return;
    this.cycleRunning = true;
    this.runCycles(0);
  };

  /**
   * Runs cycles while Raft has a Ready. A cycle runs synchronously until a step has to wait for I/O
   * (a large log write, a txn's reads, a synced LevelDB write); only then does this continue from
   * the promise. At one client a put's cycles usually never wait: the log write is synced on this
   * thread (segmented-log.ts) and LevelDB's batch is held. async functions here cost a promise and
   * a frame per cycle and per step, ~2.5 KB of garbage per put at one client.
   */
  private runCycles(cyclesSoFar: number): void {
    let cycles = cyclesSoFar;
    try {
      while (!this.stopped && this.options.rawNode.hasReady()) {
        const pending = this.cycle();
        cycles++;
        if (pending !== undefined) {
          pending.then(() => this.runCycles(cycles), (error: unknown) => this.cycleFailed(error));
          return;
        }
      }
    } catch (error) {
      this.cycleFailed(error);
      return;
    }
    this.cycleRunning = false;
    // A kick with nothing to do (an ack that changed no state) is no sign of load.
    if (cycles > 0) this.lastCycleEndedMs = performance.now();
    markEventLoopBusy();
  }

  private cycleFailed(error: unknown): void {
    // A failed write or apply leaves memory ahead of disk: continuing could acknowledge lost
    // writes. Stop the process; a restart replays the log from the last durable applied index.
    this.fatalError = error;
    this.cycleRunning = false;
    this.options.logger.fatal({ err: error }, 'raft cycle failed; stopping');
    process.exit(1);
  }

  /** One Ready; a promise only when a step waits for I/O (see runCycles). */
  private cycle(): Promise<void> | undefined {
    const { rawNode, memoryStorage, applier, hooks } = this.options;
    const ready = rawNode.ready();
    if (ready.softState) hooks.onSoftState(ready.softState);
    // A leader's appends and commit index go out first, so followers write and apply in parallel
    // with this member: before its log write, and before its apply, which on a leader with watchers
    // takes longer than the send. Traced at 3 members, 100 puts/s, ~33 watchers per member: apply
    // took 100-160 us and the send 28 us, and sent after apply, a follower's first watch event left
    // ~320 us after the leader's answer at the median, ~165 us sent before. (Holding the
    // commit-only appends back until this member's answers were written saved ~100 us per 3-member
    // put 1/1 while node:http2 wrote answers a loop turn later; with api/h2 writing them in this turn
    // it saved nothing measurable, and it made every watcher on a follower see a leader's put
    // ~0.5 ms late: watch-latency p50 0.59-0.72 ms against 0.18-0.22.)
    if (ready.messagesBeforePersist.length > 0) this.send(ready.messagesBeforePersist);

    const walRecord: WalRecord = { entries: ready.entries, hardState: ready.hardState };
    if (ready.snapshot && !isEmptySnapshot(ready.snapshot)) {
      // A snapshot from the leader (its state was installed when it arrived): the log before it is
      // gone, and the new entries follow it.
      walRecord.snapshot = ready.snapshot.metadata;
      walRecord.replacesLog = true;
      memoryStorage.applySnapshot(ready.snapshot);
    }
    if (ready.entries.length > 0) memoryStorage.append(ready.entries);
    if (ready.hardState) memoryStorage.setHardState(ready.hardState);

    const batch: BatchOp[] = [];
    const committed: Entry[] = ready.committedEntries;
    if (committed.length === 0) return this.writeReady(ready, walRecord, batch, noResults);
    const results = applier.applyEntries(committed, batch);
    if (results instanceof Promise) return results.then((applied) => this.writeReady(ready, walRecord, batch, applied));
    return this.writeReady(ready, walRecord, batch, results);
  }

  /** The Ready's entries are applied in memory: its log record, then LevelDB's batch. */
  private writeReady(ready: Ready, walRecord: WalRecord, batch: BatchOp[], results: AppliedRequest[]): Promise<void> | undefined {
    const { wal, applier, hooks } = this.options;
    const compaction = hooks.beforeWrite(batch, applier.appliedIndex);
    // Entries that were in the durable log before this Ready are committed (on a majority's disks)
    // and durable here: their answers need not wait for the write of the new entries this Ready
    // appends. Under load nearly every Ready is such a pair (the proposals that came in during the
    // last write, and the entries it made durable), and answers waited for a second fsync: at 100
    // connections and 1000 clients, 8 A/B pairs of 30,000 puts: 34,300 puts/s against 30,100
    // (medians), better in 7 of 8. LevelDB still gets their ops only after this write, as below.
    let answers = results;
    if (answers.length > 0 && compaction === undefined && committedAreDurable(ready)) {
      hooks.onApplied(answers, applier.appliedIndex);
      answers = noResults;
    }

    const writeStartedMs = performance.now();
    const walWrite = wal.save([walRecord], ready.mustSync);
    // The log goes first: LevelDB must never hold the effect of an entry its log lacks (a follower
    // that learns the commit with the entries applies them in this same Ready).
    if (walWrite !== undefined) return walWrite.then(() => this.afterLogWrite(ready, batch, answers, compaction, writeStartedMs));
    return this.afterLogWrite(ready, batch, answers, compaction, writeStartedMs);
  }

  /**
   * The Ready is durable: LevelDB gets the batch, acks and votes may leave, and the requests are
   * answered.
   */
  private afterLogWrite(
    ready: Ready, batch: BatchOp[], results: AppliedRequest[], compaction: SnapshotMetadata | undefined, writeStartedMs: number,
  ): Promise<void> | undefined {
    const { backend, hooks, applier, rawNode, wal } = this.options;
    if (ready.mustSync && !this.options.unsafeNoFsync) this.options.metrics?.walFsyncObserved((performance.now() - writeStartedMs) / 1000);
    // LevelDB is written without sync (the Backend holds the batch; reads see it at once): the log is
    // the durable copy, replayed from LevelDB's applied index at start. At a compaction, though, log
    // segments are about to be deleted, so the applied state they cover must be on disk first.
    const levelWrite = compaction !== undefined && !this.options.unsafeNoFsync ? backend.write(batch, true) : undefined;
    if (levelWrite === undefined) backend.hold(batch);
    const holdMessages = ready.entries.length === 0 && ready.committedEntries.length > 0;
    if (ready.messages.length > 0 && !holdMessages) this.send(ready.messages);
    if (ready.readStates.length > 0) hooks.onReadStates(ready.readStates);
    hooks.onApplied(results, applier.appliedIndex);
    if (ready.messages.length > 0 && holdMessages) this.sendAfterAnswers(ready.messages);
    if (levelWrite === undefined && compaction === undefined) {
      hooks.onFlushed();
      rawNode.advance();
      return undefined;
    }
    return (async () => {
      await levelWrite;
      hooks.onFlushed();
      if (compaction) {
        // Only now that LevelDB's applied state up to the marker is on disk may the log say that the
        // entries behind it are gone: a marker that landed first would make a crash here lose them.
        // And the marker must be durable before the segments behind it are deleted.
        await wal.save([{ snapshot: compaction, entries: [] }], true);
        wal.releaseThrough(compaction.index);
      }
      rawNode.advance();
    })();
  }

  /** Sends in order: anything held back by sendAfterAnswers goes first. */
  private send(messages: Message[]): void {
    if (this.heldMessages.length > 0) this.releaseHeldMessages();
    this.options.transport.send(messages);
  }

  /**
   * A Ready that appended nothing but applied entries is, on a follower, the leader's commit
   * index arriving (in a heartbeat; an append that brings only that is not answered at all, see
   * raft.ts handleAppendEntries): the answer tells the leader nothing it waits for, while this
   * member's watchers and writers wait for what apply just queued. A socket write to a peer costs 40-70 us here
   * (more when the kernel hands the core to the woken peer), so the ack goes after the answers and
   * watch events of this turn: apply queued their writes as microtasks, which queue their
   * connections' flushes as ticks; a microtask queued now queues the ack as a tick behind those.
   * Traced on a 3-member watch-latency run, the ack sent first held each follower's watch events
   * back by 57-74 us at the median.
   */
  private sendAfterAnswers(messages: Message[]): void {
    const first = this.heldMessages.length === 0;
    for (const message of messages) this.heldMessages.push(message);
    if (first) queueMicrotask(this.queueHeldMessagesRelease);
  }

  private readonly queueHeldMessagesRelease = (): void => {
    process.nextTick(this.releaseHeldMessagesIfAny);
  };

  private readonly releaseHeldMessagesIfAny = (): void => {
    if (this.heldMessages.length > 0 && !this.stopped) this.releaseHeldMessages();
  };

  private releaseHeldMessages(): void {
    const held = this.heldMessages;
    this.heldMessages = [];
    this.options.transport.send(held);
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

/**
 * Whether every entry the Ready applies was in the durable log before this Ready: it appends
 * new entries after them and carries no snapshot.
 */
function committedAreDurable(ready: Ready): boolean {
  const committed = ready.committedEntries;
  if (committed.length === 0 || ready.entries.length === 0 || ready.snapshot !== undefined) return false;
  return committed[committed.length - 1]!.index < ready.entries[0]!.index;
}
