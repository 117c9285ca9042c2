// The hand-written WatchResponse encoder against protobufjs on our own protos: the same bytes as
// protobufjs writes for the canonical message (zero values left out, as etcd's Go encoder does),
// decoding to what the object path (watchResponseToWire) describes, for any response; and each
// event encoded once however many responses carry it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadProtobufRoot } from '../../../src/api/grpc/definitions.js';
import { encodeWatchResponse, eventField, WatchHeaderEncoder } from '../../../src/api/grpc/translate/watch-encode.js';
import { watchResponseToWire } from '../../../src/api/grpc/translate/watch.js';
import { EventType, type KeyValue, type MvccEvent } from '../../../src/mvcc/types.js';
import type { ResponseHeader } from '../../../src/server/server-api.js';
import type { WatchStreamResponse } from '../../../src/watch/types.js';

const WatchResponse = loadProtobufRoot().lookupType('etcdserverpb.WatchResponse');
const toObjectOptions = { longs: String, bytes: Buffer, defaults: false, arrays: false } as const;

/** The wire object with every zero value left out: what protobufjs must encode to the canonical bytes. */
function withoutZeros(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutZeros);
  if (Buffer.isBuffer(value) || value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value as Record<string, unknown>)) {
    if (field === undefined || field === 0 || field === false || field === '') continue;
    // '0' is a zero int64 (longs: String), but a cancel reason of "0" is a non-empty string.
    if (field === '0' && key !== 'cancel_reason') continue;
    if (Buffer.isBuffer(field) && field.length === 0) continue;
    if (Array.isArray(field) && field.length === 0) continue;
    out[key] = withoutZeros(field);
  }
  return out;
}

function reference(response: WatchStreamResponse, header: ResponseHeader): Buffer {
  const wire = watchResponseToWire(response, header);
  const canonical = withoutZeros(wire) as Record<string, unknown>;
  // Events always carry a kv, even an empty one (etcd's do).
  canonical.events = wire.events.map((event) => ({ ...(withoutZeros(event) as object), kv: withoutZeros(event.kv) }));
  return Buffer.from(WatchResponse.encode(WatchResponse.fromObject(canonical)).finish());
}

const int64Arb = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 127 }), fc.integer({ min: 128, max: 2 ** 31 }), fc.maxSafeNat());
const bytesArb = fc.uint8Array({ maxLength: 200 }).map((array) => Buffer.from(array));
const leaseArb = fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: (1n << 63n) - 1n }));
const keyValueArb: fc.Arbitrary<KeyValue> = fc.record({
  key: bytesArb, value: bytesArb, createRevision: int64Arb, modRevision: int64Arb, version: int64Arb, lease: leaseArb,
});
const eventArb: fc.Arbitrary<MvccEvent> = fc.record(
  { type: fc.constantFrom(EventType.PUT, EventType.DELETE), kv: keyValueArb, prevKv: keyValueArb },
  { requiredKeys: ['type', 'kv'] },
);
const responseArb: fc.Arbitrary<WatchStreamResponse> = fc.record({
  revision: int64Arb,
  watchId: fc.oneof(fc.constant(-1), fc.constant(0), int64Arb),
  created: fc.boolean(),
  canceled: fc.boolean(),
  compactRevision: int64Arb,
  cancelReason: fc.oneof(fc.constant(''), fc.string(), fc.constant('mvcc: required revision has been compacted ✓')),
  fragment: fc.boolean(),
  events: fc.array(eventArb, { maxLength: 5 }),
});
const headerArb: fc.Arbitrary<Omit<ResponseHeader, 'revision'>> = fc.record({
  clusterId: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  memberId: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  raftTerm: int64Arb,
});

