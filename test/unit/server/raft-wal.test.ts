// The Raft log's write-ahead log: the record codec, replay (conflicts, snapshots from the leader,
// compaction markers, gaps left by released segments), migration of a data dir whose Raft state
// is still in LevelDB, and a property test of random Ready-like saves, releases and reopens with
// tiny segments against an in-memory model.
import fc from 'fast-check';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Entry, HardState, SnapshotMetadata } from '../../../src/raft/types.js';
import { loadRaftState, raftStateOps, snapshotOps, type PersistedRaftState } from '../../../src/server/raft-log-store.js';
import { commitCoveringApplied, decodeWalRecord, encodeWalRecord, RaftWal, replayWalRecords, type WalRecord } from '../../../src/server/raft-wal.js';
import { Backend, type BatchOp } from '../../../src/storage/backend.js';
import { prefixEnd } from '../../../src/storage/keys.js';

const dirs: string[] = [];
const wals: RaftWal[] = [];
const backends: Backend[] = [];
afterEach(async () => {
  for (const wal of wals.splice(0)) await wal.close();
  for (const backend of backends.splice(0)) await backend.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'raft-wal-'));
  dirs.push(dir);
  return dir;
}

async function openBackend(): Promise<Backend> {
  const backend = await Backend.open(join(tempDir(), 'db'));
  backends.push(backend);
  return backend;
}

async function openWal(dir: string, backend: Backend, segmentBytes = 4096): Promise<{ wal: RaftWal; state: PersistedRaftState }> {
  const opened = await RaftWal.open(dir, backend, { fsync: true, segmentBytes });
  wals.push(opened.wal);
  return opened;
}

function entry(index: number, term: number, data: string | Uint8Array = `e${index}t${term}`, type = 0): Entry {
  return { index, term, type, data: typeof data === 'string' ? Buffer.from(data) : data };
}

function entries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let index = from; index <= to; index++) out.push(entry(index, term));
  return out;
}

const confState = { voters: [0x8e9e05c52164694dn, 2n], learners: [0xffffffffffffffffn] };

function marker(index: number, term: number): SnapshotMetadata {
  return { index, term, confState };
}

/** Entries as plain values (data as hex), so that Buffer and Uint8Array compare equal. */
function plainEntries(list: Entry[]): Array<{ index: number; term: number; type: number; data: string }> {
  return list.map((e) => ({ index: e.index, term: e.term, type: e.type, data: Buffer.from(e.data).toString('hex') }));
}

function plainState(state: PersistedRaftState): unknown {
  return { hardState: state.hardState, snapshot: state.snapshot, entries: plainEntries(state.entries) };
}

function roundTrip(record: WalRecord): WalRecord {
  return decodeWalRecord(encodeWalRecord(record));
}

describe('raft wal: record codec', () => {
  it('round-trips a record with everything: snapshot marker, 64-bit vote, indexes above 2^32, empty data, a conf change', () => {
    const record: WalRecord = {
      snapshot: { index: 2 ** 32 + 7, term: 2 ** 33, confState },
      replacesLog: true,
      hardState: { term: 2 ** 33 + 1, vote: 0xfedcba9876543210n, commit: 2 ** 32 + 9 },
      entries: [
        entry(2 ** 32 + 8, 2 ** 33, new Uint8Array()),
        entry(2 ** 32 + 9, 2 ** 33 + 1, Buffer.from([0, 1, 2, 0xff]), 1),
        entry(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 'last'),
      ],
    };
    const decoded = roundTrip(record);
    expect(decoded.snapshot).toEqual(record.snapshot);
    expect(decoded.replacesLog).toBe(true);
    expect(decoded.hardState).toEqual(record.hardState);
    expect(decoded.hardState!.vote).toBe(0xfedcba9876543210n);
    expect(plainEntries(decoded.entries)).toEqual(plainEntries(record.entries));
    expect(decoded.entries[1]!.type).toBe(1);
    expect(decoded.entries[0]!.data.length).toBe(0);
  });

  it('round-trips partial records', () => {
    expect(roundTrip({ entries: [] })).toEqual({ entries: [] });
    const hardState: HardState = { term: 3, vote: 0n, commit: 0 };
    expect(roundTrip({ hardState, entries: [] })).toEqual({ hardState, entries: [] });
    const compaction = roundTrip({ snapshot: marker(5, 2), entries: [] });
    expect(compaction.snapshot).toEqual(marker(5, 2));
    expect(compaction.replacesLog).toBe(false);
    expect(compaction.hardState).toBeUndefined();
    // replacesLog means nothing without a marker.
    expect(roundTrip({ replacesLog: true, entries: [entry(1, 1)] }).replacesLog).toBeUndefined();
    expect(roundTrip({ snapshot: { index: 0, term: 0, confState: { voters: [], learners: [] } }, entries: [] }).snapshot)
      .toEqual({ index: 0, term: 0, confState: { voters: [], learners: [] } });
  });

  it('refuses a record with stray bytes after it', () => {
    const bytes = encodeWalRecord({ hardState: { term: 1, vote: 1n, commit: 1 }, entries: [entry(1, 1)] });
    expect(() => decodeWalRecord(Buffer.concat([bytes, Buffer.from([0])]))).toThrow(/stray bytes/);
  });
});

