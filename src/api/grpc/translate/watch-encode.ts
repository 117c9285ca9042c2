// WatchResponse straight to protobuf bytes, for the gRPC Watch stream. One put to a key with N
// watchers is N responses that differ only in header and watch_id: each event is encoded once (its
// bytes are kept beside the event object while anything still holds the event) and copied into
// every response that carries it, and a stream's header is re-encoded only when revision or term
// change. Zero values are left out, as etcd's Go encoder does (proto3); the JSON gateway keeps
// using watchResponseToWire.
import { ByteArena } from '../../../byte-arena.js';
import type { KeyValue, MvccEvent } from '../../../mvcc/types.js';
import type { ResponseHeader } from '../../../server/server-api.js';
import type { WatchStreamResponse } from '../../../watch/types.js';

/** Field tags: (field number << 3) | wire type (0 varint, 2 length-delimited). */
const tag = {
  headerClusterId: 0x08, headerMemberId: 0x10, headerRevision: 0x18, headerRaftTerm: 0x20,
  kvKey: 0x0a, kvCreateRevision: 0x10, kvModRevision: 0x18, kvVersion: 0x20, kvValue: 0x2a, kvLease: 0x30,
  eventType: 0x08, eventKv: 0x12, eventPrevKv: 0x1a,
  responseHeader: 0x0a, responseWatchId: 0x10, responseCreated: 0x18, responseCanceled: 0x20,
  responseCompactRevision: 0x28, responseCancelReason: 0x32, responseFragment: 0x38, responseEvents: 0x5a,
} as const;

/** Varint length of a non-negative safe integer. */
export function varintBytes(value: number): number {
  let bytes = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    bytes++;
  }
  return bytes;
}

