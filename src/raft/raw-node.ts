// RawNode: the driver's handle on one Raft member. It turns the core's collected outputs into Ready batches
// and applies the driver's acknowledgement (advance). Contract: ready() → persist entries + hardState (+
// snapshot) in one synced write → apply snapshot and committedEntries → send messages → advance(). Only one
// Ready may be outstanding: call ready() again only after advance().
//
// Bootstrap: a brand-new member of a new cluster calls `storage.bootstrap({ voters, learners: [] })` with the
// same voters on every member, persists the resulting snapshot and hard state, then constructs RawNode with
// `applied: 0`. A member joining a running cluster starts from an empty MemoryStorage (no bootstrap) and
// receives the configuration from the leader (as a snapshot). A restart loads the persisted snapshot
// (storage.applySnapshot), hard state (setHardState) and entries (append) into a MemoryStorage and passes
// the application's applied index; conf changes between the snapshot and `applied` are re-applied to the
// configuration by the constructor, later ones come back as committed entries for the driver to apply.

import { encodeConfChange } from './conf-change.js';
import { Raft, type RaftConfig } from './raft.js';
import {
  type ConfChange, type ConfState, type Entry, EntryType, type HardState, type Message, MessageType, type NodeId,
  RaftError, type RaftRole, type Ready, type ReadState, type SoftState, emptyMessage, isLocalMessage, isResponseMessage, isSendableBeforePersist,
} from './types.js';

export type { RaftConfig } from './raft.js';

export interface RaftStatus {
  id: NodeId;
  term: number;
  vote: NodeId;
  commit: number;
  applied: number;
  lead: NodeId;
  role: RaftRole;
  /** Filled on the leader only. */
  progress: Map<NodeId, { match: number; next: number; isLearner: boolean }>;
}

interface OutstandingReady {
  lastEntry?: { index: number; term: number };
  snapshotIndex?: number;
  lastCommittedIndex?: number;
}

/** A Ready's messages or read states when it has none: shared, and frozen so that nobody adds to them. */
const noMessages: Message[] = Object.freeze([]) as unknown as Message[];
const noReadStates: ReadState[] = Object.freeze([]) as unknown as ReadState[];

