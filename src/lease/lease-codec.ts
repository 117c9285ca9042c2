// The durable form of one lease under `prefix.lease`: key = prefix + id (uint64 BE), value = format
// version, granted TTL and the last checkpointed remaining TTL. Attached keys are not stored here:
// mvcc knows each key's lease and re-attaches on open.
import { prefix, uint64Key } from '../storage/keys.js';

const FORMAT_VERSION = 1;
const VALUE_BYTES = 1 + 8 + 8;

export interface StoredLease {
  id: bigint;
  ttlSeconds: number;
  /** 0: no checkpoint, the full TTL applies. */
  remainingTtlSeconds: number;
}

/** Lease ids are int64 on the wire (clients may pick negative ones); the key holds their two's complement. */
export function leaseKey(id: bigint): Buffer {
  return uint64Key(prefix.lease, BigInt.asUintN(64, id));
}

export function encodeLease(lease: StoredLease): Buffer {
  const value = Buffer.alloc(VALUE_BYTES);
  value.writeUInt8(FORMAT_VERSION, 0);
  value.writeBigInt64BE(BigInt(lease.ttlSeconds), 1);
  value.writeBigInt64BE(BigInt(lease.remainingTtlSeconds), 9);
  return value;
}

export function decodeLease(key: Buffer, value: Buffer): StoredLease {
  if (key.length !== prefix.lease.length + 8 || !key.subarray(0, prefix.lease.length).equals(prefix.lease)) {
    throw new Error(`lease record: bad key ${key.toString('hex')}`);
  }
  if (value.length !== VALUE_BYTES || value.readUInt8(0) !== FORMAT_VERSION) {
    throw new Error(`lease record: bad value ${value.toString('hex')} for key ${key.toString('hex')}`);
  }
  const id = key.readBigInt64BE(prefix.lease.length);
  const ttlSeconds = Number(value.readBigInt64BE(1));
  const remainingTtlSeconds = Number(value.readBigInt64BE(9));
  if (id === 0n || ttlSeconds <= 0 || remainingTtlSeconds < 0) {
    throw new Error(`lease record: invalid lease ${id} ttl ${ttlSeconds} remaining ${remainingTtlSeconds}`);
  }
  return { id, ttlSeconds, remainingTtlSeconds };
}
