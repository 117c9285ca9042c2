// The write-ahead log's segment files: round trips across reopen and rollover, torn last frames,
// corruption anywhere else, segment release, the large-append path and stray temp files. Segments
// are 4 KiB so that a few dozen records roll over several times.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { SEGMENT_MAGIC, SegmentedLog, SegmentedLogCorruption, type SegmentedLogOptions } from '../../../src/storage/segmented-log.js';

const SEGMENT_BYTES = 4096;
const FRAME_HEADER_BYTES = 8;

const dirs: string[] = [];
const logs: SegmentedLog[] = [];
afterEach(async () => {
  for (const log of logs.splice(0)) await log.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'segmented-log-'));
  dirs.push(dir);
  return dir;
}

async function openLog(dir: string, options: Partial<SegmentedLogOptions> = {}): Promise<{ log: SegmentedLog; records: Buffer[] }> {
  const opened = await SegmentedLog.open(dir, { segmentBytes: SEGMENT_BYTES, fsync: true, ...options });
  logs.push(opened.log);
  return opened;
}

/** A recognisable record of `bytes` bytes. */
function record(name: string, bytes = 100): Buffer {
  const out = Buffer.alloc(bytes, name.length > 0 ? name.charCodeAt(name.length - 1) : 0x2e);
  out.write(`${name}|`, 0, Math.min(bytes, name.length + 1));
  return out;
}

/** One frame as the log writes it: length, crc32, payload. */
function frameOf(payload: Buffer): Buffer {
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  header.writeUInt32LE(payload.length, 0);
  header.writeUInt32LE(crc32(payload), 4);
  return Buffer.concat([header, payload]);
}

function segmentNames(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.endsWith('.wal')).sort();
}

/** The intact frames at the start of a segment file, read independently of the code under test. */
function framesIn(path: string): Buffer[] {
  const data = readFileSync(path);
  expect(data.subarray(0, SEGMENT_MAGIC.length).equals(SEGMENT_MAGIC)).toBe(true);
  const out: Buffer[] = [];
  let offset = SEGMENT_MAGIC.length;
  while (offset + FRAME_HEADER_BYTES <= data.length) {
    const length = data.readUInt32LE(offset);
    if (length === 0) break;
    const payload = data.subarray(offset + FRAME_HEADER_BYTES, offset + FRAME_HEADER_BYTES + length);
    expect(crc32(payload)).toBe(data.readUInt32LE(offset + 4));
    out.push(Buffer.from(payload));
    offset += FRAME_HEADER_BYTES + length;
  }
  return out;
}

function strings(records: Buffer[]): string[] {
  return records.map((r) => r.toString('latin1'));
}

/** Appends `count` records of 100 bytes, one append each, with tag = the record's number. */
async function appendNumbered(log: SegmentedLog, from: number, count: number, expected: Buffer[]): Promise<void> {
  for (let i = from; i < from + count; i++) {
    const r = record(`r${i}`);
    await log.append([r], i, true);
    expected.push(r);
  }
}