describe('raft wal: replay', () => {
  const hs = (term: number, commit: number): HardState => ({ term, vote: 1n, commit });

  it('starts empty', () => {
    expect(replayWalRecords([])).toEqual({ hardState: undefined, snapshot: undefined, entries: [] });
  });

  it('keeps the latest hard state and appends contiguous entries', () => {
    const state = replayWalRecords([
      { hardState: hs(1, 0), entries: entries(1, 3, 1) },
      { entries: entries(4, 5, 1) },
      { hardState: hs(2, 5), entries: [] },
      { entries: entries(6, 6, 2) },
    ]);
    expect(state.hardState).toEqual(hs(2, 5));
    expect(state.snapshot).toBeUndefined();
    expect(plainEntries(state.entries)).toEqual(plainEntries([...entries(1, 5, 1), entry(6, 2)]));
  });

  it('entries at index i replace every later one (a follower\'s conflict)', () => {
    expect(plainEntries(replayWalRecords([{ entries: entries(1, 5, 1) }, { entries: entries(3, 4, 2) }]).entries))
      .toEqual(plainEntries([...entries(1, 2, 1), ...entries(3, 4, 2)]));
    expect(plainEntries(replayWalRecords([{ entries: entries(1, 5, 1) }, { entries: entries(1, 1, 3) }]).entries))
      .toEqual(plainEntries(entries(1, 1, 3)));
    expect(plainEntries(replayWalRecords([{ entries: entries(1, 5, 1) }, { entries: entries(5, 7, 2) }, { entries: entries(6, 6, 3) }]).entries))
      .toEqual(plainEntries([...entries(1, 4, 1), entry(5, 2), entry(6, 3)]));
  });

  it('a snapshot from the leader replaces the whole log, also entries after its index', () => {
    const state = replayWalRecords([
      { hardState: hs(1, 3), entries: entries(1, 20, 1) },
      { snapshot: marker(10, 4), replacesLog: true, hardState: hs(4, 10), entries: [] },
    ]);
    expect(state.snapshot).toEqual(marker(10, 4));
    expect(state.hardState).toEqual(hs(4, 10));
    expect(state.entries).toEqual([]);
    const withEntries = replayWalRecords([
      { entries: entries(1, 3, 1) },
      { snapshot: marker(10, 4), replacesLog: true, entries: entries(11, 12, 4) },
      { entries: entries(13, 13, 4) },
    ]);
    expect(plainEntries(withEntries.entries)).toEqual(plainEntries(entries(11, 13, 4)));
  });

  it('a compaction marker keeps the entries after it', () => {
    const state = replayWalRecords([
      { entries: entries(1, 10, 1) },
      { snapshot: marker(6, 1), entries: [] },
      { entries: entries(11, 11, 2) },
    ]);
    expect(state.snapshot).toEqual(marker(6, 1));
    expect(plainEntries(state.entries)).toEqual(plainEntries([...entries(7, 10, 1), entry(11, 2)]));
    // A marker at the last index leaves no entries; the next ones follow it.
    expect(replayWalRecords([{ entries: entries(1, 4, 1) }, { snapshot: marker(4, 1), entries: [] }]).entries).toEqual([]);
    expect(plainEntries(replayWalRecords([
      { entries: entries(1, 4, 1) }, { snapshot: marker(4, 1), entries: [] }, { entries: entries(5, 5, 1) },
    ]).entries)).toEqual(plainEntries(entries(5, 5, 1)));
  });

  it('a gap left by released segments is fine when a later marker covers it', () => {
    // What is left after releasing segments: a segment starting with the rollover record (an older
    // marker and the hard state), entries that do not follow it, then the marker that allowed the release.
    const state = replayWalRecords([
      { snapshot: marker(2, 1), hardState: hs(1, 2), entries: [] },
      { entries: entries(8, 10, 1) },
      { snapshot: marker(7, 1), entries: [] },
      { entries: entries(11, 12, 1) },
    ]);
    expect(state.snapshot).toEqual(marker(7, 1));
    expect(plainEntries(state.entries)).toEqual(plainEntries(entries(8, 12, 1)));
    // Entries before the gap are dropped with it.
    expect(plainEntries(replayWalRecords([
      { entries: entries(1, 3, 1) }, { entries: entries(6, 7, 1) }, { snapshot: marker(5, 1), entries: [] },
    ]).entries)).toEqual(plainEntries(entries(6, 7, 1)));
  });

  it('an uncovered gap is refused', () => {
    expect(() => replayWalRecords([{ entries: entries(1, 3, 1) }, { entries: entries(5, 6, 1) }])).toThrow(/not contiguous/);
    expect(() => replayWalRecords([{ entries: entries(3, 4, 1) }])).toThrow(/not contiguous: expected index 1, found 3/);
    expect(() => replayWalRecords([
      { snapshot: marker(2, 1), entries: [] }, { entries: entries(5, 6, 1) },
    ])).toThrow(/not contiguous: expected index 3, found 5/);
    expect(() => replayWalRecords([
      { snapshot: marker(10, 1), replacesLog: true, entries: [] }, { entries: entries(12, 12, 1) },
    ])).toThrow(/not contiguous/);
  });
});

