// The hand-written PutRequest decoder against the generic path it replaces on the Put method (the
// wire-type check, protobufjs's decode and toObject, putRequestFromWire): the same PutRequest for
// anything protobufjs writes, with unknown fields of every wire type mixed in and fields repeated;
// and the same refusals, as MalformedRequest through the service definition.
import fc from 'fast-check';
import * as protoLoader from '@grpc/proto-loader';
import { describe, expect, it } from 'vitest';
import { loadProtobufRoot, loadServiceDefinitions, loaderOptions, MalformedRequest, protoFiles } from '../../../src/api/grpc/definitions.js';
import { putRequestFromWire } from '../../../src/api/grpc/translate/kv.js';
import { decodePutRequest } from '../../../src/api/grpc/translate/put-decode.js';
import { checkWireTypes } from '../../../src/api/grpc/wire-check.js';

const root = loadProtobufRoot();
const PutRequestType = root.lookupType('etcdserverpb.PutRequest');
const seed = process.env.PUT_DECODE_SEED === undefined ? undefined : Number(process.env.PUT_DECODE_SEED);
const put = loadServiceDefinitions()['etcdserverpb.KV']!.Put!;
// The generic deserializer of the same method, as every other method still uses it.
const generic = (protoLoader.loadSync(protoFiles, loaderOptions)['etcdserverpb.KV'] as Record<string, { requestDeserialize: (b: Buffer) => unknown }>).Put!;

function genericDecode(bytes: Buffer): unknown {
  checkWireTypes(PutRequestType, bytes);
  return putRequestFromWire(generic.requestDeserialize(bytes));
}

const int64Arb = fc.oneof(
  fc.constant(0n), fc.bigInt({ min: 1n, max: 1000n }), fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
);
const bytesArb = fc.uint8Array({ maxLength: 300 }).map((array) => Buffer.from(array));
const putArb = fc.record({
  key: bytesArb, value: bytesArb, lease: int64Arb, prev_kv: fc.boolean(), ignore_value: fc.boolean(), ignore_lease: fc.boolean(),
});

/** Tag bytes of a field (small field numbers only). */
const tag = (field: number, wireType: number): number[] => varint(BigInt(field * 8 + wireType));
function varint(value: bigint): number[] {
  let v = BigInt.asUintN(64, value);
  const out: number[] = [];
  do {
    const low = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? low | 0x80 : low);
  } while (v > 0n);
  return out;
}

/** Fields protobufjs does not know: varint, fixed64, bytes, fixed32 and a group holding some. */
const unknownFieldArb = fc.oneof(
  fc.tuple(fc.integer({ min: 7, max: 200 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })).map(([f, v]) => [...tag(f, 0), ...varint(v)]),
  fc.integer({ min: 7, max: 200 }).map((f) => [...tag(f, 1), 1, 2, 3, 4, 5, 6, 7, 8]),
  fc.tuple(fc.integer({ min: 7, max: 200 }), fc.uint8Array({ maxLength: 20 })).map(([f, b]) => [...tag(f, 2), b.length, ...b]),
  fc.integer({ min: 7, max: 200 }).map((f) => [...tag(f, 5), 1, 2, 3, 4]),
  fc.integer({ min: 7, max: 200 }).map((f) => [...tag(f, 3), ...tag(f + 1, 0), 5, ...tag(f + 2, 2), 1, 0x61, ...tag(f, 4)]),
);

describe('PutRequest decoder', () => {
  it('decodes anything protobufjs writes, with unknown and repeated fields, as the generic path does', () => {
    fc.assert(fc.property(putArb, putArb, fc.array(unknownFieldArb, { maxLength: 4 }), fc.boolean(), (first, second, unknown, repeat) => {
      const encode = (fields: typeof first) => Buffer.from(PutRequestType.encode(PutRequestType.fromObject({ ...fields, lease: fields.lease.toString() })).finish());
      // Unknown fields in front, then a whole request, then (sometimes) another whose fields win.
      const bytes = Buffer.concat([Buffer.from(unknown.flat()), encode(first), ...(repeat ? [encode(second)] : [])]);
      const expected = genericDecode(bytes);
      expect(decodePutRequest(bytes)).toEqual(expected);
      expect(put.requestDeserialize(bytes)).toEqual(expected);
    }), { seed });
  });

  it('reads a lease of any int64, in the short and the ten-byte form', () => {
    fc.assert(fc.property(int64Arb, (lease) => {
      const bytes = Buffer.from([...tag(3, 0), ...varint(lease)]);
      expect(decodePutRequest(bytes).lease).toBe(lease);
    }), { seed });
    // A bool sent as a multi-byte varint is true when any of its bits are.
    expect(decodePutRequest(Buffer.from([...tag(4, 0), 0x80, 0x01])).prevKv).toBe(true);
    expect(decodePutRequest(Buffer.from([...tag(4, 0), 0x80, 0x00])).prevKv).toBe(false);
  });

  it('refuses what the generic path refuses, as MalformedRequest', () => {
    const malformed = [
      [0x0a], // truncated length
      [0x0a, 0x10, 0x61], // key longer than the message
      [0x08, 0x05], // key as a varint
      [0x1a, 0x01, 0x00], // lease as bytes
      [0x21, 1, 2, 3, 4, 5, 6, 7, 8], // prev_kv as fixed64
      [0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // varint over 10 bytes
      [0x00, 0x01], // field number 0
      [0x39, 1, 2, 3], // unknown fixed64 cut short
      [0x3b, 0x40, 0x01], // unknown group never ended
      [0x3f], // wire type 7
    ];
    for (const bytes of malformed.map((b) => Buffer.from(b))) {
      expect(() => genericDecode(bytes), bytes.toString('hex')).toThrow();
      expect(() => decodePutRequest(bytes), bytes.toString('hex')).toThrow();
      expect(put.requestDeserialize(bytes)).toBeInstanceOf(MalformedRequest);
    }
  });
});
