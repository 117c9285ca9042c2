// Checked readers for decoded wire objects and the shared wire shapes (ResponseHeader, KeyValue).
// Wire objects are what proto-loader hands out with keepCase, longs as strings, bytes as Buffers
// and enums as numbers; the HTTP gateway will hand the same shapes, parsed from JSON, to these
// functions, so every reader checks the type it is given instead of trusting it.
import type { KeyValue, MvccEvent } from '../../../mvcc/types.js';
import type { ResponseHeader } from '../../../server/server-api.js';

/** A wire message whose shape or values cannot be a valid request: answered INVALID_ARGUMENT. */
export class WireFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireFormatError';
  }
}

export type WireObject = Record<string, unknown>;

/** 64-bit wire values travel as decimal strings (or numbers from JSON): this is what we write. */
export type WireInt64 = string | number;

const int64Min = -(1n << 63n);
const int64Max = (1n << 63n) - 1n;
const uint64Max = (1n << 64n) - 1n;
const integerText = /^-?\d{1,20}$/;

export function wireObject(value: unknown, field: string): WireObject {
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value) || Buffer.isBuffer(value)) {
    throw new WireFormatError(`${field}: expected a message`);
  }
  return value as WireObject;
}

export function wireBytes(value: unknown, field: string): Buffer {
  if (value === undefined || value === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw new WireFormatError(`${field}: expected bytes`);
}

export function wireString(value: unknown, field: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new WireFormatError(`${field}: expected a string`);
  return value;
}

export function wireBool(value: unknown, field: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw new WireFormatError(`${field}: expected a boolean`);
  return value;
}

function wireInteger(value: unknown, field: string, min: bigint, max: bigint): bigint {
  if (value === undefined || value === null) return 0n;
  let parsed: bigint;
  if (typeof value === 'string' && integerText.test(value)) parsed = BigInt(value);
  else if (typeof value === 'number' && Number.isInteger(value)) parsed = BigInt(value);
  else if (typeof value === 'bigint') parsed = value;
  else throw new WireFormatError(`${field}: expected an integer`);
  if (parsed < min || parsed > max) throw new WireFormatError(`${field}: ${parsed} out of range`);
  return parsed;
}

/** int64 that the internal model keeps as a number (revisions, limits, TTLs). */
export function wireInt64Number(value: unknown, field: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  // Values beyond 2^53 lose precision, but only magnitudes no real revision or TTL reaches: they
  // still compare as "future revision" or "too large TTL" downstream, which is etcd's answer.
  return Number(wireInteger(value, field, int64Min, int64Max));
}

export function wireInt64Bigint(value: unknown, field: string): bigint {
  return wireInteger(value, field, int64Min, int64Max);
}

export function wireUint64Bigint(value: unknown, field: string): bigint {
  return wireInteger(value, field, 0n, uint64Max);
}

/** Enums arrive as numbers; proto3 enums are open, so range checks belong to the caller. */
export function wireEnum(value: unknown, field: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new WireFormatError(`${field}: expected an enum number`);
  return value;
}

export function wireArray(value: unknown, field: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new WireFormatError(`${field}: expected a list`);
  return value;
}

/** bigint to the wire: the decimal string protobufjs parses back to the exact 64 bits. */
export function int64ToWire(value: bigint): WireInt64 {
  return value === 0n ? 0 : value.toString();
}

/** All four set at the top of an answer; a txn's nested answers set only their revision (etcd's). */
export interface WireResponseHeader {
  cluster_id?: WireInt64;
  member_id?: WireInt64;
  revision?: number;
  raft_term?: number;
}

export function headerToWire(header: ResponseHeader): WireResponseHeader {
  return {
    cluster_id: int64ToWire(header.clusterId),
    member_id: int64ToWire(header.memberId),
    revision: header.revision,
    raft_term: header.raftTerm,
  };
}

export interface WireKeyValue {
  key: Buffer;
  create_revision: number;
  mod_revision: number;
  version: number;
  value: Buffer;
  lease: WireInt64;
}

export function keyValueToWire(kv: KeyValue): WireKeyValue {
  return {
    key: kv.key,
    create_revision: kv.createRevision,
    mod_revision: kv.modRevision,
    version: kv.version,
    value: kv.value,
    lease: int64ToWire(kv.lease),
  };
}

export interface WireEvent {
  type: number;
  kv: WireKeyValue;
  prev_kv?: WireKeyValue;
}

export function eventToWire(event: MvccEvent): WireEvent {
  const wire: WireEvent = { type: event.type, kv: keyValueToWire(event.kv) };
  if (event.prevKv) wire.prev_kv = keyValueToWire(event.prevKv);
  return wire;
}