describe('raft wal: the log on disk', () => {
  it('saves Readies and reads them back after a reopen, across segments', async () => {
    const dir = tempDir();
    const backend = await openBackend();
    const { wal, state } = await openWal(dir, backend, 1024);
    expect(plainState(state)).toEqual(plainState({ entries: [] }));
    expect(wal.save([], true)).toBeUndefined();
    expect(wal.save([{ entries: [] }], true)).toBeUndefined();
    await wal.save([{ snapshot: marker(1, 1), hardState: { term: 1, vote: 0n, commit: 1 }, entries: [] }], true);
    let hardState: HardState = { term: 1, vote: 0n, commit: 1 };
    for (let index = 2; index <= 60; index++) {
      hardState = { term: 2, vote: 0xfedcba9876543210n, commit: index - 1 };
      expect(wal.save([{ hardState, entries: [entry(index, 2, `value-${index}`.padEnd(60, '.'))] }], true)).toBeUndefined();
    }
    const big = entry(61, 2, Buffer.alloc(20_000, 7));
    const pending = wal.save([{ entries: [big] }], true);
    expect(pending).toBeInstanceOf(Promise);
    await pending;
    expect(wal.segmentCount).toBeGreaterThan(5);
    await wal.close();

    const reopened = await openWal(dir, backend, 1024);
    expect(reopened.state.snapshot).toEqual(marker(1, 1));
    expect(reopened.state.hardState).toEqual(hardState);
    expect(plainEntries(reopened.state.entries)).toEqual(plainEntries([
      ...Array.from({ length: 59 }, (_, i) => entry(i + 2, 2, `value-${i + 2}`.padEnd(60, '.'))), big,
    ]));
  });

  it('every new segment starts with the marker and hard state: releasing the old ones loses nothing', async () => {
    const dir = tempDir();
    const backend = await openBackend();
    const { wal } = await openWal(dir, backend, 1024);
    const all: Entry[] = [];
    let hardState: HardState = { term: 1, vote: 1n, commit: 0 };
    for (let index = 1; index <= 40; index++) {
      const e = entry(index, 1, `x${index}`.padEnd(80, '-'));
      all.push(e);
      hardState = { term: 1, vote: 1n, commit: index };
      const records: WalRecord[] = [{ hardState, entries: [e] }];
      if (index === 30) records.push({ snapshot: marker(25, 1), entries: [] });
      wal.save(records, true);
    }
    const before = wal.segmentCount;
    expect(wal.releaseThrough(25)).toBeGreaterThan(0);
    expect(wal.segmentCount).toBeLessThan(before);
    expect(readdirSync(dir)).not.toContain('0000000000000000.wal');
    await wal.close();
    const { state } = await openWal(dir, backend, 1024);
    expect(state.snapshot).toEqual(marker(25, 1));
    expect(state.hardState).toEqual(hardState);
    expect(plainEntries(state.entries)).toEqual(plainEntries(all.slice(25)));
  });

  // A rollover inside an append writes the new segment's first record (the state) as its own write,
  // ahead of the Ready's frame: it must carry the state before that Ready, or a crash between the
  // two writes would leave a hard state (commit 2) durable without the entry it commits. Simulated
  // by zeroing the Ready's frame.
  it('a crash right after a rollover record leaves the state before the Ready that caused it', async () => {
    const dir = tempDir();
    const backend = await openBackend();
    const { wal } = await openWal(dir, backend, 1024);
    const before: HardState = { term: 1, vote: 1n, commit: 1 };
    wal.save([{ hardState: before, entries: [entry(1, 1)] }], true);
    // Larger than the segment's room: the log rolls over first.
    await wal.save([{ hardState: { term: 1, vote: 1n, commit: 2 }, entries: [entry(2, 1, Buffer.alloc(2000, 1))] }], true);
    await wal.close();
    const second = join(dir, '0000000000000001.wal');
    const data = readFileSync(second);
    const rolloverFrameEnd = 8 + 8 + data.readUInt32LE(8);
    data.fill(0, rolloverFrameEnd);
    writeFileSync(second, data);

    const { state } = await openWal(dir, backend, 1024);
    expect(plainEntries(state.entries)).toEqual(plainEntries([entry(1, 1)]));
    expect(state.hardState).toEqual(before);
  });
});

