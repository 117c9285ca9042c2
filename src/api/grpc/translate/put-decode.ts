// PutRequest decoded by hand, straight from the wire into the request the server takes: the write
// path under load. The generic path is three passes over each put (the wire-type check,
// protobufjs's decode and toObject with the lease as a decimal string, then the translation into
// a PutRequest); this is one, with the same rules:
// - a known field with another wire type, a truncated field or field number 0 is refused (Go's
//   decoder refuses them too; the caller answers INTERNAL as for any undecodable request);
// - unknown fields are skipped by their wire type, groups included;
// - a field that repeats keeps its last value; bools are any non-zero varint; key and value are
//   views of the request's bytes, as protobufjs's are.
import type { PutRequest } from '../../../mvcc/types.js';
import { messageNestingDepthMax } from '../wire-check.js';

export class PutRequestDecodeError extends Error {
  constructor(message: string) {
    super(`PutRequest: ${message}`);
    this.name = 'PutRequestDecodeError';
  }
}

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const START_GROUP = 3;
const END_GROUP = 4;
const FIXED32 = 5;

const EMPTY = Buffer.alloc(0);

/** Field number → the wire type PutRequest declares for it (rpc.proto). */
const declaredWireType = [-1, LENGTH_DELIMITED, LENGTH_DELIMITED, VARINT, VARINT, VARINT, VARINT];

class Cursor {
  offset = 0;
  constructor(readonly bytes: Buffer) {}

  /** A varint that must fit 32 bits (tags, lengths). */
  uint32(): number {
    const { bytes } = this;
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.offset >= bytes.length) throw new PutRequestDecodeError('truncated varint');
      const byte = bytes[this.offset++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) {
        if (value > 0xffffffff) throw new PutRequestDecodeError('varint over 32 bits');
        return value;
      }
    }
    throw new PutRequestDecodeError('varint over 32 bits');
  }

  /** An int64 varint (up to 10 bytes), two's complement. Small values stay off the BigInt path. */
  int64(): bigint {
    const { bytes } = this;
    const start = this.offset;
    let low = 0;
    for (let i = 0; i < 7; i++) {
      if (this.offset >= bytes.length) throw new PutRequestDecodeError('truncated varint');
      const byte = bytes[this.offset++]!;
      low += (byte & 0x7f) * 2 ** (7 * i);
      if (byte < 0x80) return BigInt(low);
    }
    this.offset = start;
    let value = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.offset >= bytes.length) throw new PutRequestDecodeError('truncated varint');
      const byte = bytes[this.offset++]!;
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return BigInt.asIntN(64, value);
    }
    throw new PutRequestDecodeError('varint longer than 10 bytes');
  }

  /** A varint read for its truth only (bools), or skipped. */
  nonZeroVarint(): boolean {
    const { bytes } = this;
    let nonZero = false;
    for (let i = 0; i < 10; i++) {
      if (this.offset >= bytes.length) throw new PutRequestDecodeError('truncated varint');
      const byte = bytes[this.offset++]!;
      if ((byte & 0x7f) !== 0) nonZero = true;
      if (byte < 0x80) return nonZero;
    }
    throw new PutRequestDecodeError('varint longer than 10 bytes');
  }

  lengthDelimited(): Buffer {
    const length = this.uint32();
    const end = this.offset + length;
    if (end > this.bytes.length) throw new PutRequestDecodeError('truncated field');
    const view = length === 0 ? EMPTY : this.bytes.subarray(this.offset, end);
    this.offset = end;
    return view;
  }

  skip(wireType: number, fieldNumber: number, depth: number): void {
    switch (wireType) {
      case VARINT: this.nonZeroVarint(); return;
      case FIXED64: this.advance(8); return;
      case LENGTH_DELIMITED: this.lengthDelimited(); return;
      case FIXED32: this.advance(4); return;
      case START_GROUP: {
        if (depth >= messageNestingDepthMax) throw new PutRequestDecodeError(`groups nested deeper than ${messageNestingDepthMax}`);
        for (;;) {
          const tag = this.uint32();
          const innerWireType = tag & 7;
          if (innerWireType === END_GROUP) {
            if (tag >>> 3 !== fieldNumber) throw new PutRequestDecodeError('mismatched end of group');
            return;
          }
          if (tag >>> 3 === 0) throw new PutRequestDecodeError('illegal field number 0');
          this.skip(innerWireType, tag >>> 3, depth + 1);
        }
      }
      default: throw new PutRequestDecodeError(`invalid wire type ${wireType}`);
    }
  }

  private advance(count: number): void {
    if (this.offset + count > this.bytes.length) throw new PutRequestDecodeError('truncated field');
    this.offset += count;
  }
}

/** The PutRequest in `bytes` (one gRPC message, without its length prefix); throws PutRequestDecodeError. */
export function decodePutRequest(bytes: Buffer): PutRequest {
  const request: PutRequest = { key: EMPTY, value: EMPTY, lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false };
  const cursor = new Cursor(bytes);
  while (cursor.offset < bytes.length) {
    const tag = cursor.uint32();
    const fieldNumber = tag >>> 3;
    const wireType = tag & 7;
    if (fieldNumber === 0) throw new PutRequestDecodeError('illegal field number 0');
    const declared = fieldNumber < declaredWireType.length ? declaredWireType[fieldNumber]! : -1;
    if (declared < 0) {
      if (wireType === END_GROUP) throw new PutRequestDecodeError('end of group outside a group');
      cursor.skip(wireType, fieldNumber, 0);
      continue;
    }
    if (wireType !== declared) throw new PutRequestDecodeError(`field ${fieldNumber} has wire type ${wireType}, expected ${declared}`);
    switch (fieldNumber) {
      case 1: request.key = cursor.lengthDelimited(); break;
      case 2: request.value = cursor.lengthDelimited(); break;
      case 3: request.lease = cursor.int64(); break;
      case 4: request.prevKv = cursor.nonZeroVarint(); break;
      case 5: request.ignoreValue = cursor.nonZeroVarint(); break;
      default: request.ignoreLease = cursor.nonZeroVarint(); break;
    }
  }
  return request;
}
