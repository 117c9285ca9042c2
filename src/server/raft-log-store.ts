// The Raft log's layout in LevelDB from before the write-ahead log (raft-wal.ts): entries, hard state
// and the snapshot marker under prefix.raftLog / raftHardState / raftSnapshot. A data dir written
// that way is read once at start and moved into the log (RaftWal.open); the writers below remain so
// that tests can build such a data dir. The hard state and snapshot marker encodings are shared with
// the log's records.
//
// Entry value layout: term (8 bytes BE) | type (1 byte) | data. Hard state: term | vote | commit,
// 8 bytes BE each. The snapshot marker records where the log was compacted and the conf state at
// that point: the state machine itself lives in LevelDB, so the marker carries no data.
import type { Backend, BatchOp } from '../storage/backend.js';
import { prefix, prefixEnd, uint64Key } from '../storage/keys.js';
import { writeUint53BE } from '../storage/uint53.js';
import type { ConfState, Entry, HardState, SnapshotMetadata } from '../raft/types.js';

export function entryKey(index: number): Buffer {
  return uint64Key(prefix.raftLog, index);
}

export function encodeEntry(entry: Entry): Buffer {
  const out = Buffer.allocUnsafe(9 + entry.data.length);
  out.writeBigUInt64BE(BigInt(entry.term), 0);
  out[8] = entry.type;
  out.set(entry.data, 9);
  return out;
}

export function decodeEntry(index: number, bytes: Buffer): Entry {
  return {
    term: Number(bytes.readBigUInt64BE(0)),
    index,
    type: bytes[8],
    data: bytes.subarray(9),
  };
}

export function encodeHardState(hardState: HardState): Buffer {
  const out = Buffer.allocUnsafe(HARD_STATE_BYTES);
  writeHardState(out, 0, hardState);
  return out;
}

const HARD_STATE_BYTES = 24;

/**
 * The hard state as three uint64 BE at `offset`: the log writes one per Raft cycle, so term and
 * commit (numbers) take no bigints, and the vote's bytes are kept while it stays the same (Node's
 * writeBigUInt64BE makes several bigints per call).
 */
export function writeHardState(out: Buffer, offset: number, hardState: HardState): void {
  writeUint64BE(out, offset, hardState.term);
  if (hardState.vote !== lastVote) {
    lastVoteBytes.writeBigUInt64BE(hardState.vote);
    lastVote = hardState.vote;
  }
  lastVoteBytes.copy(out, offset + 8);
  writeUint64BE(out, offset + 16, hardState.commit);
}

let lastVote = 0n;
const lastVoteBytes = Buffer.alloc(8);

/** A Raft index or term as uint64 BE: checked, as nothing else checks it before it is stored. */
export function writeUint64BE(out: Buffer, offset: number, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not a uint64 that a number holds exactly: ${value}`);
  writeUint53BE(out, offset, value);
}

export function decodeHardState(bytes: Buffer): HardState {
  return {
    term: Number(bytes.readBigUInt64BE(0)),
    vote: bytes.readBigUInt64BE(8),
    commit: Number(bytes.readBigUInt64BE(16)),
  };
}

export function encodeSnapshotMetadata(metadata: SnapshotMetadata): Buffer {
  return Buffer.from(JSON.stringify({
    index: metadata.index,
    term: metadata.term,
    voters: metadata.confState.voters.map(String),
    learners: metadata.confState.learners.map(String),
  }));
}

export function decodeSnapshotMetadata(bytes: Buffer): SnapshotMetadata {
  const raw = JSON.parse(bytes.toString('utf8')) as { index: number; term: number; voters: string[]; learners: string[] };
  const confState: ConfState = { voters: raw.voters.map(BigInt), learners: raw.learners.map(BigInt) };
  return { index: raw.index, term: raw.term, confState };
}

export interface PersistedRaftState {
  hardState?: HardState;
  snapshot?: SnapshotMetadata;
  entries: Entry[];
}

/** Batch ops that make a Ready's hard state and new entries durable. */
export function raftStateOps(batch: BatchOp[], hardState: HardState | undefined, entries: Entry[]): void {
  if (entries.length > 0) {
    // New entries at index i replace any persisted suffix from i on (a follower's log conflict).
    // The caller removes stale entries beyond the new last index via truncateAfterOps.
    for (const entry of entries) batch.push({ type: 'put', key: entryKey(entry.index), value: encodeEntry(entry) });
  }
  if (hardState) batch.push({ type: 'put', key: prefix.raftHardState, value: encodeHardState(hardState) });
}

export function snapshotOps(batch: BatchOp[], metadata: SnapshotMetadata): void {
  batch.push({ type: 'put', key: prefix.raftSnapshot, value: encodeSnapshotMetadata(metadata) });
}

export async function loadRaftState(backend: Backend): Promise<PersistedRaftState> {
  const hardStateBytes = await backend.get(prefix.raftHardState);
  const snapshotBytes = await backend.get(prefix.raftSnapshot);
  const snapshot = snapshotBytes ? decodeSnapshotMetadata(snapshotBytes) : undefined;
  const entries: Entry[] = [];
  const firstIndex = (snapshot?.index ?? 0) + 1;
  for await (const [key, value] of backend.iterate({ gte: entryKey(firstIndex), lt: prefixEnd(prefix.raftLog) })) {
    const index = Number(key.readBigUInt64BE(prefix.raftLog.length));
    // Entries must be contiguous: a gap means a torn log, which we refuse to start on.
    const expected = entries.length === 0 ? firstIndex : entries[entries.length - 1].index + 1;
    if (index !== expected) {
      throw new Error(`raft log is not contiguous: expected index ${expected}, found ${index}`);
    }
    entries.push(decodeEntry(index, value));
  }
  return { hardState: hardStateBytes ? decodeHardState(hardStateBytes) : undefined, snapshot, entries };
}
