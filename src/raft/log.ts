// RaftLog: one member's view of the log, stitched from what is durable (MemoryStorage) and what is not yet
// (the unstable tail and an incoming snapshot), plus the commit and applied indexes. Pure bookkeeping: the
// rules of when to append, commit or truncate live in raft.ts.

import { MemoryStorage, limitSize } from './storage.js';
import { type Entry, type Snapshot, RaftError } from './types.js';

/** Entries and snapshot not yet persisted by the driver. Invariant: entries[i].index === offset + i. */
class Unstable {
  snapshot: Snapshot | undefined = undefined;
  entries: Entry[] = [];
  constructor(public offset: number) {}

  maybeFirstIndex(): number | undefined {
    return this.snapshot ? this.snapshot.metadata.index + 1 : undefined;
  }

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot ? this.snapshot.metadata.index : undefined;
  }

  maybeTerm(index: number): number | undefined {
    if (index < this.offset) {
      if (this.snapshot && this.snapshot.metadata.index === index) return this.snapshot.metadata.term;
      return undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || index > last) return undefined;
    return this.entries[index - this.offset]!.term;
  }

  stableTo(index: number, term: number): void {
    // A changed term means the entry was replaced by a newer leader after the Ready was handed out:
    // the newer entry is still unstable and must stay so.
    if (this.maybeTerm(index) === term && index >= this.offset) {
      this.entries = this.entries.slice(index + 1 - this.offset);
      this.offset = index + 1;
    }
  }

  stableSnapTo(index: number): void {
    if (this.snapshot && this.snapshot.metadata.index === index) this.snapshot = undefined;
  }

  restore(snapshot: Snapshot): void {
    this.offset = snapshot.metadata.index + 1;
    this.entries = [];
    this.snapshot = snapshot;
  }

  truncateAndAppend(entries: Entry[]): void {
    const after = entries[0]!.index;
    if (after === this.offset + this.entries.length) {
      // In place (unstableEntries() hands out a copy): a leader appends once per proposal, and
      // copying the unstable tail each time was quadratic in the proposals of one cycle.
      for (const entry of entries) this.entries.push(entry);
    } else if (after <= this.offset) {
      // Replaces the whole unstable tail; the driver's append overwrites the durable conflicting suffix.
      this.offset = after;
      this.entries = entries.slice();
    } else {
      this.entries = this.entries.slice(0, after - this.offset).concat(entries);
    }
  }
}

export class RaftLog {
  readonly storage: MemoryStorage;
  readonly unstable: Unstable;
  // Invariant: applied <= committed; committed <= lastIndex().
  committed: number;
  applied: number;
  private readonly maxNextEntriesSizeBytes: number;

