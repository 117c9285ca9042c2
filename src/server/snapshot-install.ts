// Installs a leader's state snapshot (the stream of backend-snapshot.ts) on a member that fell
// behind the leader's log: verify the sha256 trailer, then replace the member's state keys in
// LevelDB with the snapshot's. The member's own identity (its member id) and its raft log are not
// part of the state and stay as they are.
//
// The replacement takes several batches; a marker key written first and removed last lets a
// restart detect an interrupted install and refuse to serve half a state.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Backend, BatchOp } from '../storage/backend.js';
import { prefix, prefixEnd } from '../storage/keys.js';
import { SNAPSHOT_MAGIC } from './backend-snapshot.js';

export const MEMBER_ID_KEY = Buffer.from('s/member-id');
export const RESTORE_MARKER_KEY = Buffer.from('s/restore-in-progress');
const DIGEST_BYTES = 32;
/** Where apply records its applied index (server/apply.ts). */
const APPLIED_INDEX_KEY_BYTES = Buffer.from('s/applied-index');
const INSTALL_BATCH_BYTES_MAX = 4 * 1024 * 1024;
const END_MARK = 0xffffffff;

/** The key ranges a state snapshot owns on the receiving member. */
const STATE_PREFIXES = [prefix.mvcc, prefix.lease, prefix.cluster, prefix.alarm, prefix.auth, prefix.server];

function isMemberLocal(key: Buffer): boolean {
  return key.equals(MEMBER_ID_KEY) || key.equals(RESTORE_MARKER_KEY);
}

/**
 * Returns false (and changes nothing) when `accept`, given the snapshot's applied index, says no:
 * a member never replaces its state with an older one.
 */
export async function installBackendSnapshot(
  backend: Backend, data: AsyncIterable<Buffer>, scratchDir: string,
  accept: (appliedIndex: number) => boolean = () => true,
): Promise<boolean> {
  const path = join(scratchDir, `install-${process.pid}-${Date.now()}.tmp`);
  try {
    await receiveVerified(data, path);
    return await installVerified(backend, path, accept);
  } finally {
    await rm(path, { force: true });
  }
}

/** Like installBackendSnapshot, from a snapshot file read in place (`etcd-ts snapshot restore`). */
export async function installBackendSnapshotFile(backend: Backend, path: string): Promise<void> {
  await verifySnapshotFile(path);
  await installVerified(backend, path, () => true);
}

/** Replaces the state keys with the records of a verified snapshot at `path`. */
async function installVerified(backend: Backend, path: string, accept: (appliedIndex: number) => boolean): Promise<boolean> {
  let appliedIndex = 0;
  for await (const [key, value] of readSnapshotRecords(path)) {
    if (key.equals(APPLIED_INDEX_KEY_BYTES)) appliedIndex = Number(value.readBigUInt64BE(0));
  }
  if (!accept(appliedIndex)) return false;
  await backend.write([{ type: 'put', key: RESTORE_MARKER_KEY, value: Buffer.alloc(0) }], true);
  for (const statePrefix of STATE_PREFIXES) {
    let batch: BatchOp[] = [];
    for await (const [key] of backend.iterate({ gte: statePrefix, lt: prefixEnd(statePrefix) })) {
      if (isMemberLocal(key)) continue;
      batch.push({ type: 'del', key });
      if (batch.length >= 10_000) {
        await backend.write(batch, false);
        batch = [];
      }
    }
    await backend.write(batch, false);
  }
  let batch: BatchOp[] = [];
  let batchBytes = 0;
  for await (const [key, value] of readSnapshotRecords(path)) {
    if (isMemberLocal(key)) continue;
    if (!STATE_PREFIXES.some((p) => key.subarray(0, p.length).equals(p))) continue;
    batch.push({ type: 'put', key, value });
    batchBytes += key.length + value.length;
    if (batchBytes >= INSTALL_BATCH_BYTES_MAX) {
      await backend.write(batch, false);
      batch = [];
      batchBytes = 0;
    }
  }
  batch.push({ type: 'del', key: RESTORE_MARKER_KEY });
  await backend.write(batch, true);
  return true;
}

/**
 * Hands `chunks` to `onBody` all but their last 32 bytes, and checks that those are the sha256 of
 * the rest (etcd's trailer).
 */
async function checkTrailer(chunks: AsyncIterable<Buffer>, onBody: (body: Buffer) => Promise<unknown> | void): Promise<void> {
  const hash = createHash('sha256');
  let tail: Buffer = Buffer.alloc(0);
  for await (const chunk of chunks) {
    const joined = tail.length === 0 ? chunk : Buffer.concat([tail, chunk]);
    const bodyEnd = Math.max(0, joined.length - DIGEST_BYTES);
    const body = joined.subarray(0, bodyEnd);
    hash.update(body);
    await onBody(body);
    tail = Buffer.from(joined.subarray(bodyEnd));
  }
  if (tail.length !== DIGEST_BYTES || !hash.digest().equals(tail)) {
    throw new Error('snapshot: sha256 trailer does not match the data');
  }
}

/** Writes the stream to `path` and checks its trailer. */
async function receiveVerified(data: AsyncIterable<Buffer>, path: string): Promise<void> {
  const file = await open(path, 'w');
  try {
    await checkTrailer(data, (body) => file.write(body));
  } finally {
    await file.close();
  }
}

/** Checks a snapshot file's trailer in place. */
export async function verifySnapshotFile(path: string): Promise<void> {
  await checkTrailer(createReadStream(path, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>, () => undefined);
}

/** The key-value records of a snapshot file (or of a received stream's copy), in order. */
export async function* readSnapshotRecords(path: string): AsyncGenerator<[Buffer, Buffer]> {
  let buffered: Buffer = Buffer.alloc(0);
  let magicChecked = false;
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
    buffered = buffered.length === 0 ? (chunk as Buffer) : Buffer.concat([buffered, chunk as Buffer]);
    let offset = 0;
    if (!magicChecked) {
      if (buffered.length < SNAPSHOT_MAGIC.length) continue;
      if (!buffered.subarray(0, SNAPSHOT_MAGIC.length).equals(SNAPSHOT_MAGIC)) throw new Error('snapshot: not an etcd-ts state snapshot');
      offset = SNAPSHOT_MAGIC.length;
      magicChecked = true;
    }
    for (;;) {
      if (buffered.length - offset < 4) break;
      const keyLength = buffered.readUInt32BE(offset);
      if (keyLength === END_MARK) return;
      if (buffered.length - offset < 8 + keyLength) break;
      const valueLength = buffered.readUInt32BE(offset + 4 + keyLength);
      const recordEnd = offset + 8 + keyLength + valueLength;
      if (buffered.length < recordEnd) break;
      const key = Buffer.from(buffered.subarray(offset + 4, offset + 4 + keyLength));
      const value = Buffer.from(buffered.subarray(offset + 8 + keyLength, recordEnd));
      yield [key, value];
      offset = recordEnd;
    }
    buffered = buffered.subarray(offset);
  }
  throw new Error('snapshot: truncated (no end marker)');
}
