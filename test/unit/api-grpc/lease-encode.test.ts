// The hand-written LeaseKeepAlive codecs against protobufjs on our own protos: any request
// protobufjs writes decodes to its ID (unknown fields skipped, the last ID winning), bytes that are
// no such request become MalformedRequest through the service definition, and a response encodes
// to protobufjs's canonical bytes (zero values left out, as etcd's Go encoder does).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadProtobufRoot, loadServiceDefinitions, MalformedRequest } from '../../../src/api/grpc/definitions.js';
import { decodeLeaseKeepAliveRequest, encodeLeaseKeepAliveResponse } from '../../../src/api/grpc/translate/lease-encode.js';
import { leaseKeepAliveResponseToWire } from '../../../src/api/grpc/translate/lease.js';

const root = loadProtobufRoot();
const LeaseKeepAliveRequest = root.lookupType('etcdserverpb.LeaseKeepAliveRequest');
const LeaseKeepAliveResponse = root.lookupType('etcdserverpb.LeaseKeepAliveResponse');
const int64Arb = fc.oneof(
  fc.constant(0n), fc.bigInt({ min: 1n, max: 1000n }), fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
);
const seed = process.env.LEASE_ENCODE_SEED === undefined ? undefined : Number(process.env.LEASE_ENCODE_SEED);
const keepAlive = loadServiceDefinitions()['etcdserverpb.Lease']!.LeaseKeepAlive!;

describe('LeaseKeepAlive codecs', () => {
  it('decodes the ID of any request protobufjs writes', () => {
    fc.assert(fc.property(int64Arb, (id) => {
      const bytes = Buffer.from(LeaseKeepAliveRequest.encode(LeaseKeepAliveRequest.fromObject({ ID: id.toString() })).finish());
      expect(decodeLeaseKeepAliveRequest(bytes)).toEqual({ ID: id });
      expect(keepAlive.requestDeserialize(bytes)).toEqual({ ID: id });
    }), { seed });
  });

  it('skips unknown fields of every wire type and keeps the last ID', () => {
    // field 2 varint 300, field 3 fixed64, field 4 bytes "ab", field 5 fixed32, ID 7 then ID 9.
    const bytes = Buffer.from([0x10, 0xac, 0x02, 0x19, 1, 2, 3, 4, 5, 6, 7, 8, 0x22, 2, 0x61, 0x62, 0x2d, 1, 2, 3, 4, 0x08, 7, 0x08, 9]);
    expect(decodeLeaseKeepAliveRequest(bytes)).toEqual({ ID: 9n });
    expect(decodeLeaseKeepAliveRequest(Buffer.alloc(0))).toEqual({ ID: 0n });
  });

  it('turns bytes that are no LeaseKeepAliveRequest into MalformedRequest', () => {
    const malformed = [
      [0x08], // truncated varint
      [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // varint over 10 bytes
      [0x09, 1, 2, 3, 4, 5, 6, 7, 8], // ID as fixed64
      [0x22, 5, 0x61], // bytes field longer than the message
      [0x0b], // group start
      [0x00, 0x01], // field number 0
    ];
    for (const bytes of malformed) {
      expect(() => decodeLeaseKeepAliveRequest(Buffer.from(bytes))).toThrow();
      expect(keepAlive.requestDeserialize(Buffer.from(bytes))).toBeInstanceOf(MalformedRequest);
    }
  });

  it('encodes a response to the canonical bytes, which decode to what the object path describes', () => {
    const headerArb = fc.record({
      clusterId: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      memberId: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      revision: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2 ** 40 })),
      raftTerm: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2 ** 40 })),
    });
    const ttlArb = fc.oneof(fc.constant(0), fc.constant(-1), fc.integer({ min: 1, max: 9_000_000_000 }));
    fc.assert(fc.property(headerArb, int64Arb, ttlArb, (header, id, ttl) => {
      const result = { header, id, ttl };
      const bytes = encodeLeaseKeepAliveResponse(result);
      const wire = leaseKeepAliveResponseToWire(result);
      const canonical: Record<string, unknown> = {};
      const headerFields = Object.fromEntries(Object.entries(wire.header).filter(([, value]) => value !== '0' && value !== 0));
      // The header is always there, as etcd always sets one: Go writes a set message field even
      // when all of its fields are zero (0a 00), and so does protobufjs.
      canonical.header = headerFields;
      if (id !== 0n) canonical.ID = id.toString();
      if (ttl !== 0) canonical.TTL = ttl;
      const reference = Buffer.from(LeaseKeepAliveResponse.encode(LeaseKeepAliveResponse.fromObject(canonical)).finish());
      expect(bytes.toString('hex')).toBe(reference.toString('hex'));
      expect(keepAlive.responseSerialize(bytes)).toBe(bytes);
    }), { seed });
  });
});