describe('raft wal: commit-only records', () => {
  it('wait for the next write: a crash before it loses the commit index, and start-up takes it from the applied index', async () => {
    const dir = tempDir();
    const backend = await openBackend();
    const { wal } = await openWal(dir, backend);
    await wal.save([{ snapshot: marker(1, 1), hardState: { term: 2, vote: 1n, commit: 1 }, entries: [] }], true);
    expect(wal.save([{ hardState: { term: 2, vote: 1n, commit: 1 }, entries: entries(2, 4, 2) }], true)).toBeUndefined();
    expect(wal.save([{ hardState: { term: 2, vote: 1n, commit: 3 }, entries: [] }], false)).toBeUndefined();
    expect(wal.save([{ hardState: { term: 2, vote: 1n, commit: 4 }, entries: [] }], false)).toBeUndefined();

    // A crash now (the log reopened while this one never closed): the commit-only records are gone.
    const crashed = await RaftWal.open(dir, backend, { fsync: true, segmentBytes: 4096 });
    expect(crashed.state.hardState).toEqual({ term: 2, vote: 1n, commit: 1 });
    expect(plainEntries(crashed.state.entries)).toEqual(plainEntries(entries(2, 4, 2)));
    await crashed.wal.close();
    // LevelDB had applied up to 3: the commit index comes back from there.
    expect(commitCoveringApplied(crashed.state.hardState!, 3, 4)).toEqual({ term: 2, vote: 1n, commit: 3 });

    // The next write carries the newest deferred record before its own.
    expect(wal.save([{ entries: entries(5, 5, 2) }], true)).toBeUndefined();
    const reopened = await RaftWal.open(dir, backend, { fsync: true, segmentBytes: 4096 });
    expect(reopened.state.hardState).toEqual({ term: 2, vote: 1n, commit: 4 });
    await reopened.wal.close();

    // A clean close writes a deferred one.
    expect(wal.save([{ hardState: { term: 2, vote: 1n, commit: 5 }, entries: [] }], false)).toBeUndefined();
    await wal.close();
    wals.splice(wals.indexOf(wal), 1);
    const closed = await openWal(dir, backend);
    expect(closed.state.hardState).toEqual({ term: 2, vote: 1n, commit: 5 });
  });

  it('commitCoveringApplied raises the commit to the applied index, never past the log, and never lowers it', () => {
    const hardState = { term: 3, vote: 2n, commit: 10 };
    expect(commitCoveringApplied(hardState, 8, 20)).toBe(hardState);
    expect(commitCoveringApplied(hardState, 10, 20)).toBe(hardState);
    expect(commitCoveringApplied(hardState, 15, 20)).toEqual({ term: 3, vote: 2n, commit: 15 });
    expect(commitCoveringApplied(hardState, 25, 20)).toEqual({ term: 3, vote: 2n, commit: 20 });
  });
});