describe('segmented log: round trips', () => {
  it('reads back what was appended, across reopen, and keeps appending after the old records', async () => {
    const dir = tempDir();
    const first = await openLog(dir);
    expect(first.records).toEqual([]);
    expect(segmentNames(dir)).toEqual(['0000000000000000.wal']);
    const a = record('a', 1);
    const bc = [record('b', 300), record('c', 7)];
    expect(first.log.append([a], 1, true)).toBeUndefined();
    expect(first.log.append(bc, 3, false)).toBeUndefined();
    await first.log.close();
    expect(() => first.log.append([a], 4, true)).toThrow(/closed/);

    const second = await openLog(dir);
    expect(strings(second.records)).toEqual(strings([a, ...bc]));
    const d = record('d', 50);
    second.log.append([d], 4, true);
    await second.log.close();
    expect(strings((await openLog(dir)).records)).toEqual(strings([a, ...bc, d]));
  });

  it('refuses an empty record', async () => {
    const { log } = await openLog(tempDir());
    expect(() => log.append([Buffer.alloc(0)], 1, true)).toThrow(/never empty/);
  });

  it('rolls over into new segments, each starting with the onRollOver records, and reads all of them back in order', async () => {
    const dir = tempDir();
    const { log } = await openLog(dir);
    const expected: Buffer[] = [];
    let rollovers = 0;
    log.onRollOver = () => {
      rollovers++;
      const state = [record(`state${rollovers}`, 40), record(`more${rollovers}`, 20)];
      expected.push(...state);
      return { records: state, tag: 0 };
    };
    // 108 bytes a frame: 37 to a 4 KiB segment.
    await appendNumbered(log, 1, 150, expected);
    expect(rollovers).toBeGreaterThanOrEqual(3);
    const names = segmentNames(dir);
    expect(names.length).toBe(rollovers + 1);
    expect(log.segmentCount).toBe(names.length);
    expect(names).toEqual(names.map((_, i) => `${i.toString(16).padStart(16, '0')}.wal`));
    for (const [i, name] of names.entries()) {
      const frames = framesIn(join(dir, name));
      if (i === 0) {
        expect(frames[0]!.toString('latin1')).toMatch(/^r1\|/);
      } else {
        expect(strings(frames.slice(0, 2))).toEqual(strings([record(`state${i}`, 40), record(`more${i}`, 20)]));
      }
      // Preallocated: a segment never shrinks below its size (frames here are small).
      expect(readFileSync(join(dir, name)).length).toBe(SEGMENT_BYTES);
    }
    await log.close();

    const reopened = await openLog(dir);
    expect(strings(reopened.records)).toEqual(strings(expected));
    // Appending after a reopen continues the last segment, then rolls over again.
    reopened.log.onRollOver = () => ({ records: [record('after-reopen', 30)], tag: 0 });
    const more: Buffer[] = [];
    await appendNumbered(reopened.log, 1000, 80, more);
    await reopened.log.close();
    const all = (await openLog(dir)).records;
    expect(strings(all.slice(0, expected.length))).toEqual(strings(expected));
    expect(strings(all.slice(expected.length).filter((r) => !r.toString('latin1').startsWith('after-reopen|')))).toEqual(strings(more));
    expect(all.length).toBeGreaterThan(expected.length + more.length);
  });

  it('writes large appends (over 16 KiB) through the thread pool, and a frame larger than a segment gets one of its own', async () => {
    const dir = tempDir();
    const { log } = await openLog(dir);
    log.onRollOver = () => ({ records: [record('state', 10)], tag: 0 });
    const small = record('small', 200);
    const overSegmentSync = record('over-segment-sync', 10_000);
    const large = record('large', 20 * 1024);
    const huge = [record('huge-1', 30_000), record('huge-2', 15_000)];
    expect(log.append([small], 1, true)).toBeUndefined();
    expect(log.append([overSegmentSync], 2, true)).toBeUndefined();
    const pending = log.append([large], 3, true);
    expect(pending).toBeInstanceOf(Promise);
    await pending;
    await log.append(huge, 4, false);
    const tail = record('tail', 100);
    log.append([tail], 5, true);
    await log.close();

    const { records } = await openLog(dir);
    const state = record('state', 10);
    expect(strings(records)).toEqual(strings([small, state, overSegmentSync, state, large, state, ...huge, state, tail]));
    // The oversized segments grew past their preallocation to hold their frame.
    const sizes = segmentNames(dir).map((name) => readFileSync(join(dir, name)).length);
    expect(sizes.filter((size) => size > SEGMENT_BYTES).length).toBe(3);
  });

  it('works without fsync', async () => {
    const dir = tempDir();
    const { log } = await openLog(dir, { fsync: false });
    const expected: Buffer[] = [];
    log.onRollOver = () => {
      const state = record('state', 10);
      expected.push(state);
      return { records: [state], tag: 0 };
    };
    await appendNumbered(log, 1, 100, expected);
    await log.append([record('big', 20_000)], 101, true);
    expected.push(record('big', 20_000));
    await log.close();
    expect(strings((await openLog(dir, { fsync: false })).records)).toEqual(strings(expected));
  });

  it('removes stray temp files at open', async () => {
    const dir = tempDir();
    const { log } = await openLog(dir);
    log.append([record('x')], 1, true);
    await log.close();
    writeFileSync(join(dir, '0000000000000001.wal.tmp'), Buffer.alloc(100));
    writeFileSync(join(dir, '0000000000000001.wal.sync.tmp'), Buffer.alloc(100));
    writeFileSync(join(dir, 'first.tmp'), Buffer.alloc(100));
    const { records } = await openLog(dir);
    expect(strings(records)).toEqual(strings([record('x')]));
    expect(readdirSync(dir).sort()).toEqual(['0000000000000000.wal']);
  });

  it('can be closed and reopened at once, while the next segment is still being filled in the background', async () => {
    const dir = tempDir();
    const expected: Buffer[] = [];
    let next = 1;
    for (let round = 0; round < 6; round++) {
      const { log, records } = await openLog(dir);
      expect(strings(records)).toEqual(strings(expected));
      log.onRollOver = () => {
        expected.push(record('state', 10));
        return { records: [record('state', 10)], tag: 0 };
      };
      // Past half a segment: the next one starts filling in the background; no await before close.
      for (let i = 0; i < 25; i++) {
        log.append([record(`r${next}`)], next, false);
        expected.push(record(`r${next}`));
        next++;
      }
      await log.close();
    }
    expect(strings((await openLog(dir)).records)).toEqual(strings(expected));
  });
});