describe('WatchResponse encoder', () => {
  it('writes the canonical protobuf bytes, which decode to what the object path describes', () => {
    fc.assert(
      fc.property(responseArb, headerArb, (response, identity) => {
        const header = { ...identity, revision: response.revision };
        const encoded = encodeWatchResponse(response, new WatchHeaderEncoder().encode(header));
        expect(encoded.equals(reference(response, header))).toBe(true);
        const decoded = WatchResponse.toObject(WatchResponse.decode(encoded), toObjectOptions);
        const expected = WatchResponse.toObject(WatchResponse.fromObject(watchResponseToWire(response, header)), toObjectOptions);
        expect(decoded).toEqual(withoutZeros(expected));
      }),
      { numRuns: 500, seed: process.env.WATCH_ENCODE_SEED === undefined ? undefined : Number(process.env.WATCH_ENCODE_SEED) },
    );
  });

  it('negative ids, uint64 ids above 2^63 and lease ids above 2^53 keep every bit', () => {
    const kv: KeyValue = { key: Buffer.from('k'), value: Buffer.alloc(0), createRevision: 2 ** 40, modRevision: 2 ** 40, version: 1, lease: (1n << 62n) + 1n };
    const response: WatchStreamResponse = {
      revision: 2 ** 40, watchId: -1, created: false, canceled: true, compactRevision: 3, cancelReason: 'x', fragment: false,
      events: [{ type: EventType.DELETE, kv, prevKv: kv }],
    };
    const header = { clusterId: 0xfedcba9876543210n, memberId: (1n << 53n) + 1n, revision: 2 ** 40, raftTerm: 7 };
    const decoded = WatchResponse.toObject(WatchResponse.decode(encodeWatchResponse(response, new WatchHeaderEncoder().encode(header))), toObjectOptions);
    expect(decoded).toMatchObject({
      header: { cluster_id: (0xfedcba9876543210n).toString(), member_id: ((1n << 53n) + 1n).toString(), revision: String(2 ** 40), raft_term: '7' },
      watch_id: '-1', canceled: true, compact_revision: '3', cancel_reason: 'x',
      events: [{ type: 1, kv: { lease: ((1n << 62n) + 1n).toString(), mod_revision: String(2 ** 40) }, prev_kv: { version: '1' } }],
    });
  });

  it('encodes an event once however many responses carry it; the header only when it changes', () => {
    const event: MvccEvent = {
      type: EventType.PUT, kv: { key: Buffer.from('k'), value: Buffer.from('v'), createRevision: 2, modRevision: 2, version: 1, lease: 0n },
    };
    expect(eventField(event)).toBe(eventField(event));
    const headers = new WatchHeaderEncoder();
    const identity = { clusterId: 1n, memberId: 2n, raftTerm: 3 };
    const first = headers.encode({ ...identity, revision: 2 });
    expect(headers.encode({ ...identity, revision: 2 })).toBe(first);
    expect(headers.encode({ ...identity, revision: 3 })).not.toBe(first);
    expect(headers.encode({ ...identity, raftTerm: 4, revision: 3 }).equals(headers.encode({ ...identity, revision: 3 }))).toBe(false);
  });

  it('a reused header encoder writes what a fresh one writes, whatever changed since its last header', () => {
    // It keeps the id fields' bytes between headers: a member or cluster id that changes must not
    // leave the old bytes in place (the ids are fixed on a member, but the encoder must not rely on it).
    const headerSequence = fc.array(fc.record({
      clusterId: fc.constantFrom(0n, 1n, 0xfedcba9876543210n),
      memberId: fc.constantFrom(0n, 2n, (1n << 64n) - 1n),
      revision: fc.constantFrom(0, 1, 2 ** 40),
      raftTerm: fc.constantFrom(0, 3, 2 ** 33),
    }), { minLength: 1, maxLength: 12 });
    fc.assert(fc.property(headerSequence, (headers) => {
      const reused = new WatchHeaderEncoder();
      for (const header of headers) expect(reused.encode(header).equals(new WatchHeaderEncoder().encode(header))).toBe(true);
    }), { numRuns: 300 });
  });

  it("keeps events' encoded fields together in chunks of their own, not in Node's shared buffer pool", () => {
    // A field lives as long as its event (the history cache's last ~500 revisions): from the pool,
    // each would pin an 8 KiB slab shared with short-lived buffers.
    const fields = Array.from({ length: 50 }, (_, i) => eventField({
      type: EventType.PUT,
      kv: { key: Buffer.from(`k${i}`), createRevision: 1, modRevision: i + 1, version: 1, value: Buffer.alloc(256, i), lease: 0n },
    }));
    const chunks = new Set(fields.map((field) => field.buffer));
    expect(chunks.size).toBeLessThanOrEqual(2);
    for (const chunk of chunks) expect(chunk.byteLength).toBe(64 * 1024);
    fields.forEach((field, i) => expect(field.includes(Buffer.alloc(256, i))).toBe(true));
  });
});
