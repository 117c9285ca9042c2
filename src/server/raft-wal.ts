// The durable side of the Raft log: entries, hard state and snapshot markers, one record per Ready,
// in the member's write-ahead log (`<data-dir>/member/raft-wal`, storage/segmented-log.ts). The
// state machine lives in LevelDB, which is written without sync: the log is what makes a write
// durable, and replay from LevelDB's applied index rebuilds whatever LevelDB lost (as etcd does
// with its WAL and bbolt).
//
// Record: flags (u8) | [snapshot marker: u32 length, JSON] | [hard state: 24 bytes] |
// entry count (u32) | per entry: index (u64) | term (u64) | type (u8) | data length (u32) | data.
// Flags: 1 = has a snapshot marker, 2 = the marker replaces the log (a snapshot from the leader:
// every entry before it, and any of the old log after it, is gone), 4 = has a hard state.
// Replay: entries at index i replace any earlier entries from i on (a follower's log conflict).
//
// Segments are released once a compaction marker is durable in both places: every entry in them is
// at or below the marker, and LevelDB's applied index (written with sync at compaction) is past it.
// Each new segment starts with the current marker and hard state, so replay never needs an older one.
import type { Backend, BatchOp } from '../storage/backend.js';
import { prefixEnd } from '../storage/keys.js';
import { SegmentedLog } from '../storage/segmented-log.js';
import { readUint53LE, writeUint53LE } from '../storage/uint53.js';
import type { Entry, HardState, SnapshotMetadata } from '../raft/types.js';
import {
  decodeHardState, decodeSnapshotMetadata, encodeSnapshotMetadata, writeHardState, loadRaftState, type PersistedRaftState,
} from './raft-log-store.js';

/** Where data dirs written before the log existed keep their Raft state (raft-log-store.ts). */
const RAFT_PREFIX = Buffer.from('r/');
const HAS_SNAPSHOT = 1;
const REPLACES_LOG = 2;
const HAS_HARD_STATE = 4;
const ENTRY_HEADER_BYTES = 21;

export const WAL_DIR_NAME = 'raft-wal';
/** etcd's segment size. */
export const WAL_SEGMENT_BYTES = 64 * 1024 * 1024;

export interface WalRecord {
  snapshot?: SnapshotMetadata;
  /** The snapshot came from the leader and replaces the whole log. */
  replacesLog?: boolean;
  hardState?: HardState;
  entries: Entry[];
}

export function encodeWalRecord(record: WalRecord): Buffer {
  const snapshotBytes = record.snapshot ? encodeSnapshotMetadata(record.snapshot) : undefined;
  let size = 1 + 4;
  if (snapshotBytes) size += 4 + snapshotBytes.length;
  if (record.hardState) size += 24;
  for (const entry of record.entries) size += ENTRY_HEADER_BYTES + entry.data.length;
  const out = Buffer.allocUnsafe(size);
  let flags = 0;
  if (snapshotBytes) flags |= HAS_SNAPSHOT | (record.replacesLog ? REPLACES_LOG : 0);
  if (record.hardState) flags |= HAS_HARD_STATE;
  out[0] = flags;
  let offset = 1;
  if (snapshotBytes) {
    out.writeUInt32LE(snapshotBytes.length, offset);
    snapshotBytes.copy(out, offset + 4);
    offset += 4 + snapshotBytes.length;
  }
  if (record.hardState) {
    writeHardState(out, offset, record.hardState);
    offset += 24;
  }
  out.writeUInt32LE(record.entries.length, offset);
  offset += 4;
  for (const entry of record.entries) {
    writeUint53LE(out, offset, entry.index);
    writeUint53LE(out, offset + 8, entry.term);
    out[offset + 16] = entry.type;
    out.writeUInt32LE(entry.data.length, offset + 17);
    out.set(entry.data, offset + ENTRY_HEADER_BYTES);
    offset += ENTRY_HEADER_BYTES + entry.data.length;
  }
  return out;
}

