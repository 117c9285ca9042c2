import { describe, expect, it } from 'vitest';
import { encodeKeyValue } from '../../../src/mvcc/kv-codec.js';
import { StoredPutEvent } from '../../../src/mvcc/stored-event.js';

describe('StoredPutEvent', () => {
  const kv = { key: Buffer.from('k'), createRevision: 2, modRevision: 5, version: 3, value: Buffer.from('new'), lease: 7n };
  const prev = { ...kv, modRevision: 4, version: 2, value: Buffer.from('old') };

  it('tells whether it has a prevKv, which it decodes when read', () => {
    const withPrev = new StoredPutEvent(encodeKeyValue(kv), encodeKeyValue(prev));
    expect(withPrev.hasPrevKv).toBe(true);
    expect(withPrev.kv).toEqual(kv);
    expect(withPrev.prevKv).toEqual(prev);
    const first = new StoredPutEvent(encodeKeyValue(kv), undefined);
    expect(first.hasPrevKv).toBe(false);
    expect(first.prevKv).toBeUndefined();
  });
});