  constructor(storage: MemoryStorage, maxNextEntriesSizeBytes: number) {
    this.storage = storage;
    this.maxNextEntriesSizeBytes = maxNextEntriesSizeBytes;
    this.unstable = new Unstable(storage.lastIndex() + 1);
    this.committed = storage.firstIndex() - 1;
    this.applied = storage.firstIndex() - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Term of the entry at index; throws RaftError Compacted/Unavailable outside [firstIndex-1, lastIndex]. */
  term(index: number): number {
    const dummyIndex = this.firstIndex() - 1;
    if (index < dummyIndex) throw new RaftError('Compacted');
    if (index > this.lastIndex()) throw new RaftError('Unavailable');
    const unstableTerm = this.unstable.maybeTerm(index);
    if (unstableTerm !== undefined) return unstableTerm;
    return this.storage.term(index);
  }

  /**
   * Term at index, or 0 when the index is compacted or beyond the log. Checked without throwing:
   * a follower asks this (through matchTerm) for every entry it appends past its last index, and
   * building an Error per entry showed in profiles.
   */
  termOrZero(index: number): number {
    if (index < this.firstIndex() - 1 || index > this.lastIndex()) return 0;
    try {
      return this.term(index);
    } catch (err) {
      if (err instanceof RaftError) return 0;
      throw err;
    }
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  matchTerm(index: number, term: number): boolean {
    if (index < this.firstIndex() - 1 || index > this.lastIndex()) return false;
    try {
      return this.term(index) === term;
    } catch (err) {
      if (err instanceof RaftError) return false;
      throw err;
    }
  }

  /** Raft §5.4.1: a log is at least as up to date if its last term is higher, or equal with an index at least as long. */
  isUpToDate(lastIndex: number, term: number): boolean {
    const ourTerm = this.lastTerm();
    return term > ourTerm || (term === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Appends a leader's entries that follow (index, logTerm); returns the last index known to match the
   * leader, or undefined when our log does not contain (index, logTerm).
   */
  maybeAppend(index: number, logTerm: number, committed: number, entries: Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNewIndex = index + entries.length;
    const conflictIndex = this.findConflict(entries);
    if (conflictIndex !== 0) {
      if (conflictIndex <= this.committed) {
        throw new Error(`raft: entry ${conflictIndex} conflicts with committed entry [committed(${this.committed})]`);
      }
      this.append(entries.slice(conflictIndex - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNewIndex));
    return lastNewIndex;
  }

  append(entries: Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    const after = entries[0]!.index - 1;
    if (after < this.committed) throw new Error(`raft: append after ${after} is out of range [committed(${this.committed})]`);
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  /** First index whose term differs from ours (or which we lack); 0 when all given entries are already in the log. */
  findConflict(entries: Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /**
   * The largest index <= `index` whose term is <= `term`, with that term. Used on both sides of a rejected
   * append to skip a whole term of mismatched entries in one round trip instead of one entry per round trip.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = index; i >= 0; i--) {
      let ourTerm: number;
      try {
        ourTerm = this.term(i);
      } catch (err) {
        if (err instanceof RaftError) return { index: i, term: 0 };
        throw err;
      }
      if (ourTerm <= term) return { index: i, term: ourTerm };
    }
    return { index: 0, term: 0 };
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    if (index > this.lastIndex()) {
      throw new Error(`raft: tocommit(${index}) is out of range [lastIndex(${this.lastIndex()})]`);
    }
    this.committed = index;
  }

  /** Raft §5.4.2: only an entry of the leader's current term is committed by counting replicas. */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.termOrZero(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    if (index > this.committed || index < this.applied) {
      throw new Error(`raft: applied(${index}) is out of range [prevApplied(${this.applied}), committed(${this.committed})]`);
    }
    this.applied = index;
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index);
  }

  /** The last index of the durable log: what the driver persisted (advance), not the unstable tail or snapshot. */
  durableLastIndex(): number {
    if (this.unstable.snapshot !== undefined) return 0;
    if (this.unstable.entries.length > 0) return this.unstable.offset - 1;
    return this.storage.lastIndex();
  }

  unstableEntries(): Entry[] {
    return this.unstable.entries.slice();
  }

  hasPendingSnapshot(): boolean {
    return this.unstable.snapshot !== undefined;
  }

  hasNextCommittedEntries(): boolean {
    if (this.hasPendingSnapshot()) return false;
    return this.committed + 1 > Math.max(this.applied + 1, this.firstIndex());
  }

  /** Committed entries not yet applied; none while a snapshot waits to be applied first. */
  nextCommittedEntries(): Entry[] {
    if (!this.hasNextCommittedEntries()) return [];
    const lo = Math.max(this.applied + 1, this.firstIndex());
    return this.slice(lo, this.committed + 1, this.maxNextEntriesSizeBytes);
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  entries(lo: number, maxSizeBytes: number): Entry[] {
    if (lo > this.lastIndex()) return [];
    return this.slice(lo, this.lastIndex() + 1, maxSizeBytes);
  }

  /** Entries in [lo, hi) limited to maxSizeBytes (at least one); throws RaftError Compacted below firstIndex. */
  slice(lo: number, hi: number, maxSizeBytes: number): Entry[] {
    if (lo > hi) throw new Error(`raft: invalid slice ${lo} > ${hi}`);
    if (lo < this.firstIndex()) throw new RaftError('Compacted');
    if (hi > this.lastIndex() + 1) throw new Error(`raft: slice[${lo},${hi}) out of bound [${this.firstIndex()},${this.lastIndex()}]`);
    if (lo === hi) return [];
    let result: Entry[] = [];
    const offset = this.unstable.offset;
    if (lo < offset) {
      const stored = this.storage.entries(lo, Math.min(hi, offset), maxSizeBytes);
      if (stored.length < Math.min(hi, offset) - lo) return stored; // size limit reached
      result = stored;
    }
    if (hi > offset) {
      const unstablePart = this.unstable.entries.slice(Math.max(lo, offset) - offset, hi - offset);
      result = result.length > 0 ? result.concat(unstablePart) : unstablePart;
    }
    return limitSize(result, maxSizeBytes);
  }

  restore(snapshot: Snapshot): void {
    this.committed = snapshot.metadata.index;
    this.unstable.restore(snapshot);
  }

  allEntries(): Entry[] {
    return this.entries(this.firstIndex(), Number.MAX_SAFE_INTEGER);
  }
}
