// MemoryStorage: the durable Raft state as the core reads it (hard state, latest snapshot, log entries after
// it). The driver writes into it what it has persisted (append, setHardState, applySnapshot) and compacts it
// after taking application snapshots; the core only reads. Also the documented way to bootstrap a member.

import {
  type ConfState, type Entry, type HardState, type Snapshot, None, RaftError, entrySizeBytes,
} from './types.js';

export function limitSize(entries: Entry[], maxSizeBytes: number): Entry[] {
  // Always returns at least one entry so a single oversized entry still makes progress.
  if (entries.length === 0) return entries;
  let size = entrySizeBytes(entries[0]!);
  let count = 1;
  while (count < entries.length) {
    size += entrySizeBytes(entries[count]!);
    if (size > maxSizeBytes) break;
    count++;
  }
  return count === entries.length ? entries : entries.slice(0, count);
}

function cloneConfState(cs: ConfState): ConfState {
  return { voters: [...cs.voters], learners: [...cs.learners] };
}

export class MemoryStorage {
  private hardState: HardState = { term: 0, vote: None, commit: 0 };
  private snap: Snapshot = { metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } }, data: new Uint8Array(0) };
  // Invariant: ents[0] is a dummy entry standing for the snapshot (its index and term); ents are contiguous.
  private ents: Entry[] = [{ term: 0, index: 0, type: 0, data: new Uint8Array(0) }];

  /**
   * Bootstraps a brand-new member of a new cluster. Every initial member calls this with the same voters,
   * so all start from the identical state: a snapshot at index 1, term 1 holding the initial ConfState, and
   * hard state {term 1, commit 1}. The driver persists that snapshot and hard state like a Ready's, and
   * treats an empty snapshot `data` as "the initial, empty state machine". A member joining an existing
   * cluster does not bootstrap: it starts empty and receives the configuration from the leader.
   */
  bootstrap(confState: ConfState): void {
    if (this.lastIndex() !== 0 || this.hardState.term !== 0) throw new Error('raft: bootstrap of a non-empty storage');
    if (confState.voters.length === 0) throw new Error('raft: bootstrap needs at least one voter');
    this.applySnapshot({ metadata: { index: 1, term: 1, confState: cloneConfState(confState) }, data: new Uint8Array(0) });
    this.setHardState({ term: 1, vote: None, commit: 1 });
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: cloneConfState(this.snap.metadata.confState) };
  }

  setHardState(hs: HardState): void {
    this.hardState = { ...hs };
  }

  /** Entries in [lo, hi), at most maxSizeBytes in total but always at least one. */
  entries(lo: number, hi: number, maxSizeBytes: number): Entry[] {
    const offset = this.ents[0]!.index;
    if (lo <= offset) throw new RaftError('Compacted');
    if (hi > this.lastIndex() + 1) throw new Error(`raft: entries hi ${hi} is out of bound lastIndex ${this.lastIndex()}`);
    if (lo >= hi) return [];
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxSizeBytes);
  }

  term(index: number): number {
    const offset = this.ents[0]!.index;
    if (index < offset) throw new RaftError('Compacted');
    if (index - offset >= this.ents.length) throw new RaftError('Unavailable');
    return this.ents[index - offset]!.term;
  }

  firstIndex(): number {
    return this.ents[0]!.index + 1;
  }

  lastIndex(): number {
    return this.ents[0]!.index + this.ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replaces the whole content with a snapshot (received from a leader, or loaded at restart). */
  applySnapshot(snapshot: Snapshot): void {
    if (snapshot.metadata.index <= this.snap.metadata.index) throw new RaftError('SnapOutOfDate');
    this.snap = { metadata: { ...snapshot.metadata, confState: cloneConfState(snapshot.metadata.confState) }, data: snapshot.data };
    this.ents = [{ term: snapshot.metadata.term, index: snapshot.metadata.index, type: 0, data: new Uint8Array(0) }];
  }

  /** Records an application snapshot taken at `index` (which must be applied); does not drop entries. */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) throw new RaftError('SnapOutOfDate');
    if (index > this.lastIndex()) throw new Error(`raft: snapshot ${index} is out of bound lastIndex ${this.lastIndex()}`);
    const offset = this.ents[0]!.index;
    this.snap = { metadata: { index, term: this.ents[index - offset]!.term, confState: cloneConfState(confState) }, data };
    return this.snap;
  }

  /** Drops the entries before `index`; `index` becomes the dummy entry. The caller keeps a snapshot covering them. */
  compact(index: number): void {
    const offset = this.ents[0]!.index;
    if (index <= offset) throw new RaftError('Compacted');
    if (index > this.lastIndex()) throw new Error(`raft: compact ${index} is out of bound lastIndex ${this.lastIndex()}`);
    const dummy = this.ents[index - offset]!;
    this.ents = [{ term: dummy.term, index: dummy.index, type: 0, data: new Uint8Array(0) }, ...this.ents.slice(index - offset + 1)];
  }

  /** Appends persisted entries; entries overlapping the log replace it from the first one on (a conflict). */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return; // all already compacted
    const kept = first > entries[0]!.index ? entries.slice(first - entries[0]!.index) : entries;
    const offset = kept[0]!.index - this.ents[0]!.index;
    if (offset > this.ents.length) {
      throw new Error(`raft: missing log entry [last: ${this.lastIndex()}, append at: ${kept[0]!.index}]`);
    }
    // In place (entries() hands out copies): this runs for every Ready, and rebuilding an array of
    // up to --snapshot-count entries each time made appends quadratic in the log's length.
    if (offset < this.ents.length) this.ents.length = offset;
    for (const entry of kept) this.ents.push(entry);
  }
}
