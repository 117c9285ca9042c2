// Round-trip and corruption tests for the Raft entry codec of InternalRequest.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  decodeInternalRequest, encodeInternalRequest, exactEncodedBytes, RequestCodecError, txnNestingDepthMax,
} from '../../../src/server/request-codec.js';
import { requestIdFromBigint } from '../../../src/server/request-ids.js';
import type { InternalRequest } from '../../../src/server/requests.js';
import type {
  Compare, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
} from '../../../src/mvcc/types.js';

const int64Min = -(1n << 63n);
const int64Max = (1n << 63n) - 1n;
const uint64Max = (1n << 64n) - 1n;

// fc.record builds null-prototype objects; the codec builds plain ones, which toStrictEqual tells apart.
const record = { noNullPrototype: true } as const;
const bytes = fc.uint8Array({ maxLength: 40 }).map((array) => Buffer.from(array));
// The codec takes a path without bigint arithmetic below 2^53: the edges around it, 2^32 and -1 too.
const int64Edges = [0n, 1n, -1n, int64Max, int64Min, (1n << 32n) - 1n, 1n << 32n, (1n << 53n) - 1n, 1n << 53n, -(1n << 53n)];
const uint64Edges = [0n, 1n, uint64Max, (1n << 32n) - 1n, 1n << 32n, (1n << 53n) - 1n, 1n << 53n, (1n << 53n) + 1n, 1n << 63n];
const leaseId = fc.oneof(fc.constantFrom(...int64Edges), fc.bigInt({ min: -(1n << 54n), max: 1n << 54n }), fc.bigInt({ min: int64Min, max: int64Max }));
const uint64 = fc.oneof(fc.constantFrom(...uint64Edges), fc.bigInt({ min: 0n, max: 1n << 54n }), fc.bigInt({ min: 0n, max: uint64Max }));
// A request id is any 64-bit value split into its origin (top 16 bits) and counter (request-ids.ts).
const requestIdHalves = uint64.map(requestIdFromBigint);
// Any finite or special double must survive: revisions are JS numbers, and the codec is not the
// place to reject odd ones.
const number = fc.oneof(fc.integer(), fc.maxSafeInteger(), fc.double());

const range: fc.Arbitrary<RangeRequest> = fc.record({
  key: bytes, rangeEnd: bytes, limit: number, revision: number, sortOrder: fc.integer({ min: 0, max: 2 }),
  sortTarget: fc.integer({ min: 0, max: 4 }), serializable: fc.boolean(), keysOnly: fc.boolean(),
  countOnly: fc.boolean(), minModRevision: number, maxModRevision: number, minCreateRevision: number,
  maxCreateRevision: number,
}, record);
const put: fc.Arbitrary<PutRequest> = fc.record({
  key: bytes, value: bytes, lease: leaseId, prevKv: fc.boolean(), ignoreValue: fc.boolean(), ignoreLease: fc.boolean(),
}, record);
const deleteRange: fc.Arbitrary<DeleteRangeRequest> = fc.record({ key: bytes, rangeEnd: bytes, prevKv: fc.boolean() }, record);
const compare: fc.Arbitrary<Compare> = fc.record({
  result: fc.integer({ min: 0, max: 3 }), target: fc.integer({ min: 0, max: 4 }), key: bytes, rangeEnd: bytes,
  number, value: bytes, lease: leaseId,
}, record);

const { txn } = fc.letrec<{ txn: TxnRequest; op: RequestOp }>((tie) => ({
  op: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    range.map((r) => ({ range: r })),
    put.map((p) => ({ put: p })),
    deleteRange.map((d) => ({ deleteRange: d })),
    tie('txn').map((t) => ({ txn: t as TxnRequest })),
  ),
  txn: fc.record({
    compare: fc.array(compare, { maxLength: 3 }),
    success: fc.array(tie('op') as fc.Arbitrary<RequestOp>, { maxLength: 3 }),
    failure: fc.array(tie('op') as fc.Arbitrary<RequestOp>, { maxLength: 3 }),
  }, record),
}));

