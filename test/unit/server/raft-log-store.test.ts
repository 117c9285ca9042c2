import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeAppliedIndex } from '../../../src/server/apply.js';
import { Backend, type BatchOp } from '../../../src/storage/backend.js';
import {
  decodeEntry, decodeHardState, encodeEntry, entryKey, encodeHardState, loadRaftState, raftStateOps, snapshotOps,
} from '../../../src/server/raft-log-store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function openBackend(): Promise<Backend> {
  const dir = mkdtempSync(join(tmpdir(), 'raft-log-store-'));
  dirs.push(dir);
  return Backend.open(dir);
}

describe('raft log store', () => {
  it('round-trips entries and hard state, including 64-bit votes', () => {
    const entry = { term: 7, index: 42, type: 1, data: Buffer.from('payload') };
    expect(decodeEntry(42, encodeEntry(entry))).toEqual({ ...entry, data: Buffer.from('payload') });
    const hardState = { term: 9, vote: 0xfedcba9876543210n, commit: 1234 };
    expect(decodeHardState(encodeHardState(hardState))).toEqual(hardState);
  });

  it('writes hard states and applied indexes as uint64 BE, byte for byte as before, whatever the vote did', () => {
    const uint53 = fc.oneof(fc.constantFrom(0, 1, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER), fc.maxSafeNat());
    const vote = fc.oneof(fc.constantFrom(0n, 1n, (1n << 64n) - 1n), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }));
    // A sequence: the encoder keeps the last vote's bytes, so repeated and changed votes both matter.
    fc.assert(fc.property(fc.array(fc.record({ term: uint53, vote, commit: uint53 }), { minLength: 1, maxLength: 8 }), (states) => {
      for (const hardState of states) {
        const expected = Buffer.alloc(24);
        expected.writeBigUInt64BE(BigInt(hardState.term), 0);
        expected.writeBigUInt64BE(hardState.vote, 8);
        expected.writeBigUInt64BE(BigInt(hardState.commit), 16);
        expect(encodeHardState(hardState)).toStrictEqual(expected);
        const index = Buffer.alloc(8);
        index.writeBigUInt64BE(BigInt(hardState.commit));
        expect(encodeAppliedIndex(hardState.commit)).toStrictEqual(index);
      }
    }), { numRuns: 300 });
    expect(() => encodeHardState({ term: -1, vote: 0n, commit: 0 })).toThrow(RangeError);
  });

  it('loads what was persisted: snapshot marker, hard state and the entries after the snapshot', async () => {
    const backend = await openBackend();
    const batch: BatchOp[] = [];
    snapshotOps(batch, { index: 1, term: 1, confState: { voters: [0x8e9e05c52164694dn], learners: [] } });
    raftStateOps(batch, { term: 2, vote: 0x8e9e05c52164694dn, commit: 3 }, [
      { term: 2, index: 2, type: 0, data: new Uint8Array() },
      { term: 2, index: 3, type: 0, data: Buffer.from('x') },
    ]);
    await backend.write(batch, true);
    const state = await loadRaftState(backend);
    expect(state.snapshot?.confState.voters).toEqual([0x8e9e05c52164694dn]);
    expect(state.hardState).toEqual({ term: 2, vote: 0x8e9e05c52164694dn, commit: 3 });
    expect(state.entries.map((e) => e.index)).toEqual([2, 3]);
    await backend.close();
  });

  it('refuses to start on a log with a hole in it', async () => {
    const backend = await openBackend();
    const batch: BatchOp[] = [];
    raftStateOps(batch, undefined, [1, 2, 3].map((index) => ({ term: 1, index, type: 0, data: new Uint8Array() })));
    batch.push({ type: 'del', key: entryKey(2) });
    await backend.write(batch, true);
    await expect(loadRaftState(backend)).rejects.toThrow(/not contiguous/);
    await backend.close();
  });
});
