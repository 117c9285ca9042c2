import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeKeyOnly, decodeKeyValue, encodeKeyValue } from '../../../src/mvcc/kv-codec.js';
import type { KeyValue } from '../../../src/mvcc/types.js';

const kvArb: fc.Arbitrary<KeyValue> = fc.record({
  key: fc.uint8Array({ minLength: 1, maxLength: 40 }).map((a) => Buffer.from(a)),
  createRevision: fc.maxSafeNat(),
  modRevision: fc.maxSafeNat(),
  version: fc.maxSafeNat(),
  value: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
  lease: fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n),
});

describe('kv codec', () => {
  it('round-trips every field', () => {
    fc.assert(fc.property(kvArb, (kv) => {
      const bytes = encodeKeyValue(kv);
      const decoded = decodeKeyValue(bytes);
      expect(decoded).toEqual(kv);
      expect(decodeKeyOnly(bytes).equals(kv.key)).toBe(true);
    }));
  });

  it('is deterministic (hashes rely on it)', () => {
    fc.assert(fc.property(kvArb, (kv) => {
      expect(encodeKeyValue(kv).equals(encodeKeyValue({ ...kv, key: Buffer.from(kv.key), value: Buffer.from(kv.value) }))).toBe(true);
    }));
  });

  it('rejects truncated or foreign bytes', () => {
    expect(() => decodeKeyValue(Buffer.from('hello'))).toThrow(/corrupt/);
    const bytes = encodeKeyValue({ key: Buffer.from('k'), createRevision: 1, modRevision: 1, version: 1, value: Buffer.alloc(0), lease: 0n });
    bytes.writeUInt32BE(1000, 33);
    expect(() => decodeKeyValue(bytes)).toThrow(/key length/);
  });
});