const request: fc.Arbitrary<InternalRequest> = fc.tuple(
  requestIdHalves,
  fc.oneof(
    put.map((p) => ({ put: p })),
    deleteRange.map((d) => ({ deleteRange: d })),
    txn.map((t) => ({ txn: t })),
    fc.record({ revision: number, physical: fc.boolean() }, record).map((c) => ({ compaction: c })),
    fc.record({ id: leaseId, ttlSeconds: number }, record).map((g) => ({ leaseGrant: g })),
    leaseId.map((id) => ({ leaseRevoke: { id } })),
    fc.array(fc.record({ id: leaseId, remainingTtlSeconds: number }, record), { maxLength: 5 })
      .map((checkpoints) => ({ leaseCheckpoint: { checkpoints } })),
    fc.record({ action: fc.integer({ min: 0, max: 2 }), memberId: uint64, alarm: fc.integer({ min: 0, max: 2 }) }, record)
      .map((a) => ({ alarm: a })),
    fc.record({ memberId: uint64, name: fc.string({ unit: 'binary' }), clientUrls: fc.array(fc.webUrl(), { maxLength: 3 }) }, record)
      .map((m) => ({ memberAttributes: m })),
  ),
).map(([id, body]) => ({ ...id, ...body }));

describe('request codec', () => {
  it('round-trips every request kind, nested txns and extreme 64-bit ids', () => {
    fc.assert(fc.property(request, (original) => {
      const decoded = decodeInternalRequest(encodeInternalRequest(original));
      expect(decoded).toStrictEqual(original);
    }), { numRuns: 500 });
  });

  it('writes 64-bit fields as Node writes them: logs from every version decode alike', () => {
    // Layout of a lease revoke: [format u8][requestId u64 LE][kind u8][id i64 LE].
    fc.assert(fc.property(uint64, leaseId, (requestId, id) => {
      const encoded = Buffer.from(encodeInternalRequest({ ...requestIdFromBigint(requestId), leaseRevoke: { id } }));
      const expected = Buffer.alloc(8);
      expected.writeBigUInt64LE(requestId);
      expect(encoded.subarray(1, 9)).toStrictEqual(expected);
      expected.writeBigInt64LE(id);
      expect(encoded.subarray(10, 18)).toStrictEqual(expected);
    }), { numRuns: 1000 });
  });

  it('knows the exact size of a put, encodes it in place to the same bytes, and refuses a wrong size', () => {
    fc.assert(fc.property(request, fc.string({ maxLength: 20 }), (original, user) => {
      for (const withAuth of [original, { ...original, auth: { user, revision: 3 } }]) {
        const encoded = encodeInternalRequest(withAuth);
        const exact = exactEncodedBytes(withAuth);
        if (withAuth.put === undefined) {
          expect(exact).toBeUndefined();
          continue;
        }
        expect(exact).toBe(encoded.length);
        const arena = Buffer.alloc(exact! + 6, 0xee);
        const into = arena.subarray(3, 3 + exact!);
        expect(encodeInternalRequest(withAuth, withAuth.requestId, withAuth.requestOrigin, into)).toBe(into);
        expect(into).toStrictEqual(Buffer.from(encoded));
        expect([...arena.subarray(0, 3), ...arena.subarray(3 + exact!)]).toEqual([0xee, 0xee, 0xee, 0xee, 0xee, 0xee]);
        expect(() => encodeInternalRequest(withAuth, withAuth.requestId, withAuth.requestOrigin, Buffer.alloc(exact! - 1))).toThrow(/overran/);
        expect(() => encodeInternalRequest(withAuth, withAuth.requestId, withAuth.requestOrigin, Buffer.alloc(exact! + 1))).toThrow(/exact size/);
      }
    }), { numRuns: 300 });
  });

  it('decodes from a Uint8Array view at a non-zero offset', () => {
    const encoded = encodeInternalRequest({ requestId: 7, leaseRevoke: { id: int64Max } });
    const padded = new Uint8Array(encoded.length + 5);
    padded.set(encoded, 3);
    expect(decodeInternalRequest(padded.subarray(3, 3 + encoded.length))).toStrictEqual({ requestId: 7, requestOrigin: 0, leaseRevoke: { id: int64Max } });
  });

  it("copies decoded byte strings out of the entry, except a put's key and value (apply copies those)", () => {
    const compare = { result: 0, target: 3, key: Buffer.from('c'), rangeEnd: Buffer.alloc(0), number: 0, value: Buffer.from('cv'), lease: 0n };
    const putOp = { key: Buffer.from('k'), value: Buffer.from('v'), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false };
    const encoded = encodeInternalRequest({
      requestId: 1,
      txn: { compare: [compare], success: [{ put: putOp }, { deleteRange: { key: Buffer.from('d'), rangeEnd: Buffer.from('e'), prevKv: false } }], failure: [] },
    });
    const decoded = decodeInternalRequest(encoded);
    encoded.fill(0);
    expect(decoded.txn?.compare[0]?.key.toString()).toBe('c');
    expect(decoded.txn?.compare[0]?.value.toString()).toBe('cv');
    const deleteOp = decoded.txn?.success[1];
    expect(deleteOp && 'deleteRange' in deleteOp ? deleteOp.deleteRange.rangeEnd.toString() : undefined).toBe('e');
    // Views: test/unit/mvcc/store-kv.test.ts checks that the store keeps nothing of them.
    const putDecoded = decoded.txn?.success[0];
    expect(putDecoded && 'put' in putDecoded ? putDecoded.put.value[0] : undefined).toBe(0);
  });

  it('rejects every truncation of a valid entry', () => {
    fc.assert(fc.property(request, (original) => {
      const encoded = encodeInternalRequest(original);
      for (let length = 0; length < encoded.length; length++) {
        expect(() => decodeInternalRequest(encoded.subarray(0, length))).toThrow(RequestCodecError);
      }
    }), { numRuns: 50 });
  });

  it('rejects trailing bytes, unknown versions and unknown kinds', () => {
    const encoded = encodeInternalRequest({ requestId: 1, leaseRevoke: { id: 5n } });
    expect(() => decodeInternalRequest(Buffer.concat([encoded, Buffer.from([0])]))).toThrow(/trailing/);
    const badVersion = Buffer.from(encoded);
    badVersion[0] = 99;
    expect(() => decodeInternalRequest(badVersion)).toThrow(/format version/);
    const badKind = Buffer.from(encoded);
    badKind[9] = 200;
    expect(() => decodeInternalRequest(badKind)).toThrow(/unknown request kind/);
  });

  it('never throws anything but RequestCodecError on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (garbage) => {
      try {
        decodeInternalRequest(garbage);
      } catch (error) {
        expect(error).toBeInstanceOf(RequestCodecError);
      }
    }), { numRuns: 1000 });
  });

  it('refuses requests with zero or two bodies and out-of-range ids', () => {
    expect(() => encodeInternalRequest({ requestId: 1 })).toThrow(/exactly one body/);
    expect(() => encodeInternalRequest({ requestId: 1, leaseRevoke: { id: 1n }, compaction: { revision: 1, physical: false } }))
      .toThrow(/exactly one body/);
    expect(() => encodeInternalRequest({ requestId: -1, leaseRevoke: { id: 1n } })).toThrow(/request id out of range/);
    expect(() => encodeInternalRequest({ requestId: 2 ** 48, leaseRevoke: { id: 1n } })).toThrow(/request id out of range/);
    expect(() => encodeInternalRequest({ requestId: 1.5, leaseRevoke: { id: 1n } })).toThrow(/request id out of range/);
    expect(() => encodeInternalRequest({ requestId: 1, requestOrigin: 2 ** 16, leaseRevoke: { id: 1n } })).toThrow(/request id out of range/);
    expect(() => encodeInternalRequest({ requestId: 1, leaseRevoke: { id: int64Max + 1n } })).toThrow(/int64/);
  });

  it('bounds txn nesting depth', () => {
    let nested: TxnRequest = { compare: [], success: [], failure: [] };
    for (let depth = 1; depth < txnNestingDepthMax; depth++) nested = { compare: [], success: [{ txn: nested }], failure: [] };
    expect(decodeInternalRequest(encodeInternalRequest({ requestId: 1, txn: nested })).txn).toStrictEqual(nested);
    const tooDeep: TxnRequest = { compare: [], success: [{ txn: nested }], failure: [] };
    expect(() => encodeInternalRequest({ requestId: 1, txn: tooDeep })).toThrow(/nested deeper/);
  });
});
