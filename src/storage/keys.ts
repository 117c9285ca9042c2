// The LevelDB key layout. One prefix per owner so that each layer's data is a contiguous range.
//   r/...   raft, before the write-ahead log: read once at start and moved (server/raft-wal)
//   m/...   mvcc: revision-keyed key-values and mvcc meta            (mvcc)
//   l/...   leases                                                   (lease)
//   c/...   cluster membership                                      (server/membership)
//   a/...   alarms                                                  (server)
//   u/...   auth: users, roles, enabled flag, auth revision          (auth)
//   s/...   server meta: applied index, consistent term             (server/apply)
//   z/...   scratch (the sync marker)
// Numbers in keys are fixed-width big-endian so that byte order equals numeric order.

export const prefix = {
  raftLog: Buffer.from('r/l/'),
  raftHardState: Buffer.from('r/hs'),
  raftSnapshot: Buffer.from('r/snap'),
  mvcc: Buffer.from('m/'),
  lease: Buffer.from('l/'),
  cluster: Buffer.from('c/'),
  alarm: Buffer.from('a/'),
  auth: Buffer.from('u/'),
  server: Buffer.from('s/'),
} as const;

/** The first key after every key that starts with `p`. */
export function prefixEnd(p: Buffer): Buffer {
  const end = Buffer.from(p);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0xff, 0xff, 0xff, 0xff]);
}

export function uint64Key(p: Buffer, value: number | bigint): Buffer {
  const key = Buffer.allocUnsafe(p.length + 8);
  p.copy(key, 0);
  key.writeBigUInt64BE(BigInt(value), p.length);
  return key;
}