describe('raft wal: migration from LevelDB', () => {
  async function legacyBackend(): Promise<{ backend: Backend; legacy: PersistedRaftState }> {
    const backend = await openBackend();
    const batch: BatchOp[] = [];
    snapshotOps(batch, marker(5, 2));
    raftStateOps(batch, { term: 3, vote: 0xfedcba9876543210n, commit: 8 }, [
      ...entries(4, 5, 2), // compacted: below the marker, not part of the state
      entry(6, 2, new Uint8Array()),
      entry(7, 3, Buffer.from('conf change'), 1),
      entry(8, 3, Buffer.alloc(20_000, 9)), // the migration's one record is large: the async path
      entry(9, 3),
    ]);
    batch.push({ type: 'put', key: Buffer.from('m/some-key'), value: Buffer.from('kept') });
    await backend.write(batch, true);
    const legacy = await loadRaftState(backend);
    expect(legacy.entries.map((e) => e.index)).toEqual([6, 7, 8, 9]);
    return { backend, legacy };
  }

  async function raftKeys(backend: Backend): Promise<string[]> {
    const keys = await backend.readAll(Buffer.from('r/'), prefixEnd(Buffer.from('r/')));
    return keys.map(([key]) => key.toString('latin1'));
  }

  it('moves the Raft state into the log, deletes the r/ keys, and a reopen reads it from the log', async () => {
    const dir = tempDir();
    const { backend, legacy } = await legacyBackend();
    const { wal, state } = await openWal(dir, backend);
    expect(plainState(state)).toEqual(plainState(legacy));
    expect(state.hardState!.vote).toBe(0xfedcba9876543210n);
    expect(await raftKeys(backend)).toEqual([]);
    expect((await backend.get(Buffer.from('m/some-key')))?.toString()).toBe('kept');
    await wal.close();

    const reopened = await openWal(dir, backend);
    expect(plainState(reopened.state)).toEqual(plainState(legacy));
    // And it goes on from there.
    reopened.wal.save([{ hardState: { term: 3, vote: 1n, commit: 10 }, entries: [entry(10, 3)] }], true);
    await reopened.wal.close();
    const third = await openWal(dir, backend);
    expect(plainEntries(third.state.entries)).toEqual(plainEntries([...legacy.entries, entry(10, 3)]));
    expect(third.state.hardState).toEqual({ term: 3, vote: 1n, commit: 10 });
  });

  it('after a crash between writing the log and deleting the r/ keys, the log wins and the keys go', async () => {
    const dir = tempDir();
    const { backend, legacy } = await legacyBackend();
    await (await openWal(dir, backend)).wal.close();
    // The r/ keys are back (as if never deleted), and staler than the log.
    const stale: BatchOp[] = [];
    raftStateOps(stale, { term: 1, vote: 1n, commit: 1 }, entries(1, 2, 1));
    await backend.write(stale, true);
    const { state } = await openWal(dir, backend);
    expect(plainState(state)).toEqual(plainState(legacy));
    expect(await raftKeys(backend)).toEqual([]);
  });

  it('a new data dir has nothing to migrate', async () => {
    const backend = await openBackend();
    const { state } = await openWal(tempDir(), backend);
    expect(plainState(state)).toEqual(plainState({ entries: [] }));
    expect(await raftKeys(backend)).toEqual([]);
  });
});

// --- property: random Ready-like saves, compactions with releases (at once or later), snapshots
// from the leader and reopens, against a model that keeps the latest hard state, the latest marker and the entries
// after it.

type Command =
  | {
    kind: 'ready';
    append?: { back: number; count: number; newTerm: boolean; sizes: number[] };
    hardState?: { vote: number; commit: number };
    compactAt?: number;
    sync: boolean;
  }
  | { kind: 'leaderSnapshot'; ahead: number; count: number; hardState: boolean }
  /** A late release through the latest marker: allowed, as nothing at or below it is needed. */
  | { kind: 'release' }
  | { kind: 'reopen' };

const sizeArb = fc.oneof(
  { weight: 20, arbitrary: fc.integer({ min: 0, max: 120 }) },
  { weight: 2, arbitrary: fc.integer({ min: 500, max: 2500 }) }, // a frame the size of a segment or more
  { weight: 1, arbitrary: fc.constant(17_000) }, // over 16 KiB: the thread-pool path
);
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant('ready' as const),
      append: fc.option(fc.record({
        back: fc.nat(3), count: fc.integer({ min: 1, max: 4 }), newTerm: fc.boolean(),
        sizes: fc.array(sizeArb, { minLength: 4, maxLength: 4 }),
      }), { nil: undefined, freq: 4 }),
      hardState: fc.option(fc.record({ vote: fc.nat(2), commit: fc.nat(1000) }), { nil: undefined }),
      compactAt: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.nat(1000) }),
      sync: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('leaderSnapshot' as const), ahead: fc.nat(4), count: fc.nat(3), hardState: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'release' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'reopen' as const }) },
);