export function decodeWalRecord(bytes: Buffer): WalRecord {
  const flags = bytes[0]!;
  let offset = 1;
  const record: WalRecord = { entries: [] };
  if (flags & HAS_SNAPSHOT) {
    const length = bytes.readUInt32LE(offset);
    record.snapshot = decodeSnapshotMetadata(bytes.subarray(offset + 4, offset + 4 + length));
    record.replacesLog = (flags & REPLACES_LOG) !== 0;
    offset += 4 + length;
  }
  if (flags & HAS_HARD_STATE) {
    record.hardState = decodeHardState(bytes.subarray(offset, offset + 24));
    offset += 24;
  }
  const count = bytes.readUInt32LE(offset);
  offset += 4;
  for (let i = 0; i < count; i++) {
    const dataLength = bytes.readUInt32LE(offset + 17);
    const dataStart = offset + ENTRY_HEADER_BYTES;
    record.entries.push({
      index: readUint53LE(bytes, offset),
      term: readUint53LE(bytes, offset + 8),
      type: bytes[offset + 16]!,
      data: bytes.subarray(dataStart, dataStart + dataLength),
    });
    offset = dataStart + dataLength;
  }
  if (offset !== bytes.length) throw new Error(`write-ahead log record has ${bytes.length - offset} stray bytes`);
  return record;
}

/**
 * The hard state to restart with, given the applied index LevelDB kept. The newest commit index may
 * be missing from the log (RaftWal.save defers commit-only records, and a crash can lose one), while
 * LevelDB already holds entries applied under it: every applied entry was committed and is in the
 * log, so the commit index is at least the applied index, within the log. Returns `hardState` itself
 * when nothing changes.
 */
export function commitCoveringApplied(hardState: HardState, appliedIndex: number, lastIndex: number): HardState {
  const commit = Math.min(appliedIndex, lastIndex);
  return commit > hardState.commit ? { ...hardState, commit } : hardState;
}

/** Folds records, oldest first, into the state a restart starts from. */
export function replayWalRecords(records: WalRecord[]): PersistedRaftState {
  let hardState: HardState | undefined;
  let snapshot: SnapshotMetadata | undefined;
  let entries: Entry[] = [];
  for (const record of records) {
    if (record.snapshot) {
      snapshot = record.snapshot;
      if (record.replacesLog) entries = [];
    }
    if (record.hardState) hardState = record.hardState;
    if (record.entries.length === 0) continue;
    const first = record.entries[0]!.index;
    const start = entries.length === 0 ? first : entries[0]!.index;
    if (first <= start) {
      entries = [];
    } else if (first <= start + entries.length) {
      entries.length = first - start;
    } else {
      // A gap: only a released segment can have held the missing entries, and then a later
      // compaction marker covers them; checked once the whole log is read.
      entries = [];
    }
    for (const entry of record.entries) entries.push(entry);
  }
  const firstIndex = (snapshot?.index ?? 0) + 1;
  const kept = entries.filter((entry) => entry.index >= firstIndex);
  if (kept.length > 0 && kept[0]!.index !== firstIndex) {
    throw new Error(`raft log is not contiguous: expected index ${firstIndex}, found ${kept[0]!.index}`);
  }
  return { hardState, snapshot, entries: kept };
}

export interface RaftWalOptions {
  fsync: boolean;
  segmentBytes?: number;
}

export class RaftWal {
  private hardState?: HardState;
  private snapshot?: SnapshotMetadata;
  /** A commit-index-only record not written yet (see save). */
  private deferredHardState?: Buffer;

  private constructor(private readonly log: SegmentedLog, state: PersistedRaftState) {
    this.hardState = state.hardState;
    this.snapshot = state.snapshot;
    log.onRollOver = () => ({
      records: [encodeWalRecord({ snapshot: this.snapshot, hardState: this.hardState, entries: [] })],
      tag: 0,
    });
  }