describe('segmented log: a torn last frame', () => {
  // A, B intact; C is the last frame, torn in some way. Its payload hides a valid frame X exactly
  // where a later, shorter frame D ends: if the torn bytes were left on disk, a replay after D
  // would find X.
  const a = record('A', 60);
  const b = record('B', 70);
  const d = record('D', 40);
  const x = record('X-garbage', 30);
  const c = Buffer.concat([Buffer.alloc(d.length, 0x63), frameOf(x)]);
  const cOffset = SEGMENT_MAGIC.length + 2 * FRAME_HEADER_BYTES + a.length + b.length;

  async function writeABC(): Promise<{ dir: string; path: string }> {
    const dir = tempDir();
    const { log } = await openLog(dir);
    log.append([a], 1, true);
    log.append([b], 2, true);
    log.append([c], 3, true);
    await log.close();
    const path = join(dir, '0000000000000000.wal');
    expect(strings(framesIn(path))).toEqual(strings([a, b, c]));
    return { dir, path };
  }

  function patch(path: string, offset: number, bytes: Buffer): void {
    const data = readFileSync(path);
    bytes.copy(data, offset);
    writeFileSync(path, data);
  }

  async function expectRecoversTo(dir: string, path: string): Promise<void> {
    const reopened = await openLog(dir);
    expect(strings(reopened.records)).toEqual(strings([a, b]));
    reopened.log.append([d], 3, true);
    await reopened.log.close();
    expect(strings((await openLog(dir)).records)).toEqual(strings([a, b, d]));
    // Nothing of C is left after D (when the file was preallocated, it is all zeros).
    const data = readFileSync(path);
    const end = cOffset + FRAME_HEADER_BYTES + d.length;
    expect(data.subarray(end).every((byte) => byte === 0)).toBe(true);
  }

  it('garbled payload bytes: the records before it survive, the next append replaces it cleanly', async () => {
    const { dir, path } = await writeABC();
    patch(path, cOffset + FRAME_HEADER_BYTES + 3, Buffer.from([0xff ^ c[3]!]));
    await expectRecoversTo(dir, path);
  });

  it('a length pointing past the end of the file', async () => {
    const { dir, path } = await writeABC();
    const length = Buffer.alloc(4);
    length.writeUInt32LE(SEGMENT_BYTES);
    patch(path, cOffset, length);
    await expectRecoversTo(dir, path);
  });

  it('a partial header: the length made it to disk, the crc and payload did not', async () => {
    const { dir, path } = await writeABC();
    patch(path, cOffset + 4, Buffer.alloc(FRAME_HEADER_BYTES - 4 + c.length));
    await expectRecoversTo(dir, path);
  });

  it('a partial header at the very end of a short file', async () => {
    const { dir, path } = await writeABC();
    truncateSync(path, cOffset + 5);
    const reopened = await openLog(dir);
    expect(strings(reopened.records)).toEqual(strings([a, b]));
    reopened.log.append([d], 3, true);
    await reopened.log.close();
    expect(strings((await openLog(dir)).records)).toEqual(strings([a, b, d]));
  });

  // A torn frame whose header never reached the disk (zeros) while later bytes of it did (they sit
  // in another page) reads as the end of the log; its stale bytes must not come back after a later,
  // shorter frame.
  it('a torn frame whose header is zeros but whose payload reached the disk', async () => {
    const { dir, path } = await writeABC();
    patch(path, cOffset, Buffer.alloc(FRAME_HEADER_BYTES));
    await expectRecoversTo(dir, path);
  });

  // Had the stale bytes of such a torn frame stayed behind the last frame, the segment would fail to
  // open (SegmentedLogCorruption) once the log rolled over and it was no longer the last.
  it('a torn zero-header frame near the end of a segment does not make the log unreadable after a rollover', async () => {
    const dir = tempDir();
    const first = await openLog(dir);
    first.log.append([a], 1, true);
    const big = record('C-big', SEGMENT_BYTES - SEGMENT_MAGIC.length - 2 * FRAME_HEADER_BYTES - a.length);
    first.log.append([big], 2, true);
    await first.log.close();
    const path = join(dir, '0000000000000000.wal');
    patch(path, SEGMENT_MAGIC.length + FRAME_HEADER_BYTES + a.length, Buffer.alloc(FRAME_HEADER_BYTES));

    const second = await openLog(dir);
    expect(strings(second.records)).toEqual(strings([a]));
    second.log.append([d], 2, true);
    const e = record('E', 4000);
    second.log.append([e], 3, true);
    await second.log.close();
    expect(segmentNames(dir).length).toBe(2);
    expect(strings((await openLog(dir)).records)).toEqual(strings([a, d, e]));
  });
});

