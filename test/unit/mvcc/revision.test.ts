import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareRevisions, decodeRevision, encodeRevision, REVISION_BYTES } from '../../../src/mvcc/revision.js';

const revisionArb = fc.record({
  main: fc.oneof(fc.nat(1000), fc.maxSafeNat()),
  sub: fc.oneof(fc.nat(1000), fc.maxSafeNat()),
  tombstone: fc.boolean(),
});

describe('revision encoding', () => {
  it('is 17 bytes and round-trips', () => {
    fc.assert(fc.property(revisionArb, (r) => {
      const bytes = encodeRevision(r.main, r.sub, r.tombstone);
      expect(bytes.length).toBe(REVISION_BYTES);
      expect(decodeRevision(bytes)).toEqual(r);
    }));
  });

  it('byte order equals revision order, whatever the markers', () => {
    fc.assert(fc.property(revisionArb, revisionArb, (a, b) => {
      const byBytes = Math.sign(Buffer.compare(encodeRevision(a.main, a.sub, a.tombstone), encodeRevision(b.main, b.sub, b.tombstone)));
      const byRevision = compareRevisions(a, b);
      if (byRevision !== 0) expect(byBytes).toBe(byRevision);
    }), { numRuns: 2000 });
  });

  it('orders across the 32-bit boundary of each half', () => {
    const low = encodeRevision(0xffff_ffff, 5, false);
    const high = encodeRevision(0x1_0000_0000, 0, false);
    expect(Buffer.compare(low, high)).toBe(-1);
    expect(decodeRevision(high).main).toBe(0x1_0000_0000);
  });

  it('rejects values a number cannot hold exactly and bad markers', () => {
    expect(() => encodeRevision(-1, 0, false)).toThrow(RangeError);
    expect(() => encodeRevision(2 ** 53, 0, false)).toThrow(RangeError);
    const bytes = encodeRevision(1, 1, false);
    bytes[16] = 0;
    expect(() => decodeRevision(bytes)).toThrow(/marker/);
  });
});
