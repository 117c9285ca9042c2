// The key layout shared with etcd's client-side recipes: `name/` + Go's %x of the lease id.
import { describe, expect, it } from 'vitest';
import { leaseHex, prefixRangeEnd, waiterKey, waiterPrefix } from '../../../src/concurrency/keys.js';

describe('lock and election keys', () => {
  it('is name + "/" + lowercase hex of the lease, as fmt.Sprintf("%s%x")', () => {
    expect(waiterKey(waiterPrefix(Buffer.from('mylock')), 0x694d7a3b1c2d3e4fn).toString()).toBe('mylock/694d7a3b1c2d3e4f');
    expect(waiterKey(waiterPrefix(Buffer.from('x')), 10n).toString()).toBe('x/a');
    expect(leaseHex(-26n)).toBe('-1a');
    expect(leaseHex(0x7fffffffffffffffn)).toBe('7fffffffffffffff');
  });

  it('keeps a binary name byte for byte', () => {
    const name = Buffer.from([0x00, 0xff, 0x41]);
    expect(waiterKey(waiterPrefix(name), 1n)).toEqual(Buffer.from([0x00, 0xff, 0x41, 0x2f, 0x31]));
  });

  it('ends a prefix range by incrementing the last byte below 0xff', () => {
    expect(prefixRangeEnd(Buffer.from('a/')).toString()).toBe('a0');
    expect(prefixRangeEnd(Buffer.from([0x61, 0xff, 0xff]))).toEqual(Buffer.from([0x62]));
    expect(prefixRangeEnd(Buffer.from([0xff]))).toEqual(Buffer.from([0]));
  });
});
