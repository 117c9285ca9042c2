// Maintenance.Snapshot: a consistent copy of the member's state (mvcc, leases, membership, alarms,
// applied index) taken from one LevelDB iterator (an implicit LevelDB snapshot), written to a
// temporary file so the stream can report `remaining_bytes`, then streamed in 32 KiB chunks with
// etcd's trailer: the last 32 bytes are the sha256 of everything before them.
//
// Format (ours; etcd's is a bbolt file): "ETCDTS-SNAPSHOT-1\n", then per record
// u32 key length | key | u32 value length | value (big-endian lengths), then an end marker (key
// length 0xffffffff) and zero padding to a multiple of 512 bytes: etcdctl accepts a snapshot only
// if its size is a multiple of 512 (bbolt pages) plus the 32-byte digest.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Backend } from '../storage/backend.js';
import { prefix } from '../storage/keys.js';

export const SNAPSHOT_MAGIC = Buffer.from('ETCDTS-SNAPSHOT-1\n');
export const SNAPSHOT_CHUNK_BYTES = 32 * 1024;
const SNAPSHOT_ALIGN_BYTES = 512;

/** The raft log is not part of a state snapshot: it belongs to the member, not to the state. */
const EXCLUDED_PREFIXES = [prefix.raftLog, prefix.raftHardState, prefix.raftSnapshot, Buffer.from('z/')];

function excluded(key: Buffer): boolean {
  return EXCLUDED_PREFIXES.some((p) => key.length >= p.length && key.subarray(0, p.length).equals(p));
}

export async function* streamBackendSnapshot(backend: Backend, scratchDir: string): AsyncGenerator<{ remainingBytes: number; blob: Buffer }> {
  const path = join(scratchDir, `snapshot-${process.pid}-${Date.now()}-${Math.floor(Math.random() * 1e9)}.tmp`);
  const hash = createHash('sha256');
  const file = await open(path, 'w');
  try {
    let written = 0;
    let pending: Buffer[] = [SNAPSHOT_MAGIC];
    let pendingBytes = SNAPSHOT_MAGIC.length;
    const flush = async () => {
      const chunk = Buffer.concat(pending, pendingBytes);
      hash.update(chunk);
      await file.write(chunk);
      written += chunk.length;
      pending = [];
      pendingBytes = 0;
    };
    for await (const [key, value] of backend.iterate({})) {
      if (excluded(key)) continue;
      const lengths = Buffer.allocUnsafe(4);
      lengths.writeUInt32BE(key.length);
      const valueLength = Buffer.allocUnsafe(4);
      valueLength.writeUInt32BE(value.length);
      pending.push(lengths, key, valueLength, value);
      pendingBytes += 8 + key.length + value.length;
      if (pendingBytes >= 1 << 20) await flush();
    }
    const end = Buffer.alloc(4, 0xff);
    pending.push(end);
    pendingBytes += end.length;
    const bodyBytes = written + pendingBytes;
    const padding = Buffer.alloc((SNAPSHOT_ALIGN_BYTES - (bodyBytes % SNAPSHOT_ALIGN_BYTES)) % SNAPSHOT_ALIGN_BYTES);
    pending.push(padding);
    pendingBytes += padding.length;
    await flush();
    const digest = hash.digest();
    await file.write(digest);
    const { size } = await file.stat();
    await file.close();

    let sent = 0;
    for await (const chunk of createReadStream(path, { highWaterMark: SNAPSHOT_CHUNK_BYTES })) {
      const blob = chunk as Buffer;
      sent += blob.length;
      yield { remainingBytes: size - sent, blob };
    }
  } finally {
    await file.close().catch(() => undefined);
    await rm(path, { force: true });
  }
}