  /**
   * Opens the log in `dir` and replays it. A data dir written before the log existed keeps its Raft
   * state in LevelDB: that state moves into the log once (synced) and leaves LevelDB after.
   */
  static async open(dir: string, backend: Backend, options: RaftWalOptions): Promise<{ wal: RaftWal; state: PersistedRaftState }> {
    const { log, records } = await SegmentedLog.open(dir, {
      segmentBytes: options.segmentBytes ?? WAL_SEGMENT_BYTES, fsync: options.fsync, tagOf: lastEntryIndex,
    });
    let state: PersistedRaftState;
    try {
      state = replayWalRecords(records.map(decodeWalRecord));
    } catch (error) {
      await log.close();
      throw error;
    }
    const wal = new RaftWal(log, state);
    if (await hasOldLayout(backend)) {
      if (records.length === 0) {
        state = await loadRaftState(backend);
        await wal.save([{ snapshot: state.snapshot, hardState: state.hardState, entries: state.entries }], true);
      }
      // Also after a crash between the two steps: the log has it all, LevelDB's copy is stale.
      const ops: BatchOp[] = [];
      for await (const [key] of backend.iterate({ gte: RAFT_PREFIX, lt: prefixEnd(RAFT_PREFIX) })) ops.push({ type: 'del', key });
      await backend.write(ops, true);
    }
    return { wal, state };
  }

  /**
   * Appends one Ready's records in one write; durable on return (or, for a large write, when the
   * promise settles) when `sync`.
   */
  save(records: WalRecord[], sync: boolean): Promise<void> | undefined {
    const encoded: Buffer[] = [];
    let lastIndex = 0;
    let snapshot = this.snapshot;
    let hardState = this.hardState;
    let onlyHardStates = true;
    for (const record of records) {
      if (record.snapshot) snapshot = record.snapshot;
      if (record.hardState) hardState = record.hardState;
      if (!record.snapshot && !record.hardState && record.entries.length === 0) continue;
      if (record.snapshot || record.entries.length > 0) onlyHardStates = false;
      if (record.entries.length > 0) lastIndex = Math.max(lastIndex, record.entries[record.entries.length - 1]!.index);
      encoded.push(encodeWalRecord(record));
    }
    if (encoded.length === 0) return undefined;
    if (!sync && onlyHardStates) {
      // Only the commit index moved (a term or vote change is always synced). Like etcd's WAL,
      // which leaves such a record in its write buffer until the next synced save, keep it for the
      // next write instead of a pwrite per commit (~9 us, two per put at one client): a crash that
      // loses it loses no entry, and start-up takes the commit index from the applied index when
      // that is ahead (commitCoveringApplied). The newest supersedes the others.
      this.deferredHardState = encoded[encoded.length - 1];
      this.hardState = hardState;
      return undefined;
    }
    if (this.deferredHardState) {
      encoded.unshift(this.deferredHardState);
      this.deferredHardState = undefined;
    }
    // A rollover inside this append starts the new segment with the state before these records:
    // they follow it in the same segment.
    const written = this.log.append(encoded, lastIndex, sync);
    this.snapshot = snapshot;
    this.hardState = hardState;
    return written;
  }

  /**
   * The log up to `index` is compacted and LevelDB's applied index at or past it is on disk:
   * segments holding only entries up to it are deleted.
   */
  releaseThrough(index: number): number {
    return this.log.releaseThrough(index);
  }

  get segmentCount(): number {
    return this.log.segmentCount;
  }

  /** Settles once nothing of the log touches its directory any more (see SegmentedLog.close). */
  close(): Promise<void> {
    if (this.deferredHardState) {
      // Written as it would have been, without sync: a clean stop keeps the last commit index.
      void this.log.append([this.deferredHardState], 0, false);
      this.deferredHardState = undefined;
    }
    return this.log.close();
  }
}

async function hasOldLayout(backend: Backend): Promise<boolean> {
  for await (const entry of backend.iterate({ gte: RAFT_PREFIX, lt: prefixEnd(RAFT_PREFIX), limit: 1 })) return entry !== undefined;
  return false;
}

/** The highest entry index in an encoded record, 0 if it has none (the tag of its frame). */
function lastEntryIndex(bytes: Buffer): number {
  // Walks the record without building it: open reads every record twice (tags, then replay).
  const flags = bytes[0]!;
  let offset = 1;
  if (flags & HAS_SNAPSHOT) offset += 4 + bytes.readUInt32LE(offset);
  if (flags & HAS_HARD_STATE) offset += 24;
  const count = bytes.readUInt32LE(offset);
  offset += 4;
  let index = 0;
  for (let i = 0; i < count; i++) {
    index = readUint53LE(bytes, offset);
    offset += ENTRY_HEADER_BYTES + bytes.readUInt32LE(offset + 17);
  }
  return index;
}

export type { PersistedRaftState };