describe('segmented log: corruption outside the torn tail', () => {
  async function threeSegments(): Promise<string> {
    const dir = tempDir();
    const { log } = await openLog(dir);
    await appendNumbered(log, 1, 90, []);
    await log.close();
    expect(segmentNames(dir).length).toBe(3);
    return dir;
  }

  it('a bad frame in a segment that is not the last', async () => {
    const dir = await threeSegments();
    const path = join(dir, '0000000000000000.wal');
    const data = readFileSync(path);
    const secondFrame = SEGMENT_MAGIC.length + FRAME_HEADER_BYTES + 100;
    data[secondFrame + FRAME_HEADER_BYTES + 10] ^= 0x01;
    writeFileSync(path, data);
    await expect(openLog(dir)).rejects.toThrow(SegmentedLogCorruption);
    await expect(openLog(dir)).rejects.toThrow(/not the last/);
  });

  it('a truncated segment that is not the last', async () => {
    const dir = await threeSegments();
    truncateSync(join(dir, '0000000000000001.wal'), SEGMENT_MAGIC.length + FRAME_HEADER_BYTES + 50);
    await expect(openLog(dir)).rejects.toThrow(SegmentedLogCorruption);
  });

  it('a missing segment in the middle', async () => {
    const dir = await threeSegments();
    rmSync(join(dir, '0000000000000001.wal'));
    await expect(openLog(dir)).rejects.toThrow(SegmentedLogCorruption);
    await expect(openLog(dir)).rejects.toThrow(/segment 1 is missing/);
  });

  it('a file with a wrong magic, first or last', async () => {
    const dir = await threeSegments();
    for (const name of ['0000000000000000.wal', '0000000000000002.wal']) {
      const path = join(dir, name);
      const data = readFileSync(path);
      const original = Buffer.from(data);
      data.write('ETSWAL99', 0);
      writeFileSync(path, data);
      await expect(openLog(dir)).rejects.toThrow(/not an etcd-ts write-ahead log segment/);
      writeFileSync(path, original);
    }
    writeFileSync(join(dir, '0000000000000003.wal'), Buffer.alloc(3));
    await expect(openLog(dir)).rejects.toThrow(SegmentedLogCorruption);
    rmSync(join(dir, '0000000000000003.wal'));
    expect((await openLog(dir)).records.length).toBe(90);
  });
});

