// Owns the stored form of a KeyValue: the value of every history record under `m/k/<revision>`.
//
// A fixed 37-byte header then the key and the value, so decoding is a handful of integer reads and
// two subarrays (no varints, no allocation beyond the result object). The encoding is
// deterministic: the same KeyValue always gives the same bytes, which hashKv relies on to agree
// across members.
//
//   0      format tag (1)
//   1..8   create_revision   (uint53, two big-endian uint32 halves)
//   9..16  mod_revision
//   17..24 version
//   25..32 lease             (int64 big-endian)
//   33..36 key length        (uint32 big-endian)
//   37..   key, then value (the rest)
import { readUint53BE, writeUint53BE } from '../storage/uint53.js';
import type { KeyValue } from './types.js';

const FORMAT_TAG = 1;
/** Bytes before the key in an encoded record: the value starts at HEADER_BYTES + key length. */
const HEADER_BYTES = 37;

export function encodeKeyValue(kv: KeyValue): Buffer {
  const out = Buffer.allocUnsafe(encodedKeyValueLength(kv));
  encodeKeyValueInto(kv, out, 0);
  return out;
}

/** Bytes encodeKeyValue(kv) takes. */
export function encodedKeyValueLength(kv: KeyValue): number {
  return HEADER_BYTES + kv.key.length + kv.value.length;
}

/** Writes encodeKeyValue(kv) into `target` at `offset` (which has room for encodedKeyValueLength(kv)). */
export function encodeKeyValueInto(kv: KeyValue, target: Buffer, offset: number): void {
  target[offset] = FORMAT_TAG;
  writeUint53BE(target, offset + 1, kv.createRevision);
  writeUint53BE(target, offset + 9, kv.modRevision);
  writeUint53BE(target, offset + 17, kv.version);
  // No lease (nearly every put): zeros, where writeBigInt64BE makes bigints even for 0n.
  if (kv.lease === 0n) {
    target.writeUInt32BE(0, offset + 25);
    target.writeUInt32BE(0, offset + 29);
  } else {
    target.writeBigInt64BE(kv.lease, offset + 25);
  }
  target.writeUInt32BE(kv.key.length, offset + 33);
  // TypedArray set: Buffer's copy() checks its arguments in JS first, for no gain here.
  target.set(kv.key, offset + HEADER_BYTES);
  target.set(kv.value, offset + HEADER_BYTES + kv.key.length);
}

/** Checks the header of a stored record; returns its key length. */
function checkedKeyLength(bytes: Buffer): number {
  if (bytes.length < HEADER_BYTES || bytes[0] !== FORMAT_TAG) {
    throw new Error(`mvcc: corrupt stored key-value (length ${bytes.length}, tag ${bytes[0]})`);
  }
  const keyLength = bytes.readUInt32BE(33);
  if (HEADER_BYTES + keyLength > bytes.length) throw new Error('mvcc: corrupt stored key-value (key length)');
  return keyLength;
}

export function decodeKeyValue(bytes: Buffer): KeyValue {
  const keyLength = checkedKeyLength(bytes);
  return {
    key: bytes.subarray(HEADER_BYTES, HEADER_BYTES + keyLength),
    createRevision: readUint53BE(bytes, 1),
    modRevision: readUint53BE(bytes, 9),
    version: readUint53BE(bytes, 17),
    lease: bytes.readBigInt64BE(25),
    value: bytes.subarray(HEADER_BYTES + keyLength),
  };
}

/**
 * The key of a stored record as a binary (latin1) string, the key index's map key, after the
 * checks decodeKeyValue makes; for start-up, which decodes the rest only when it is read.
 */
export function decodeBinaryKey(bytes: Buffer): string {
  const keyLength = checkedKeyLength(bytes);
  return bytes.toString('latin1', HEADER_BYTES, HEADER_BYTES + keyLength);
}

/** A stored record's create_revision, without decoding the rest (a put reads it from the value it replaces). */
export function storedCreateRevision(bytes: Buffer): number {
  return readUint53BE(bytes, 1);
}

/** A stored record's version, without decoding the rest. */
export function storedVersion(bytes: Buffer): number {
  return readUint53BE(bytes, 17);
}

/** A stored record's lease id (0n for none, made without bigint arithmetic). */
export function storedLease(bytes: Buffer): bigint {
  return hasStoredLease(bytes) ? bytes.readBigInt64BE(25) : 0n;
}

/** A stored record's value: a view of it, no copy. */
export function storedValue(bytes: Buffer): Buffer {
  return bytes.subarray(HEADER_BYTES + checkedKeyLength(bytes));
}

/** Whether a stored record has a lease, without making the bigint. */
export function hasStoredLease(bytes: Buffer): boolean {
  return bytes.readUInt32BE(25) !== 0 || bytes.readUInt32BE(29) !== 0;
}

/** The key of a stored record, without decoding the rest (compaction scans use it). */
export function decodeKeyOnly(bytes: Buffer): Buffer {
  const keyLength = bytes.readUInt32BE(33);
  return bytes.subarray(HEADER_BYTES, HEADER_BYTES + keyLength);
}
