// The hand-written RangeResponse and PutResponse encoders against protobufjs on our own protos:
// the same bytes as protobufjs writes for the canonical message (zero values left out, as etcd's
// Go encoder does), built from what the object path (rangeResponseToWire, putResponseToWire)
// describes, for any response; and the service definition passes the bytes through.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadProtobufRoot, loadServiceDefinitions } from '../../../src/api/grpc/definitions.js';
import { headerToWire } from '../../../src/api/grpc/translate/common.js';
import { encodePutResponse, encodeRangeResponse } from '../../../src/api/grpc/translate/kv-encode.js';
import { putResponseToWire, rangeResponseToWire } from '../../../src/api/grpc/translate/kv.js';
import type { KeyValue } from '../../../src/mvcc/types.js';
import type { ResponseHeader } from '../../../src/server/server-api.js';

const root = loadProtobufRoot();
const RangeResponse = root.lookupType('etcdserverpb.RangeResponse');
const PutResponse = root.lookupType('etcdserverpb.PutResponse');
const kv = loadServiceDefinitions()['etcdserverpb.KV']!;
const seed = process.env.KV_ENCODE_SEED === undefined ? undefined : Number(process.env.KV_ENCODE_SEED);

/** The wire object with every zero value left out: what protobufjs must encode to the canonical bytes. */
function withoutZeros(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutZeros);
  if (Buffer.isBuffer(value) || value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value as Record<string, unknown>)) {
    if (field === undefined || field === 0 || field === false || field === '' || field === '0') continue;
    if (Buffer.isBuffer(field) && field.length === 0) continue;
    if (Array.isArray(field) && field.length === 0) continue;
    out[key] = withoutZeros(field);
  }
  return out;
}

const revisionArb = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }));
const kvArb: fc.Arbitrary<KeyValue> = fc.record({
  key: fc.uint8Array({ minLength: 1, maxLength: 20 }).map((bytes) => Buffer.from(bytes)),
  createRevision: revisionArb,
  modRevision: revisionArb,
  version: revisionArb,
  value: fc.oneof(fc.constant(Buffer.alloc(0)), fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes))),
  lease: fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: (1n << 63n) - 1n }), fc.bigInt({ min: -(1n << 63n), max: -1n })),
});
const headerArb: fc.Arbitrary<ResponseHeader> = fc.record({
  clusterId: fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
  memberId: fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
  revision: revisionArb,
  raftTerm: revisionArb,
});

function canonical(wire: { header: object } & Record<string, unknown>): Record<string, unknown> {
  // The header is always written, even when empty (etcd's responses always carry one).
  return { ...(withoutZeros(wire) as object), header: withoutZeros(wire.header) };
}

/** The encoder's bytes equal protobufjs's for the canonical message, and the service passes them through. */
function expectCanonical(type: typeof RangeResponse, bytes: Buffer, wire: { header: object } & Record<string, unknown>, serialize: (value: unknown) => Buffer): void {
  const reference = Buffer.from(type.encode(type.fromObject(canonical(wire))).finish());
  expect(bytes.toString('hex')).toBe(reference.toString('hex'));
  expect(serialize(bytes)).toBe(bytes);
}

describe('KV response encoders', () => {
  it('encode a RangeResponse to the canonical bytes', () => {
    const resultArb = fc.record({ kvs: fc.array(kvArb, { maxLength: 6 }), more: fc.boolean(), count: revisionArb, revision: revisionArb });
    fc.assert(fc.property(headerArb, resultArb, (header, result) => {
      expectCanonical(RangeResponse, encodeRangeResponse(header, result), rangeResponseToWire(headerToWire(header), result) as never, kv.Range!.responseSerialize);
    }), { seed });
  });

  it('encode a PutResponse to the canonical bytes, with and without prev_kv', () => {
    fc.assert(fc.property(headerArb, fc.option(kvArb, { nil: undefined }), (header, prevKv) => {
      const result = prevKv === undefined ? {} : { prevKv };
      expectCanonical(PutResponse, encodePutResponse(header, result), putResponseToWire(headerToWire(header), result) as never, kv.Put!.responseSerialize);
    }), { seed });
  });
});
