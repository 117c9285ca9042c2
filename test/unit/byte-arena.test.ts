import { describe, expect, it } from 'vitest';
import { ByteArena } from '../../src/byte-arena.js';

describe('ByteArena', () => {
  it('returns copies that keep their bytes when the source changes, packed in shared chunks', () => {
    const arena = new ByteArena();
    const copies: Buffer[] = [];
    const source = Buffer.alloc(300);
    for (let i = 0; i < 2000; i++) {
      source.fill(i % 251);
      copies.push(arena.copy(source.subarray(0, 100 + (i % 200))));
    }
    source.fill(0);
    copies.forEach((copy, i) => {
      expect(copy.length).toBe(100 + (i % 200));
      expect(copy.every((byte) => byte === i % 251)).toBe(true);
    });
    // ~400 KB of entries: two or three chunks, not one allocation each.
    expect(new Set(copies.map((copy) => copy.buffer)).size).toBeLessThanOrEqual(3);
  });

  it('gives a large entry a Buffer of its own', () => {
    const arena = new ByteArena();
    const small = arena.copy(Buffer.alloc(10, 1));
    const large = arena.copy(Buffer.alloc(64 * 1024, 2));
    expect(large.byteOffset).toBe(0);
    expect(large.buffer.byteLength).toBe(64 * 1024);
    expect(large.buffer).not.toBe(small.buffer);
    expect(large.every((byte) => byte === 2)).toBe(true);
  });
});