describe('segmented log: releasing segments', () => {
  /** Appends records with the given tags; returns each segment's highest tag, by file name. */
  async function appendTagged(log: SegmentedLog, dir: string, tags: number[], maxTags: Map<string, number>): Promise<void> {
    for (const tag of tags) {
      await log.append([record(`t${tag}`)], tag, true);
      const current = segmentNames(dir).at(-1)!;
      maxTags.set(current, Math.max(maxTags.get(current) ?? 0, tag));
    }
  }

  it('deletes closed segments oldest first only while their highest tag is at most the given one, never the current one', async () => {
    const dir = tempDir();
    const { log } = await openLog(dir);
    const rolloverRecord = record('state', 10);
    log.onRollOver = () => ({ records: [rolloverRecord], tag: 0 });
    const maxTags = new Map<string, number>();
    // 37 records to a segment. Segment 0: tags 1..37; segment 1: 38..74; segment 2: a conflict
    // rewriting 30..66; segment 3 (current): 67..70.
    await appendTagged(log, dir, [...range(1, 74), ...range(30, 66), ...range(67, 70)], maxTags);
    const names = segmentNames(dir);
    expect(names.map((name) => maxTags.get(name))).toEqual([37, 74, 66, 70]);

    expect(log.releaseThrough(36)).toBe(0);
    expect(segmentNames(dir)).toEqual(names);
    // Segment 2's tags are all at most 66, but segment 1 before it still holds 74: only 0 goes.
    expect(log.releaseThrough(66)).toBe(1);
    expect(segmentNames(dir)).toEqual(names.slice(1));
    expect(log.releaseThrough(73)).toBe(0);
    expect(log.releaseThrough(74)).toBe(2);
    expect(segmentNames(dir)).toEqual(names.slice(3));
    // The current segment stays, whatever the tag.
    expect(log.releaseThrough(Number.MAX_SAFE_INTEGER)).toBe(0);
    expect(segmentNames(dir)).toEqual(names.slice(3));
    expect(log.segmentCount).toBe(1);
    const expectedAfterRelease = framesIn(join(dir, names[3]!));
    expect(strings(expectedAfterRelease)).toEqual(strings([rolloverRecord, ...range(67, 70).map((tag) => record(`t${tag}`))]));
    await log.close();

    // The log now starts at a later segment: it opens, reads the rest and goes on from there.
    const reopened = await openLog(dir);
    expect(strings(reopened.records)).toEqual(strings(expectedAfterRelease));
    reopened.log.onRollOver = () => ({ records: [rolloverRecord], tag: 0 });
    await appendTagged(reopened.log, dir, range(71, 150), maxTags);
    await reopened.log.close();
    const again = await openLog(dir);
    const rollovers = segmentNames(dir).length - 1;
    expect(rollovers).toBeGreaterThanOrEqual(2);
    expect(again.records.length).toBe(expectedAfterRelease.length + 80 + rollovers);
    expect(again.records.at(-1)!.toString('latin1')).toMatch(/^t150\|/);
  });

  it('releases every closed segment when all are covered', async () => {
    const dir = tempDir();
    const { log } = await openLog(dir);
    await appendTagged(log, dir, range(1, 150), new Map());
    expect(segmentNames(dir).length).toBe(5);
    expect(log.releaseThrough(150)).toBe(4);
    expect(segmentNames(dir)).toEqual(['0000000000000004.wal']);
    await appendTagged(log, dir, range(151, 200), new Map());
    expect(log.releaseThrough(200)).toBe(1);
    await log.close();
    const { records } = await openLog(dir);
    expect(records.at(-1)!.toString('latin1')).toMatch(/^t200\|/);
  });

  it('a release before any rollover deletes nothing', async () => {
    const dir = tempDir();
    const { log } = await openLog(dir);
    await appendTagged(log, dir, [1, 2, 3], new Map());
    expect(log.releaseThrough(100)).toBe(0);
    expect(segmentNames(dir).length).toBe(1);
  });

  // Tags are not on disk: at open the caller recovers them from the records (tagOf), or else a
  // member that ever restarted would keep every segment forever.
  it('segments written before a reopen are released once a later release covers them', async () => {
    const dir = tempDir();
    const first = await openLog(dir);
    await appendTagged(first.log, dir, range(1, 100), new Map());
    await first.log.close();
    expect(segmentNames(dir).length).toBe(3);
    const second = await openLog(dir, { tagOf: (bytes) => Number(/^t(\d+)\|/.exec(bytes.toString('latin1', 0, 24))?.[1] ?? 0) });
    await appendTagged(second.log, dir, range(101, 200), new Map());
    const before = segmentNames(dir).length;
    expect(second.log.releaseThrough(190)).toBe(before - 1);
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

describe('segmented log: files', () => {
  it('creates the directory and its first segment, preallocated', async () => {
    const dir = join(tempDir(), 'nested', 'wal');
    await openLog(dir);
    expect(existsSync(join(dir, '0000000000000000.wal'))).toBe(true);
    const data = readFileSync(join(dir, '0000000000000000.wal'));
    expect(data.length).toBe(SEGMENT_BYTES);
    expect(data.subarray(0, SEGMENT_MAGIC.length).equals(SEGMENT_MAGIC)).toBe(true);
    expect(data.subarray(SEGMENT_MAGIC.length).every((byte) => byte === 0)).toBe(true);
  });
});
