// LeaseKeepAliveRequest from protobuf bytes and LeaseKeepAliveResponse to them, by hand, for the
// gRPC LeaseKeepAlive stream. clientv3's KeepAliveOnce, which etcd's benchmark uses, opens a
// stream per keep-alive; protobufjs's object conversion with the lease id as a Long and then a
// string cost more than the renewal itself (~9% of the server's CPU in the lease-keepalive bench).
// The JSON gateway keeps using leaseKeepAliveResponseToWire.
import type { ResponseHeader } from '../../../server/server-api.js';
import { int64FieldBytes, WatchHeaderEncoder, writeInt64Field } from './watch-encode.js';

const tag = { responseId: 0x10, responseTtl: 0x18 } as const;

/** Thrown for bytes that are not a LeaseKeepAliveRequest; the caller turns it into MalformedRequest. */
export class LeaseRequestDecodeError extends Error {}

/**
 * The request's ID (field 1, int64), as the wire object leaseIdFromWire reads: `{ ID }`. Other
 * fields are skipped by wire type and a repeated ID keeps the last, as protobuf decoders do.
 */
export function decodeLeaseKeepAliveRequest(bytes: Buffer): { ID: bigint } {
  let id = 0n;
  let offset = 0;
  const readVarint = (): bigint => {
    let value = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (offset >= bytes.length) throw new LeaseRequestDecodeError('truncated varint');
      const byte = bytes[offset++]!;
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return value;
    }
    throw new LeaseRequestDecodeError('varint longer than 10 bytes');
  };
  while (offset < bytes.length) {
    const key = Number(readVarint());
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    if (field === 0) throw new LeaseRequestDecodeError('field number 0');
    if (wireType === 0) {
      const value = readVarint();
      if (field === 1) id = BigInt.asIntN(64, value);
    } else if (wireType === 1 || wireType === 5) {
      offset += wireType === 1 ? 8 : 4;
    } else if (wireType === 2) {
      // Read first: `offset += readVarint()` would add to the offset from before the length.
      const length = Number(readVarint());
      offset += length;
    } else {
      throw new LeaseRequestDecodeError(`wire type ${wireType}`);
    }
    if (offset > bytes.length) throw new LeaseRequestDecodeError('truncated field');
    if (field === 1 && wireType !== 0) throw new LeaseRequestDecodeError('ID: wrong wire type');
  }
  return { ID: id };
}

/** Header fields are shared by every stream: the header repeats until the revision or term moves. */
const headerEncoder = new WatchHeaderEncoder();

/** The LeaseKeepAliveResponse message (without gRPC's length prefix); zero values left out, as etcd's encoder does. */
export function encodeLeaseKeepAliveResponse(result: { header: ResponseHeader; id: bigint; ttl: number }): Buffer {
  const header = headerEncoder.encode(result.header);
  const out = Buffer.allocUnsafe(header.length + int64FieldBytes(result.id) + int64FieldBytes(result.ttl));
  header.copy(out, 0);
  let offset = writeInt64Field(out, header.length, tag.responseId, result.id);
  offset = writeInt64Field(out, offset, tag.responseTtl, result.ttl);
  if (offset !== out.length) throw new Error(`lease-encode: response encoded to ${offset} bytes, sized ${out.length}`);
  return out;
}
