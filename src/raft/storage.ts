// MemoryStorage: the durable Raft state as the core reads it (hard state, latest snapshot, log entries after
// it). The driver writes into it what it has persisted (append, setHardState, applySnapshot) and compacts it
// after taking application snapshots; the core only reads. Also the documented way to bootstrap a member.

import {
  type ConfState, type Entry, type HardState, type Snapshot, ENTRY_OVERHEAD_BYTES, None, RaftError, entrySizeBytes,
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

const EMPTY_BYTES = new ArrayBuffer(0);

/**
 * The log entries after the snapshot are kept column by column (term, type, and where the data
 * lies), not as Entry objects: the log holds up to --snapshot-count entries (100,000 by default),
 * and an Entry plus its Buffer view per entry (~150 B) lived long enough to be promoted to V8's old
 * generation, copied twice on the way and walked by every mark-compact after. entries() makes
 * Entry objects when asked; those die young.
 */
export class MemoryStorage {
  private hardState: HardState = { term: 0, vote: None, commit: 0 };
  private snap: Snapshot = { metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } }, data: new Uint8Array(0) };
  // Position 0 is a dummy entry standing for the snapshot (its index and term); the rest are the
  // entries dummyIndex + 1, dummyIndex + 2, ..., contiguous.
  private dummyIndex = 0;
  private terms: number[] = [0];
  private types: number[] = [0];
  /** Each entry's data: the ArrayBuffer it lies in, and where (an object of its own per entry is what this avoids). */
  private dataBuffers: ArrayBufferLike[] = [EMPTY_BYTES];
  private dataOffsets: number[] = [0];
  private dataLengths: number[] = [0];

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
    const offset = this.dummyIndex;
    if (lo <= offset) throw new RaftError('Compacted');
    if (hi > this.lastIndex() + 1) throw new Error(`raft: entries hi ${hi} is out of bound lastIndex ${this.lastIndex()}`);
    const out: Entry[] = [];
    // The same bound as limitSize: the first entry always, then while the total stays within it.
    let size = 0;
    for (let index = lo; index < hi; index++) {
      const position = index - offset;
      size += this.dataLengths[position]! + ENTRY_OVERHEAD_BYTES;
      if (out.length > 0 && size > maxSizeBytes) break;
      out.push({
        term: this.terms[position]!,
        index,
        type: this.types[position]!,
        data: new Uint8Array(this.dataBuffers[position]!, this.dataOffsets[position]!, this.dataLengths[position]!),
      });
    }
    return out;
  }

  term(index: number): number {
    const offset = this.dummyIndex;
    if (index < offset) throw new RaftError('Compacted');
    if (index - offset >= this.terms.length) throw new RaftError('Unavailable');
    return this.terms[index - offset]!;
  }

  firstIndex(): number {
    return this.dummyIndex + 1;
  }

  lastIndex(): number {
    return this.dummyIndex + this.terms.length - 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replaces the whole content with a snapshot (received from a leader, or loaded at restart). */
  applySnapshot(snapshot: Snapshot): void {
    if (snapshot.metadata.index <= this.snap.metadata.index) throw new RaftError('SnapOutOfDate');
    this.snap = { metadata: { ...snapshot.metadata, confState: cloneConfState(snapshot.metadata.confState) }, data: snapshot.data };
    this.dummyIndex = snapshot.metadata.index;
    this.terms = [snapshot.metadata.term];
    this.types = [0];
    this.dataBuffers = [EMPTY_BYTES];
    this.dataOffsets = [0];
    this.dataLengths = [0];
  }

  /** Records an application snapshot taken at `index` (which must be applied); does not drop entries. */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) throw new RaftError('SnapOutOfDate');
    if (index > this.lastIndex()) throw new Error(`raft: snapshot ${index} is out of bound lastIndex ${this.lastIndex()}`);
    this.snap = { metadata: { index, term: this.terms[index - this.dummyIndex]!, confState: cloneConfState(confState) }, data };
    return this.snap;
  }

  /** Drops the entries before `index`; `index` becomes the dummy entry. The caller keeps a snapshot covering them. */
  compact(index: number): void {
    const offset = this.dummyIndex;
    if (index <= offset) throw new RaftError('Compacted');
    if (index > this.lastIndex()) throw new Error(`raft: compact ${index} is out of bound lastIndex ${this.lastIndex()}`);
    const dropped = index - offset;
    this.dummyIndex = index;
    this.terms = this.terms.slice(dropped);
    this.types = [0, ...this.types.slice(dropped + 1)];
    this.dataBuffers = [EMPTY_BYTES, ...this.dataBuffers.slice(dropped + 1)];
    this.dataOffsets = [0, ...this.dataOffsets.slice(dropped + 1)];
    this.dataLengths = [0, ...this.dataLengths.slice(dropped + 1)];
  }

  /** Appends persisted entries; entries overlapping the log replace it from the first one on (a conflict). */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return; // all already compacted
    const skip = first > entries[0]!.index ? first - entries[0]!.index : 0;
    const offset = entries[skip]!.index - this.dummyIndex;
    if (offset > this.terms.length) {
      throw new Error(`raft: missing log entry [last: ${this.lastIndex()}, append at: ${entries[skip]!.index}]`);
    }
    // In place: this runs for every Ready, and rebuilding the columns of up to --snapshot-count
    // entries each time would make appends quadratic in the log's length.
    if (offset < this.terms.length) {
      this.terms.length = offset;
      this.types.length = offset;
      this.dataBuffers.length = offset;
      this.dataOffsets.length = offset;
      this.dataLengths.length = offset;
    }
    for (let i = skip; i < entries.length; i++) {
      const entry = entries[i]!;
      const data = entry.data;
      this.terms.push(entry.term);
      this.types.push(entry.type);
      this.dataBuffers.push(data.buffer);
      this.dataOffsets.push(data.byteOffset);
      this.dataLengths.push(data.byteLength);
    }
  }
}