const VOTES = [0n, 1n, 0xfedcba9876543210n];

interface Model {
  hardState?: HardState;
  snapshot?: SnapshotMetadata;
  entries: Entry[];
  term: number;
}

function lastIndex(model: Model): number {
  return model.entries.at(-1)?.index ?? model.snapshot?.index ?? 0;
}

function dataFor(index: number, term: number, size: number): Buffer {
  const data = Buffer.alloc(size, (index * 31 + term) & 0xff);
  data.write(`${index}/${term}`.slice(0, size));
  return data;
}

describe('raft wal: property', () => {
  let backend: Backend;
  const propertyDirs: string[] = [];
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raft-wal-property-db-'));
    propertyDirs.push(dir);
    backend = await Backend.open(dir);
  });
  afterAll(async () => {
    await backend.close();
    for (const dir of propertyDirs) rmSync(dir, { recursive: true, force: true });
  });

  it('replays to the model after any sequence of saves, compactions with releases, leader snapshots and reopens', async () => {
    const segmentBytes = 1024;
    await fc.assert(fc.asyncProperty(fc.array(commandArb, { minLength: 1, maxLength: 30, size: 'max' }), async (commands) => {
      const dir = mkdtempSync(join(tmpdir(), 'raft-wal-property-'));
      let wal = (await RaftWal.open(dir, backend, { fsync: false, segmentBytes })).wal;
      try {
        const model: Model = { entries: [], term: 1 };
        const expectModel = (state: PersistedRaftState): void => {
          expect(plainState(state)).toEqual(plainState(model));
        };
        for (const command of commands) {
          if (command.kind === 'reopen') {
            await wal.close();
            const opened = await RaftWal.open(dir, backend, { fsync: false, segmentBytes });
            wal = opened.wal;
            expectModel(opened.state);
            continue;
          }
          if (command.kind === 'release') {
            wal.releaseThrough(model.snapshot?.index ?? 0);
            continue;
          }
          if (command.kind === 'leaderSnapshot') {
            const snapshotIndex = Math.max((model.snapshot?.index ?? 0) + 1, lastIndex(model) - 1 + command.ahead);
            model.term++;
            const snapshot = marker(snapshotIndex, model.term);
            const newEntries = Array.from({ length: command.count }, (_, i) => entry(snapshotIndex + 1 + i, model.term, dataFor(snapshotIndex + 1 + i, model.term, 10)));
            const record: WalRecord = { snapshot, replacesLog: true, entries: newEntries };
            if (command.hardState) record.hardState = { term: model.term, vote: 1n, commit: snapshotIndex };
            await wal.save([record], true);
            model.snapshot = snapshot;
            model.entries = newEntries;
            if (record.hardState) model.hardState = record.hardState;
            continue;
          }
          const record: WalRecord = { entries: [] };
          if (command.append) {
            const { back, count, newTerm, sizes } = command.append;
            if (newTerm) model.term++;
            const first = Math.max((model.snapshot?.index ?? 0) + 1, lastIndex(model) + 1 - back);
            record.entries = Array.from({ length: count }, (_, i) => entry(first + i, model.term, dataFor(first + i, model.term, sizes[i]!)));
            model.entries = [...model.entries.filter((e) => e.index < first), ...record.entries];
          }
          if (command.hardState) {
            record.hardState = { term: model.term, vote: VOTES[command.hardState.vote]!, commit: command.hardState.commit };
            model.hardState = record.hardState;
          }
          const records = [record];
          let compaction: SnapshotMetadata | undefined;
          if (command.compactAt !== undefined && model.entries.length > 0) {
            const at = model.entries[command.compactAt % model.entries.length]!;
            compaction = marker(at.index, at.term);
            records.push({ snapshot: compaction, entries: [] });
            model.snapshot = compaction;
            model.entries = model.entries.filter((e) => e.index > at.index);
          }
          await wal.save(records, command.sync);
          if (compaction) wal.releaseThrough(compaction.index);
        }
        await wal.close();
        const opened = await RaftWal.open(dir, backend, { fsync: false, segmentBytes });
        wal = opened.wal;
        expectModel(opened.state);
      } finally {
        await wal.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }), { numRuns: Number(process.env.WAL_PROPERTY_RUNS ?? 100), seed: process.env.WAL_PROPERTY_SEED === undefined ? undefined : Number(process.env.WAL_PROPERTY_SEED) });
  });
});
