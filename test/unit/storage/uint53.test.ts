// uint53: 8-byte unsigned fields written byte by byte, checked against Node's bigint writers.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readUint53BE, readUint53LE, writeUint53BE, writeUint53LE } from '../../../src/storage/uint53.js';

describe('uint53 fields', () => {
  it('writes the bytes Node writes for the same value, at any offset, and reads them back', () => {
    const edges = [0, 1, 255, 256, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 48, Number.MAX_SAFE_INTEGER];
    fc.assert(fc.property(fc.oneof(fc.constantFrom(...edges), fc.maxSafeNat()), fc.nat(8), (value, offset) => {
      const ours = Buffer.alloc(20, 0xee);
      const node = Buffer.alloc(20, 0xee);
      writeUint53BE(ours, offset, value);
      node.writeBigUInt64BE(BigInt(value), offset);
      expect(ours).toEqual(node);
      expect(readUint53BE(ours, offset)).toBe(value);
      writeUint53LE(ours, offset, value);
      node.writeBigUInt64LE(BigInt(value), offset);
      expect(ours).toEqual(node);
      expect(readUint53LE(ours, offset)).toBe(value);
    }), { numRuns: 2000 });
  });

  it('refuses what is not a uint53, or does not fit, and writes nothing then', () => {
    const target = Buffer.alloc(10, 0xee);
    for (const value of [-1, Number.MAX_SAFE_INTEGER + 1, 2 ** 64, Number.NaN, Infinity]) {
      expect(() => writeUint53BE(target, 0, value)).toThrow(RangeError);
      expect(() => writeUint53LE(target, 0, value)).toThrow(RangeError);
    }
    for (const offset of [-1, 3, 10]) {
      expect(() => writeUint53BE(target, offset, 5)).toThrow(RangeError);
      expect(() => writeUint53LE(target, offset, 5)).toThrow(RangeError);
    }
    expect(target).toEqual(Buffer.alloc(10, 0xee));
  });
});
