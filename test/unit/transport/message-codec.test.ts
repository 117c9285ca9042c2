// Round-trip and rejection tests of the raft message codec: every field survives, 64-bit ids exactly.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodedMessageSize, encodeMessage, MessageCodecError } from '../../../src/transport/message-codec.js';
import { FrameDecoder, frameHeader } from '../../../src/transport/frames.js';
import { emptyMessage, MessageType, type Message } from '../../../src/raft/types.js';

const uint64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const safeUint = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.nat({ max: Number.MAX_SAFE_INTEGER }));
const bytes = fc.uint8Array({ maxLength: 64 });
const entry = fc.record({ term: safeUint, index: safeUint, type: fc.integer({ min: 0, max: 1 }), data: bytes });
const snapshot = fc.record({
  metadata: fc.record({
    index: safeUint,
    term: safeUint,
    confState: fc.record({ voters: fc.array(uint64, { maxLength: 5 }), learners: fc.array(uint64, { maxLength: 3 }) }),
  }),
  data: bytes,
});
const messageTypes = Object.values(MessageType);
const message: fc.Arbitrary<Message> = fc.record({
  type: fc.constantFrom(...messageTypes),
  to: uint64,
  from: uint64,
  term: safeUint,
  logTerm: safeUint,
  index: safeUint,
  entries: fc.array(entry, { maxLength: 5 }),
  commit: safeUint,
  reject: fc.boolean(),
  rejectHint: safeUint,
  selfCommit: fc.boolean(),
  context: bytes,
  snapshot: fc.option(snapshot, { nil: undefined }),
}).map((m) => {
  if (m.snapshot === undefined) delete (m as Partial<Message>).snapshot;
  // selfCommit exists on an accepting AppResp only, where it travels as rejectHint 1.
  if (m.type === MessageType.AppResp && !m.reject) m.rejectHint = 0;
  else m.selfCommit = false;
  return m;
});

/** Buffers and Uint8Arrays compare by content; the decoder returns Buffers. */
function normalise(m: Message): unknown {
  return JSON.parse(JSON.stringify(m, (_key, value: unknown) => {
    if (typeof value === 'bigint') return `big:${value.toString()}`;
    if (value instanceof Uint8Array) return `bytes:${Buffer.from(value).toString('hex')}`;
    if (value !== null && typeof value === 'object' && (value as { type?: string }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data)) {
      return `bytes:${Buffer.from((value as { data: number[] }).data).toString('hex')}`;
    }
    return value;
  }));
}

