// Encoded sizes of watch responses (protobuf wire format of etcdserverpb.WatchResponse), used to
// split a response into fragments no larger than --max-request-bytes when the watcher asked for it.
import type { KeyValue, MvccEvent } from '../mvcc/types.js';
import { watchStreamResponse, type WatchStreamResponse } from './types.js';
import { emptyObjectArray } from '../object-array.js';

/** A response header with 64-bit ids and a large revision and term encodes to at most this. */
const HEADER_BYTES_MAX = 2 + 11 + 11 + 11 + 11;

function varintBytes(value: number | bigint): number {
  if (typeof value === 'number' && value >= 0 && value <= 0xffffffff) {
    // The common case (revisions, versions, lengths) without bigint arithmetic.
    if (value < 0x80) return 1;
    if (value < 0x4000) return 2;
    if (value < 0x200000) return 3;
    if (value < 0x10000000) return 4;
    return 5;
  }
  let v = BigInt(value);
  if (v < 0n) return 10; // negative int64 values are sign-extended to 10 bytes
  let bytes = 1;
  while (v >= 0x80n) {
    v >>= 7n;
    bytes++;
  }
  return bytes;
}

function numberFieldBytes(value: number | bigint): number {
  return value === 0 || value === 0n ? 0 : 1 + varintBytes(value);
}

function bytesFieldBytes(length: number): number {
  return length === 0 ? 0 : 1 + varintBytes(length) + length;
}

function messageFieldBytes(length: number): number {
  return 1 + varintBytes(length) + length;
}

export function keyValueBytes(kv: KeyValue): number {
  return bytesFieldBytes(kv.key.length) + numberFieldBytes(kv.createRevision) + numberFieldBytes(kv.modRevision) +
    numberFieldBytes(kv.version) + bytesFieldBytes(kv.value.length) + numberFieldBytes(kv.lease);
}

export function eventBytes(event: MvccEvent): number {
  let bytes = numberFieldBytes(event.type) + messageFieldBytes(keyValueBytes(event.kv));
  if (event.prevKv !== undefined) bytes += messageFieldBytes(keyValueBytes(event.prevKv));
  return messageFieldBytes(bytes);
}

/** Everything but the events. */
function envelopeBytes(response: WatchStreamResponse): number {
  return messageFieldBytes(HEADER_BYTES_MAX) + numberFieldBytes(response.watchId) + (response.created ? 2 : 0) +
    (response.canceled ? 2 : 0) + numberFieldBytes(response.compactRevision) +
    bytesFieldBytes(Buffer.byteLength(response.cancelReason)) + 2;
}

export function watchResponseBytes(response: WatchStreamResponse): number {
  let bytes = envelopeBytes(response);
  for (const event of response.events) bytes += eventBytes(event);
  return bytes;
}

/**
 * Splits a response whose encoding exceeds `maxRequestBytes` into fragments filled greedily in
 * event order; every fragment holds at least one event, and all but the last carry `fragment: true`.
 */
export function fragmentResponse(response: WatchStreamResponse, maxRequestBytes: number): WatchStreamResponse[] {
  if (response.events.length < 2 || watchResponseBytes(response) < maxRequestBytes) return [response];
  const envelope = envelopeBytes(response);
  const fragments: WatchStreamResponse[] = [];
  let current = emptyObjectArray<MvccEvent>();
  let currentBytes = envelope;
  const fragmentOf = (events: MvccEvent[], fragment: boolean) => watchStreamResponse(response.revision, response.watchId, events, {
    created: response.created, canceled: response.canceled, compactRevision: response.compactRevision, cancelReason: response.cancelReason, fragment,
  });
  for (const event of response.events) {
    const bytes = eventBytes(event);
    if (current.length > 0 && currentBytes + bytes >= maxRequestBytes) {
      fragments.push(fragmentOf(current, true));
      current = emptyObjectArray<MvccEvent>();
      currentBytes = envelope;
    }
    current.push(event);
    currentBytes += bytes;
  }
  fragments.push(fragmentOf(current, false));
  return fragments;
}