export class RawNode {
  private readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  private outstanding: OutstandingReady | undefined = undefined;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.prevSoftState = this.raft.softState();
    this.prevHardState = this.raft.hardState();
  }

  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (pre-vote first when enabled), as if the election timeout had elapsed. */
  campaign(): void {
    this.raft.step(emptyMessage(MessageType.Hup, this.raft.id, this.raft.id, 0));
  }

  /** Throws RaftError('ProposalDropped') when there is no leader or a leader transfer is in progress. */
  propose(data: Uint8Array): void {
    this.raft.proposeNormal(data);
  }

  proposeConfChange(cc: ConfChange): void {
    const m = emptyMessage(MessageType.Prop, this.raft.id, this.raft.id, 0);
    m.entries = [{ term: 0, index: 0, type: EntryType.ConfChange, data: encodeConfChange(cc) }];
    this.raft.step(m);
  }

  /**
   * Steps a message received from a peer. Messages that only make sense locally, responses from members
   * no longer in the configuration, malformed appends and forwarded proposals we cannot take are dropped:
   * they are ordinary network noise, not errors. Never throws for a well-formed message.
   */
  step(message: Message): void {
    if (isLocalMessage(message.type)) {
      return;
    }
    if (isResponseMessage(message.type) && !this.raft.tracker.progress.has(message.from)) return;
    if (message.type === MessageType.App) {
      for (let i = 0; i < message.entries.length; i++) {
        if (message.entries[i]!.index !== message.index + 1 + i) return; // malformed: not contiguous
      }
    }
    try {
      this.raft.step(message);
    } catch (err) {
      // A proposal forwarded by a peer that we cannot take (no leader, transfer in progress) is dropped:
      // the proposer's driver times out and retries, as with any lost message.
      if (!(err instanceof RaftError && err.code === 'ProposalDropped')) throw err;
    }
  }

  /**
   * Asks for a read index; the answer arrives as a ReadState with the same context in a later Ready.
   * Dropped silently when there is no leader (as etcd does): the caller retries after a timeout.
   */
  readIndex(requestContext: Uint8Array): void {
    const m = emptyMessage(MessageType.ReadIndex, this.raft.id, this.raft.id, 0);
    m.entries = [{ term: 0, index: 0, type: EntryType.Normal, data: requestContext }];
    this.raft.step(m);
  }

  transferLeader(to: NodeId): void {
    this.raft.step(emptyMessage(MessageType.TransferLeader, this.raft.id, to, 0));
  }

  /** Called by the driver when it applies a ConfChange entry; returns the new configuration. */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  reportUnreachable(id: NodeId): void {
    this.raft.step(emptyMessage(MessageType.Unreachable, this.raft.id, id, 0));
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    const m = emptyMessage(MessageType.SnapStatus, this.raft.id, id, 0);
    m.reject = !ok;
    this.raft.step(m);
  }

  // hasReady and ready run in every Raft cycle, several times per client write at low load: they
  // compare the raft's fields in place and make soft and hard state objects only when they changed.
  private softStateChanged(): boolean {
    const r = this.raft;
    return r.lead !== this.prevSoftState.lead || r.role !== this.prevSoftState.role;
  }

  private hardStateChanged(): boolean {
    const r = this.raft;
    const prev = this.prevHardState;
    return r.term !== prev.term || r.vote !== prev.vote || r.raftLog.committed !== prev.commit;
  }

  hasReady(): boolean {
    if (this.outstanding) return false;
    const r = this.raft;
    if (this.softStateChanged()) return true;
    if (this.hardStateChanged()) return true;
    if (r.raftLog.hasPendingSnapshot()) return true;
    if (r.msgs.length > 0 || r.readStates.length > 0) return true;
    if (r.raftLog.unstable.entries.length > 0) return true;
    return r.raftLog.hasNextCommittedEntries();
  }

  ready(): Ready {
    if (this.outstanding) throw new Error('raft: ready() called again before advance()');
    const r = this.raft;
    r.sendOwedAppends();
    const entries = r.raftLog.unstableEntries();
    const committedEntries = r.raftLog.nextCommittedEntries();
    const snapshot = r.raftLog.unstable.snapshot;
    const termOrVoteChanged = r.term !== this.prevHardState.term || r.vote !== this.prevHardState.vote;
    // A leader's appends and heartbeats may leave before the write, but only when the term they
    // carry is already durable: a leader elected in this very Ready (a lone voter with learners)
    // could otherwise crash, come back in its old term, win the same term again and send different
    // entries under it.
    // The Ready owns its arrays: the raft gets new ones for what comes next, unless it has nothing
    // to hand over (then the Ready gets a shared empty one, never the raft's own).
    const msgs = r.msgs;
    let early = noMessages;
    let late = noMessages;
    if (msgs.length > 0) {
      early = termOrVoteChanged ? noMessages : msgs.filter((m) => isSendableBeforePersist(m.type));
      late = early.length === 0 ? msgs : msgs.filter((m) => !isSendableBeforePersist(m.type));
      r.msgs = [];
    }
    let readStates = noReadStates;
    if (r.readStates.length > 0) {
      readStates = r.readStates;
      r.readStates = [];
    }
    const rd: Ready = {
      readStates,
      entries,
      committedEntries,
      messagesBeforePersist: early,
      messages: late,
      mustSync: entries.length > 0 || termOrVoteChanged,
    };
    if (this.softStateChanged()) {
      const soft = r.softState();
      rd.softState = soft;
      this.prevSoftState = soft;
    }
    if (this.hardStateChanged()) {
      const hard = r.hardState();
      rd.hardState = hard;
      this.prevHardState = hard;
    }
    if (snapshot) rd.snapshot = snapshot;
    const last = entries[entries.length - 1];
    this.outstanding = {
      lastEntry: last ? { index: last.index, term: last.term } : undefined,
      snapshotIndex: snapshot?.metadata.index,
      lastCommittedIndex: committedEntries[committedEntries.length - 1]?.index,
    };
    return rd;
  }

  /** Acknowledges the last ready(): its entries, hard state and snapshot are durable and its committed entries applied. */
  advance(): void {
    const done = this.outstanding;
    if (!done) throw new Error('raft: advance() without an outstanding ready()');
    this.outstanding = undefined;
    const log = this.raft.raftLog;
    if (done.snapshotIndex !== undefined) {
      log.stableSnapTo(done.snapshotIndex);
      if (log.applied < done.snapshotIndex) log.applied = done.snapshotIndex;
    }
    if (done.lastEntry) log.stableTo(done.lastEntry.index, done.lastEntry.term);
    if (done.lastCommittedIndex !== undefined) log.appliedTo(done.lastCommittedIndex);
    if (done.lastEntry) this.raft.onPersisted(done.lastEntry.index, done.lastEntry.term);
  }

  /** The current term; cheap, unlike status(), for per-request use (response headers). */
  get term(): number {
    return this.raft.term;
  }

  /** The highest log index known committed; cheap, unlike status(), for per-proposal checks. */
  get committedIndex(): number {
    return this.raft.raftLog.committed;
  }

  /** Raft.visibleCommitIndex: what a leader's own answers must have applied (a follower may have). */
  get visibleCommitIndex(): number {
    return this.raft.visibleCommitIndex();
  }

  /** Whether the log holds entries not yet handed out for persisting (a Ready would fsync them). */
  get hasUnstableEntries(): boolean {
    return this.raft.raftLog.unstable.entries.length > 0;
  }

  /** Raft.singletonReadIndex: a read index that needs no ReadIndex round, when there is one. */
  singletonReadIndex(): number | undefined {
    return this.raft.singletonReadIndex();
  }

  status(): RaftStatus {
    const r = this.raft;
    const progress = new Map<NodeId, { match: number; next: number; isLearner: boolean }>();
    if (r.role === 'leader') {
      for (const [id, pr] of r.tracker.progress) progress.set(id, { match: pr.match, next: pr.next, isLearner: pr.isLearner });
    }
    return {
      id: r.id, term: r.term, vote: r.vote, commit: r.raftLog.committed, applied: r.raftLog.applied,
      lead: r.lead, role: r.role, progress,
    };
  }

  /**
   * The entry at `index` in the in-memory log (durable or not yet), or undefined when it is compacted or
   * beyond the log. For inspection (tests, debugging tools); the driver gets entries through Ready.
   */
  entryAt(index: number): Entry | undefined {
    const log = this.raft.raftLog;
    if (index < log.firstIndex() || index > log.lastIndex()) return undefined;
    return log.slice(index, index + 1, Number.MAX_SAFE_INTEGER)[0];
  }

  /** The current configuration (voters and learners). */
  confState(): ConfState {
    return this.raft.tracker.confState();
  }
}
