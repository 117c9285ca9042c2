// The live values of a serving store sit in slabs (value-slabs.ts) that overwrites and deletes
// fill with dead bytes; a repack walks the index a few keys per write and moves the live ones to
// fresh slabs. Checked against a plain model: every read, every watch event's prev_kv and a
// restart must see exactly the values written, however the walk interleaves with the writes.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { FROM_KEY, del, get, openHarness, put, type Harness } from './helpers.js';

const runs = Number(process.env.SLAB_PROPERTY_RUNS ?? 40);
const seed = process.env.SLAB_PROPERTY_SEED === undefined ? undefined : Number(process.env.SLAB_PROPERTY_SEED);

describe('MvccStore value slabs while serving', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('repacks in steps between writes and every read still sees the model', async () => {
    const opArb = fc.oneof(
      { weight: 6, arbitrary: fc.record({ kind: fc.constant('put' as const), key: fc.integer({ min: 0, max: 39 }), size: fc.integer({ min: 0, max: 120 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('del' as const), key: fc.integer({ min: 0, max: 39 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('big' as const), key: fc.integer({ min: 0, max: 39 }) }) },
    );
    let repackSeen = 0;
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 50, maxLength: 300 }), async (ops) => {
      h = await openHarness({ valueSlabs: { slabBytes: 512, repackDeadBytesMin: 256, repackStepRecords: 3 } });
      const model = new Map<string, string>();
      let n = 0;
      for (const op of ops) {
        const key = `k${String(op.key).padStart(2, '0')}`;
        n++;
        if (op.kind === 'del') {
          const { result } = await h.write((batch) => h!.store.deleteRange(del(key, '', { prevKv: true }), batch));
          expect(result.prevKvs.map((kv) => kv.value.toString())).toEqual(model.has(key) ? [model.get(key)] : []);
          model.delete(key);
        } else {
          // 'big' is over slabBytes / 8: a Buffer of its own.
          const value = `${n}:`.padEnd(op.kind === 'big' ? 100 : op.size, String.fromCharCode(97 + (n % 26)));
          const { result } = await h.write((batch) => h!.store.put(put(key, value, { prevKv: true }), batch));
          expect(result.prevKv?.value.toString()).toBe(model.get(key));
          model.set(key, value);
        }
        if (h.store.valueMemory.repacking) repackSeen++;
        if (n % 17 === 0) {
          const { kvs } = await h.store.range(get('', FROM_KEY));
          expect(new Map(kvs.map((kv) => [kv.key.toString(), kv.value.toString()]))).toEqual(model);
        }
      }
      const liveBytes = h.store.valueMemory.liveBytes;
      await h.reopen();
      const { kvs } = await h.store.range(get('', FROM_KEY));
      expect(new Map(kvs.map((kv) => [kv.key.toString(), kv.value.toString()]))).toEqual(model);
      expect(h.store.valueMemory.liveBytes).toBe(liveBytes);
      await h.close();
      h = undefined;
    }), { numRuns: runs, seed });
    // The sizes above make repacks frequent: a run that never repacked would test nothing.
    expect(repackSeen).toBeGreaterThan(0);
  });
});
