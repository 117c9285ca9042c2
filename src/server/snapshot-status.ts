// `etcd-ts snapshot status`: what etcdutl's snapshot status reports of a snapshot file, for etcd-ts's
// format: a hash of its records, the store's revision, the number of records ("total keys": etcd
// counts every bbolt key, history included; here every stored record) and the file's size. The
// sha256 trailer is checked first, as a restore would. The hash is a CRC-32 of every record's key and
// value: stable for the same file, not comparable with etcd's (another layout).
import { statSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { HISTORY_PREFIX, META_COMPACT_SCHEDULED } from '../mvcc/store.js';
import { readSnapshotRecords, verifySnapshotFile } from './snapshot-install.js';

export interface SnapshotStatus {
  hash: number;
  revision: number;
  totalKey: number;
  totalSize: number;
}

export async function snapshotStatus(path: string): Promise<SnapshotStatus> {
  const totalSize = statSync(path).size;
  await verifySnapshotFile(path);
  let hash = 0;
  let totalKey = 0;
  let revision = 1;
  for await (const [key, value] of readSnapshotRecords(path)) {
    hash = crc32(value, crc32(key, hash));
    totalKey++;
    if (key.length >= HISTORY_PREFIX.length + 8 && key.subarray(0, HISTORY_PREFIX.length).equals(HISTORY_PREFIX)) {
      // History keys start with their main revision (big-endian); the last one is the store's revision.
      revision = Math.max(revision, Number(key.readBigUInt64BE(HISTORY_PREFIX.length)));
    } else if (key.equals(META_COMPACT_SCHEDULED) && value.length === 8) {
      revision = Math.max(revision, Number(value.readBigUInt64BE(0)));
    }
  }
  return { hash: hash >>> 0, revision, totalKey, totalSize };
}

/** Bytes as go-humanize's Bytes writes them (SI units: "2.1 MB", "20 kB", "512 B"). */
export function humanBytes(bytes: number): string {
  if (bytes < 10) return `${bytes} B`;
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  const exponent = Math.min(Math.floor(Math.log(bytes) / Math.log(1000)), units.length - 1);
  const value = Math.floor((bytes / 1000 ** exponent) * 10 + 0.5) / 10;
  return `${value < 10 ? value.toFixed(1) : value.toFixed(0)} ${units[exponent]}`;
}