describe('message codec', () => {
  it('round-trips every field of arbitrary messages, and the size function is exact', () => {
    fc.assert(fc.property(message, (m) => {
      const encoded = encodeMessage(m);
      expect(encoded.length).toBe(encodedMessageSize(m));
      const decoded = decodeMessage(encoded);
      expect(normalise(decoded)).toEqual(normalise(m));
      expect(decoded.to).toBe(m.to);
      expect(decoded.from).toBe(m.from);
    }), { numRuns: 500 });
  });

  it("carries an accepting AppResp's selfCommit in rejectHint, with no new flag: a member built before it reads the message", () => {
    const ack = { ...emptyMessage(MessageType.AppResp, 1n, 2n, 3), index: 7, selfCommit: true };
    const bytes = encodeMessage(ack);
    expect(bytes[2]).toBe(0); // the flags byte: neither reject nor snapshot
    const decoded = decodeMessage(bytes);
    expect([decoded.selfCommit, decoded.rejectHint, decoded.index]).toEqual([true, 0, 7]);
    expect(decodeMessage(encodeMessage({ ...ack, selfCommit: false })).selfCommit).toBe(false);
    // A rejection's hint is its own.
    const reject = { ...emptyMessage(MessageType.AppResp, 1n, 2n, 3), reject: true, rejectHint: 1 };
    expect([decodeMessage(encodeMessage(reject)).rejectHint, decodeMessage(encodeMessage(reject)).selfCommit]).toEqual([1, false]);
  });

  it('keeps member ids above 2^53 exact', () => {
    const id = 0xfedcba9876543211n;
    const m: Message = {
      type: MessageType.Snap, to: id, from: (1n << 64n) - 1n, term: 2 ** 53 - 1, logTerm: 1, index: 7, entries: [], commit: 3,
      reject: false, rejectHint: 0, selfCommit: false, context: new Uint8Array(),
      snapshot: { metadata: { index: 9, term: 2, confState: { voters: [id, 1n], learners: [id + 1n] } }, data: new Uint8Array([1, 2]) },
    };
    const decoded = decodeMessage(encodeMessage(m));
    expect(decoded.to).toBe(0xfedcba9876543211n);
    expect(decoded.from).toBe(18446744073709551615n);
    expect(decoded.term).toBe(2 ** 53 - 1);
    expect(decoded.snapshot?.metadata.confState.voters).toEqual([id, 1n]);
    expect(decoded.snapshot?.metadata.confState.learners).toEqual([id + 1n]);
  });

  it('rejects every truncation and trailing garbage', () => {
    fc.assert(fc.property(message, fc.nat(), (m, cut) => {
      const encoded = encodeMessage(m);
      const length = cut % encoded.length;
      expect(() => decodeMessage(encoded.subarray(0, length))).toThrow(MessageCodecError);
      expect(() => decodeMessage(Buffer.concat([encoded, Buffer.from([0])]))).toThrow(MessageCodecError);
    }), { numRuns: 200 });
  });

  it('refuses to encode values that would not survive the trip', () => {
    const base: Message = {
      type: MessageType.App, to: 1n, from: 2n, term: 1, logTerm: 0, index: 0, entries: [], commit: 0,
      reject: false, rejectHint: 0, selfCommit: false, context: new Uint8Array(),
    };
    expect(() => encodeMessage({ ...base, to: 1n << 64n })).toThrow(MessageCodecError);
    expect(() => encodeMessage({ ...base, from: -1n })).toThrow(MessageCodecError);
    expect(() => encodeMessage({ ...base, term: 1.5 })).toThrow(MessageCodecError);
    expect(() => encodeMessage({ ...base, index: 2 ** 53 })).toThrow(MessageCodecError);
    expect(() => encodeMessage({ ...base, type: 99 as MessageType })).toThrow(MessageCodecError);
  });

  it('rejects a forged entry count without allocating for it', () => {
    const encoded = encodeMessage({
      type: MessageType.App, to: 1n, from: 2n, term: 1, logTerm: 0, index: 0, entries: [], commit: 0,
      reject: false, rejectHint: 0, selfCommit: false, context: new Uint8Array(),
    });
    // The entry count is the last byte of a message with no entries and no snapshot.
    const forged = Buffer.concat([encoded.subarray(0, encoded.length - 1), Buffer.from([0xff, 0xff, 0xff, 0x7f])]);
    expect(() => decodeMessage(forged)).toThrow(/count exceeds/);
  });
});

describe('frame decoder', () => {
  it('reassembles frames however the byte stream is split', () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 10 }), fc.array(fc.nat({ max: 50 }), { maxLength: 20 }), (payloads, cuts) => {
      const stream = Buffer.concat(payloads.flatMap((p) => [frameHeader(p.length), Buffer.from(p)]));
      const decoder = new FrameDecoder(1000);
      const out: Buffer[] = [];
      let offset = 0;
      for (const cut of cuts) {
        out.push(...decoder.push(stream.subarray(offset, Math.min(stream.length, offset + cut))));
        offset = Math.min(stream.length, offset + cut);
      }
      out.push(...decoder.push(stream.subarray(offset)));
      expect(out.map((b) => b.toString('hex'))).toEqual(payloads.map((p) => Buffer.from(p).toString('hex')));
      expect(decoder.bufferedBytes).toBe(0);
    }));
  });

  it('refuses a frame over the limit before buffering it', () => {
    const decoder = new FrameDecoder(10);
    expect(() => decoder.push(frameHeader(11))).toThrow(/exceeds/);
  });
});
