// The leader's view of each member's log (match/next, probe/replicate/snapshot states, in-flight appends)
// and the membership it is tracking. Quorum arithmetic lives in quorum.ts; when to move between states is
// decided here so the transitions are in one place, not strewn through the core.

import { type ConfState, type NodeId } from './types.js';

/**
 * The indexes of the appends sent to one follower and not yet acknowledged, oldest first. Bounded by
 * `inflightMsgsMax` (the config's maxInflightMsgs): when full, the leader stops sending to that follower.
 */
export class Inflights {
  private readonly lastIndexes: number[] = [];
  constructor(readonly inflightMsgsMax: number) {
    if (inflightMsgsMax < 1) throw new Error('raft: maxInflightMsgs must be at least 1');
  }

  add(lastIndex: number): void {
    if (this.full()) throw new Error('raft: cannot add into a full inflights');
    this.lastIndexes.push(lastIndex);
  }

  /** Frees every in-flight append whose last index is <= `index` (acknowledged cumulatively). */
  freeLE(index: number): void {
    let freed = 0;
    while (freed < this.lastIndexes.length && this.lastIndexes[freed]! <= index) freed++;
    if (freed > 0) this.lastIndexes.splice(0, freed);
  }

  /** Frees the oldest in-flight append: its answer may never come (a lost message, a restarted follower). */
  freeFirstOne(): void {
    this.lastIndexes.shift();
  }

  full(): boolean {
    return this.lastIndexes.length >= this.inflightMsgsMax;
  }

  count(): number {
    return this.lastIndexes.length;
  }

  reset(): void {
    this.lastIndexes.length = 0;
  }
}

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  // Invariant: 0 <= match < next.
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: one append is outstanding, wait for its answer (or a heartbeat response) before the next. */
  probeSent = false;
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** Its latest ack said it commits on its own (Message.selfCommit). */
  selfCommit = false;
  /** The highest index we told it our log is durable through (LeaderPersisted), in this term. */
  persistedNoticeSent = 0;
  isLearner: boolean;
  readonly inflights: Inflights;

  constructor(next: number, inflightMsgsMax: number, isLearner: boolean) {
    this.next = next;
    this.inflights = new Inflights(inflightMsgsMax);
    this.isLearner = isLearner;
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot, the follower has at least the snapshot: probe from just past it.
    if (this.state === 'snapshot') {
      const pendingSnapshot = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pendingSnapshot + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  /** An append of entries up to `lastIndex` was sent. */
  sentEntries(entryCount: number, lastIndex: number): void {
    if (this.state === 'replicate') {
      if (entryCount > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    } else {
      throw new Error(`raft: sending append in unhandled state ${this.state}`);
    }
  }

  /** A successful append response up to `index`; returns false when it is stale. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * A rejected append for `rejected`; `matchHint` is where the follower suggests probing next.
   * Returns false when the rejection is stale (a response to an older probe).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Whether the leader must hold off sending appends to this member. */
  isPaused(): boolean {
    if (this.state === 'probe') return this.probeSent;
    if (this.state === 'replicate') return this.inflights.full();
    return true;
  }
}

/** The membership (single-step changes only, so one voter set) and the progress of each member. */
export class ProgressTracker {
  readonly voters = new Set<NodeId>();
  readonly learners = new Set<NodeId>();
  readonly progress = new Map<NodeId, Progress>();
  readonly votes = new Map<NodeId, boolean>();

  constructor(readonly inflightMsgsMax: number) {}

  confState(): ConfState {
    const sortIds = (ids: Iterable<NodeId>): NodeId[] => [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return { voters: sortIds(this.voters), learners: sortIds(this.learners) };
  }

  isSingleton(): boolean {
    return this.voters.size === 1;
  }

  resetVotes(): void {
    this.votes.clear();
  }

  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }
}