export function writeVarint(buffer: Buffer, offset: number, value: number): number {
  while (value >= 0x80) {
    buffer[offset++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  buffer[offset++] = value;
  return offset;
}

const uint32Mask = 0xffff_ffffn;

/**
 * Varint length of an int64/uint64 beyond the safe-integer fast path (negative values as 64-bit
 * two's complement), from its two 32-bit halves: no Buffer or array per value (lease ids are
 * random int63s, so every keep-alive response and leased key has one).
 */
function bigVarintBytes(value: bigint): number {
  const v = BigInt.asUintN(64, value);
  const high = Number(v >> 32n);
  if (high === 0) return varintBytes(Number(v & uint32Mask));
  return Math.ceil((64 - Math.clz32(high)) / 7);
}

function writeBigVarint(buffer: Buffer, offset: number, value: bigint): number {
  const v = BigInt.asUintN(64, value);
  let high = Number(v >> 32n);
  let low = Number(v & uint32Mask);
  while (high !== 0 || low >= 0x80) {
    buffer[offset++] = (low & 0x7f) | 0x80;
    low = ((low >>> 7) | (high << 25)) >>> 0;
    high >>>= 7;
  }
  buffer[offset++] = low;
  return offset;
}

/**
 * A scalar int64 field: numbers that are non-negative safe integers take the fast path; anything
 * else (negative ids, lease ids beyond 2^53) goes through bigint.
 */
type Int64Value = number | bigint;

export function int64FieldBytes(value: Int64Value): number {
  if (typeof value === 'number') {
    if (value === 0) return 0;
    if (value > 0 && Number.isSafeInteger(value)) return 1 + varintBytes(value);
    return 1 + bigVarintBytes(BigInt(value));
  }
  if (value === 0n) return 0;
  if (value > 0n && value <= BigInt(Number.MAX_SAFE_INTEGER)) return 1 + varintBytes(Number(value));
  return 1 + bigVarintBytes(value);
}

export function writeInt64Field(buffer: Buffer, offset: number, fieldTag: number, value: Int64Value): number {
  if (value === 0 || value === 0n) return offset;
  buffer[offset++] = fieldTag;
  if (typeof value === 'number' && value > 0 && Number.isSafeInteger(value)) return writeVarint(buffer, offset, value);
  if (typeof value === 'bigint' && value > 0n && value <= BigInt(Number.MAX_SAFE_INTEGER)) return writeVarint(buffer, offset, Number(value));
  return writeBigVarint(buffer, offset, BigInt(value));
}

function bytesFieldBytes(length: number): number {
  return length === 0 ? 0 : 1 + varintBytes(length) + length;
}

function writeBytesField(buffer: Buffer, offset: number, fieldTag: number, bytes: Buffer): number {
  if (bytes.length === 0) return offset;
  buffer[offset++] = fieldTag;
  offset = writeVarint(buffer, offset, bytes.length);
  bytes.copy(buffer, offset);
  return offset + bytes.length;
}

export function keyValueBytes(kv: KeyValue): number {
  return bytesFieldBytes(kv.key.length) + int64FieldBytes(kv.createRevision) + int64FieldBytes(kv.modRevision) +
    int64FieldBytes(kv.version) + bytesFieldBytes(kv.value.length) + int64FieldBytes(kv.lease);
}

export function writeKeyValue(buffer: Buffer, offset: number, kv: KeyValue): number {
  offset = writeBytesField(buffer, offset, tag.kvKey, kv.key);
  offset = writeInt64Field(buffer, offset, tag.kvCreateRevision, kv.createRevision);
  offset = writeInt64Field(buffer, offset, tag.kvModRevision, kv.modRevision);
  offset = writeInt64Field(buffer, offset, tag.kvVersion, kv.version);
  offset = writeBytesField(buffer, offset, tag.kvValue, kv.value);
  return writeInt64Field(buffer, offset, tag.kvLease, kv.lease);
}

/**
 * Where encoded event fields live: each stays as long as its event, in the history cache for ~500
 * revisions, and from Node's buffer pool each would pin an 8 KiB slab of its own (byte-arena.ts).
 */
const eventFieldArena = new ByteArena(64 * 1024);

/** The `events` field (tag, length, Event message) for one event. */
function encodeEventField(event: MvccEvent): Buffer {
  const kvBytes = keyValueBytes(event.kv);
  const prevKvBytes = event.prevKv === undefined ? -1 : keyValueBytes(event.prevKv);
  // kv is always written, even when empty, as etcd's events always carry one.
  let bodyBytes = int64FieldBytes(event.type) + 1 + varintBytes(kvBytes) + kvBytes;
  if (prevKvBytes >= 0) bodyBytes += 1 + varintBytes(prevKvBytes) + prevKvBytes;
  const field = eventFieldArena.allocate(1 + varintBytes(bodyBytes) + bodyBytes);
  let offset = 0;
  field[offset++] = tag.responseEvents;
  offset = writeVarint(field, offset, bodyBytes);
  offset = writeInt64Field(field, offset, tag.eventType, event.type);
  field[offset++] = tag.eventKv;
  offset = writeVarint(field, offset, kvBytes);
  offset = writeKeyValue(field, offset, event.kv);
  if (event.prevKv !== undefined) {
    field[offset++] = tag.eventPrevKv;
    offset = writeVarint(field, offset, prevKvBytes);
    offset = writeKeyValue(field, offset, event.prevKv);
  }
  if (offset !== field.length) throw new Error(`watch-encode: event encoded to ${offset} bytes, sized ${field.length}`);
  return field;
}

/**
 * Encoded `events` fields by event object. The hub hands the same event objects to every watcher
 * of a revision (and the same prevKv-less copy to every watcher that did not ask for prev_kv), so
 * a fan-out to N watchers encodes each event once. Events are immutable once notified.
 */
const eventFields = new WeakMap<MvccEvent, Buffer>();

export function eventField(event: MvccEvent): Buffer {
  let field = eventFields.get(event);
  if (field === undefined) {
    field = encodeEventField(event);
    eventFields.set(event, field);
  }
  return field;
}

/**
 * The `header` field of a stream's responses, re-encoded only when the header changes. The
 * cluster and member ids never change on a member, and as random uint64s they take the bigint
 * path (a handful of bigints per encode): their bytes are kept, and a new revision or term
 * re-encodes only those two numbers. Every put answer carries a new revision.
 */
export class WatchHeaderEncoder {
  private clusterId = -1n;
  private memberId = -1n;
  /** cluster_id and member_id fields, encoded. */
  private idFields: Buffer = Buffer.alloc(0);
  private revision = -1;
  private raftTerm = -1;
  private field: Buffer = Buffer.alloc(0);

  encode(header: ResponseHeader): Buffer {
    if (header.revision === this.revision && header.raftTerm === this.raftTerm &&
      header.clusterId === this.clusterId && header.memberId === this.memberId) return this.field;
    if (header.clusterId !== this.clusterId || header.memberId !== this.memberId) {
      const idFields = Buffer.allocUnsafe(int64FieldBytes(header.clusterId) + int64FieldBytes(header.memberId));
      writeInt64Field(idFields, writeInt64Field(idFields, 0, tag.headerClusterId, header.clusterId), tag.headerMemberId, header.memberId);
      this.idFields = idFields;
      this.clusterId = header.clusterId;
      this.memberId = header.memberId;
    }
    const idFields = this.idFields;
    const bodyBytes = idFields.length + int64FieldBytes(header.revision) + int64FieldBytes(header.raftTerm);
    const field = Buffer.allocUnsafe(1 + varintBytes(bodyBytes) + bodyBytes);
    let offset = 0;
    field[offset++] = tag.responseHeader;
    offset = writeVarint(field, offset, bodyBytes);
    offset += idFields.copy(field, offset);
    offset = writeInt64Field(field, offset, tag.headerRevision, header.revision);
    offset = writeInt64Field(field, offset, tag.headerRaftTerm, header.raftTerm);
    this.revision = header.revision;
    this.raftTerm = header.raftTerm;
    this.field = field;
    return field;
  }
}

/** Bytes of the WatchResponse message (without gRPC's length prefix) that carries `headerField`. */
export function watchResponseMessageBytes(response: WatchStreamResponse, headerField: Buffer): number {
  let bytes = headerField.length + int64FieldBytes(response.watchId) + (response.created ? 2 : 0) +
    (response.canceled ? 2 : 0) + int64FieldBytes(response.compactRevision) +
    (response.cancelReason.length === 0 ? 0 : bytesFieldBytes(Buffer.byteLength(response.cancelReason, 'utf8'))) +
    (response.fragment ? 2 : 0);
  for (const event of response.events) bytes += eventField(event).length;
  return bytes;
}

/**
 * Writes the WatchResponse message at `offset` of `out` (which has watchResponseMessageBytes of room
 * there), its events from the per-event cache; returns the offset after it.
 */
export function encodeWatchResponseInto(response: WatchStreamResponse, headerField: Buffer, out: Buffer, offset: number): number {
  offset += headerField.copy(out, offset);
  offset = writeInt64Field(out, offset, tag.responseWatchId, response.watchId);
  if (response.created) { out[offset++] = tag.responseCreated; out[offset++] = 1; }
  if (response.canceled) { out[offset++] = tag.responseCanceled; out[offset++] = 1; }
  offset = writeInt64Field(out, offset, tag.responseCompactRevision, response.compactRevision);
  if (response.cancelReason.length > 0) offset = writeBytesField(out, offset, tag.responseCancelReason, Buffer.from(response.cancelReason, 'utf8'));
  if (response.fragment) { out[offset++] = tag.responseFragment; out[offset++] = 1; }
  for (const event of response.events) offset += eventField(event).copy(out, offset);
  return offset;
}

/** The WatchResponse message (without gRPC's length prefix) in a Buffer of its own. */
export function encodeWatchResponse(response: WatchStreamResponse, headerField: Buffer): Buffer {
  const bytes = watchResponseMessageBytes(response, headerField);
  const message = Buffer.allocUnsafe(bytes);
  const end = encodeWatchResponseInto(response, headerField, message, 0);
  if (end !== bytes) throw new Error(`watch-encode: response encoded to ${end} bytes, sized ${bytes}`);
  return message;
}
