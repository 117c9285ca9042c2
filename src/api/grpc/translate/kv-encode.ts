// RangeResponse and PutResponse straight to protobuf bytes, for the gRPC KV service: the two
// calls of etcd's published benchmarks. The object path (rangeResponseToWire, then protobufjs's
// fromObject, with int64 header fields through Long) cost ~3% of a put's and a range's server
// time at 1 conn/1 client, where the server's time is the latency. Zero values are left out, as
// etcd's Go encoder does; the JSON gateway keeps using the object path.
import type { KeyValue, PutResult, RangeResult } from '../../../mvcc/types.js';
import type { ResponseHeader } from '../../../server/server-api.js';
import { int64FieldBytes, keyValueBytes, varintBytes, WatchHeaderEncoder, writeInt64Field, writeKeyValue, writeVarint } from './watch-encode.js';

const tag = { kvs: 0x12, more: 0x18, count: 0x20, prevKv: 0x12 } as const;

/** Header fields are shared by every call: the header repeats until the revision or term moves. */
const headerEncoder = new WatchHeaderEncoder();

function messageFieldBytes(bodyBytes: number): number {
  return 1 + varintBytes(bodyBytes) + bodyBytes;
}

function writeMessageField(out: Buffer, offset: number, fieldTag: number, kv: KeyValue, bodyBytes: number): number {
  out[offset++] = fieldTag;
  offset = writeVarint(out, offset, bodyBytes);
  return writeKeyValue(out, offset, kv);
}

export function encodeRangeResponse(header: ResponseHeader, result: RangeResult): Buffer {
  const headerField = headerEncoder.encode(header);
  const kvBytes = result.kvs.map(keyValueBytes);
  let size = headerField.length + (result.more ? 2 : 0) + int64FieldBytes(result.count);
  for (const bytes of kvBytes) size += messageFieldBytes(bytes);
  const out = Buffer.allocUnsafe(size);
  headerField.copy(out, 0);
  let offset = headerField.length;
  for (let i = 0; i < kvBytes.length; i++) offset = writeMessageField(out, offset, tag.kvs, result.kvs[i]!, kvBytes[i]!);
  if (result.more) {
    out[offset++] = tag.more;
    out[offset++] = 1;
  }
  offset = writeInt64Field(out, offset, tag.count, result.count);
  if (offset !== size) throw new Error(`kv-encode: range response encoded to ${offset} bytes, sized ${size}`);
  return out;
}

/** The server's answer to a put, as KV.Put's handler hands it to the call (definitions.ts encodes it). */
export interface PutAnswer {
  header: ResponseHeader;
  result: PutResult;
}

/** The server's answer (it has `result`), not a wire PutResponse object (header and prev_kv). */
export function isPutAnswer(value: unknown): value is PutAnswer {
  return typeof value === 'object' && value !== null && 'result' in value;
}

export function encodePutResponse(header: ResponseHeader, result: PutResult): Buffer {
  const headerField = headerEncoder.encode(header);
  // Without prev_kv the response is its header field alone. The encoder's field is a buffer of its
  // own that nothing writes to after encode(), so it is the answer as it is: no copy per put.
  const prevKv = result.prevKv;
  if (prevKv === undefined) return headerField;
  const prevKvBytes = keyValueBytes(prevKv);
  const size = headerField.length + messageFieldBytes(prevKvBytes);
  const out = Buffer.allocUnsafe(size);
  headerField.copy(out, 0);
  const offset = writeMessageField(out, headerField.length, tag.prevKv, prevKv, prevKvBytes);
  if (offset !== size) throw new Error(`kv-encode: put response encoded to ${offset} bytes, sized ${size}`);
  return out;
}
