// An append-only log of opaque records in preallocated segment files: the write-ahead log under the
// Raft log (server/raft-wal.ts gives the records their meaning).
//
// Why not LevelDB: a synced LevelDB batch costs about 0.26 ms here, a pwrite plus fdatasync into a
// preallocated file about 0.12 ms; a put at 1 conn/1 client pays one of them. Preallocation (the
// file is filled with zeros when it is made) means fdatasync flushes data only, never the file's size
// or block map.
//
// Segment file: 8-byte magic, then frames: payload length (u32 LE) | crc32 of payload (u32 LE) |
// payload. A zero length marks the end of the written part (the preallocated zeros). Each append is
// one frame written with one pwrite, so a crash can tear only the last frame of the last segment:
// replay stops there and zeroes the torn bytes, and the next append overwrites them. A bad frame
// anywhere else is corruption, and opening fails rather than serve a log with a hole in it.
//
// Each frame carries a caller's tag (the highest Raft index it holds, kept in memory only) so that
// whole segments can be released once the caller no longer needs any record in them.
import { closeSync, fdatasync, fdatasyncSync, fstatSync, fsyncSync, mkdirSync, openSync, readdirSync, readSync, renameSync,
  rmSync, write, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

export const SEGMENT_MAGIC = Buffer.from('ETSWAL01');
const FRAME_HEADER_BYTES = 8;
const ZERO_CHUNK = Buffer.alloc(1024 * 1024);
/** Appends up to this size are written and synced on the event loop's thread: see append(). */
const BLOCKING_WRITE_BYTES_MAX = 16 * 1024;

export interface SegmentedLogOptions {
  /** Bytes preallocated per segment (etcd: 64 MiB). A frame larger than a segment gets one of its own. */
  segmentBytes: number;
  /** false only for --unsafe-no-fsync: appends reach the page cache, not the disk. */
  fsync: boolean;
  /**
   * The tag of a record read back at open (tags are not stored): without it, segments found at open
   * are never released.
   */
  tagOf?: (record: Buffer) => number;
}

export class SegmentedLogCorruption extends Error {}

interface Segment {
  seq: number;
  path: string;
  /** The highest tag of a frame in it (0: none). */
  maxTag: number;
}

export interface OpenedLog {
  log: SegmentedLog;
  /** Every intact record, oldest first. */
  records: Buffer[];
}

export class SegmentedLog {
  private fd: number;
  private offset: number;
  /** Closed segments, oldest first; `current` is being appended to. */
  private readonly closed: Segment[] = [];
  private current: Segment;
  /** The next segment, zero-filled in the background so that a rollover does not wait for it. */
  private prepared?: { seq: number; path: string; ready: boolean };
  private closedForGood = false;
  /** Background fills still running (settle without rejecting). */
  private readonly fills = new Set<Promise<void>>();

  private constructor(private readonly dir: string, private readonly options: SegmentedLogOptions,
    segments: Segment[], fd: number, offset: number) {
    this.current = segments[segments.length - 1]!;
    this.closed.push(...segments.slice(0, -1));
    this.fd = fd;
    this.offset = offset;
  }

  /** Opens (creating if needed) the log in `dir` and reads every record back. */
  static async open(dir: string, options: SegmentedLogOptions): Promise<OpenedLog> {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(dir)) {
      if (name.endsWith('.tmp')) rmSync(join(dir, name), { force: true });
    }
    const seqs = readdirSync(dir).map(parseSegmentName).filter((seq): seq is number => seq !== undefined).sort((a, b) => a - b);
    const records: Buffer[] = [];
    const segments: Segment[] = [];
    let lastOffset = 0;
    for (let i = 0; i < seqs.length; i++) {
      const seq = seqs[i]!;
      if (i > 0 && seq !== seqs[i - 1]! + 1) throw new SegmentedLogCorruption(`write-ahead log segment ${seq - 1} is missing in ${dir}`);
      const path = join(dir, segmentName(seq));
      const isLast = i === seqs.length - 1;
      const read = readSegment(path, isLast);
      let maxTag = 0;
      for (const record of read.records) {
        records.push(record);
        maxTag = Math.max(maxTag, options.tagOf ? options.tagOf(record) : Number.MAX_SAFE_INTEGER);
      }
      segments.push({ seq, path, maxTag });
      lastOffset = read.endOffset;
    }
    if (segments.length === 0) {
      const path = join(dir, segmentName(0));
      await createSegmentFile(join(dir, 'first.tmp'), options.segmentBytes);
      renameSync(join(dir, 'first.tmp'), path);
      syncDirectory(dir);
      segments.push({ seq: 0, path, maxTag: 0 });
      lastOffset = SEGMENT_MAGIC.length;
    }
    const fd = openSync(segments[segments.length - 1]!.path, 'r+');
    return { log: new SegmentedLog(dir, options, segments, fd, lastOffset), records };
  }

  /**
   * Appends the records as one frame each, in one write; with `sync`, they are on disk on return (or
   * when the promise settles). Small appends (a put at low concurrency) are written and synced
   * without leaving the thread: a round trip through libuv's pool costs more than the fdatasync
   * saves at that size. Large ones go to the pool so that requests keep being read meanwhile.
   * Appends must not overlap (the Raft driver's cycles never do).
   */
  append(records: Buffer[], tag: number, sync: boolean): Promise<void> | undefined {
    if (this.closedForGood) throw new Error('write-ahead log is closed');
    const bytes = frame(records);
    if (this.offset + bytes.length > this.options.segmentBytes && this.offset > SEGMENT_MAGIC.length) this.rollOver();
    const position = this.offset;
    this.offset += bytes.length;
    if (tag > this.current.maxTag) this.current.maxTag = tag;
    // Fill the next segment once this one is half full: early enough to be done long before it is
    // needed, late enough not to compete with a just-started member's first writes for the disk.
    if (!this.prepared && this.offset > this.options.segmentBytes / 2) this.prepareNext();
    const doSync = sync && this.options.fsync;
    if (bytes.length <= BLOCKING_WRITE_BYTES_MAX) {
      writeFully(this.fd, bytes, position);
      if (doSync) fdatasyncSync(this.fd);
      return undefined;
    }
    const fd = this.fd;
    return new Promise<void>((resolve, reject) => {
      write(fd, bytes, 0, bytes.length, position, (error, written) => {
        if (error) return reject(error);
        if (written !== bytes.length) {
          try {
            writeFully(fd, bytes.subarray(written), position + written);
          } catch (retryError) {
            return reject(retryError);
          }
        }
        if (!doSync) return resolve();
        fdatasync(fd, (syncError) => (syncError ? reject(syncError) : resolve()));
      });
    });
  }

  /**
   * Deletes closed segments, oldest first, while every frame in them has a tag ≤ `tag`. The caller
   * promises that nothing at or below `tag` is needed for a replay any more (its state is durable
   * elsewhere) and that each new segment starts with whatever state replay needs (see onRollOver).
   */
  releaseThrough(tag: number): number {
    let released = 0;
    while (this.closed.length > 0 && this.closed[0]!.maxTag <= tag) {
      const segment = this.closed.shift()!;
      rmSync(segment.path, { force: true });
      released++;
    }
    if (released > 0) syncDirectory(this.dir);
    return released;
  }

  /** Records written first in every new segment (the caller's current state), set by the owner. */
  onRollOver: () => { records: Buffer[]; tag: number } = () => ({ records: [], tag: 0 });

  get segmentCount(): number {
    return this.closed.length + 1;
  }

  /**
   * Closes the segment being written. The returned promise settles once no background fill of
   * this log is left running (its file removed): after that nothing of it touches the directory.
   */
  close(): Promise<void> {
    if (!this.closedForGood) {
      this.closedForGood = true;
      closeSync(this.fd);
      // A fill that finished and was never used: nothing will rename it now.
      if (this.prepared?.ready) rmSync(this.prepared.path, { force: true });
    }
    return Promise.all(this.fills).then(() => undefined);
  }

  private rollOver(): void {
    // The old segment's last frames may have been written without sync: flush them before anything
    // lands in the new one, so that only the last segment can ever end in a torn frame.
    if (this.options.fsync) fdatasyncSync(this.fd);
    closeSync(this.fd);
    this.closed.push(this.current);
    const seq = this.current.seq + 1;
    const path = join(this.dir, segmentName(seq));
    // The background fill has normally finished long ago (a segment holds many seconds of writes);
    // if it has not (or failed), fill another file synchronously and let the background one go.
    let tmp: string;
    if (this.prepared?.seq === seq && this.prepared.ready) {
      tmp = this.prepared.path;
    } else {
      tmp = join(this.dir, `${segmentName(seq)}.sync.tmp`);
      createSegmentFileSync(tmp, this.options.segmentBytes);
    }
    renameSync(tmp, path);
    syncDirectory(this.dir);
    this.prepared = undefined;
    this.current = { seq, path, maxTag: 0 };
    this.fd = openSync(path, 'r+');
    this.offset = SEGMENT_MAGIC.length;
    const { records, tag } = this.onRollOver();
    if (records.length > 0) {
      const bytes = frame(records);
      writeFully(this.fd, bytes, this.offset);
      this.offset += bytes.length;
      this.current.maxTag = tag;
    }
  }

  private prepareNext(): void {
    const seq = this.current.seq + 1;
    // A name of this instance's own: a log closed and reopened in one process (tests, a restarted
    // server object) may still have a fill running, which must never touch the new one's file.
    const prepared = { seq, path: join(this.dir, `${segmentName(seq)}.${process.pid}-${++fillCounter}.tmp`), ready: false };
    this.prepared = prepared;
    const fill: Promise<void> = createSegmentFile(prepared.path, this.options.segmentBytes).then(() => {
      prepared.ready = true;
      // Overtaken by a synchronous rollover, or the log was closed: the file is not needed.
      if (this.prepared !== prepared || this.closedForGood) rmSync(prepared.path, { force: true });
    }, () => {
      rmSync(prepared.path, { force: true });
    }).finally(() => {
      this.fills.delete(fill);
    });
    this.fills.add(fill);
  }
}

let fillCounter = 0;

function segmentName(seq: number): string {
  return `${seq.toString(16).padStart(16, '0')}.wal`;
}

function parseSegmentName(name: string): number | undefined {
  const match = /^([0-9a-f]{16})\.wal$/.exec(name);
  return match ? parseInt(match[1]!, 16) : undefined;
}

function frame(records: Buffer[]): Buffer {
  let size = 0;
  for (const record of records) size += FRAME_HEADER_BYTES + record.length;
  const out = Buffer.allocUnsafe(size);
  let offset = 0;
  for (const record of records) {
    if (record.length === 0) throw new Error('write-ahead log records are never empty');
    out.writeUInt32LE(record.length, offset);
    out.writeUInt32LE(crc32(record), offset + 4);
    out.set(record, offset + FRAME_HEADER_BYTES);
    offset += FRAME_HEADER_BYTES + record.length;
  }
  return out;
}

function writeFully(fd: number, bytes: Buffer, position: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

interface ReadSegment {
  records: Buffer[];
  /** Where the next frame goes. */
  endOffset: number;
}

function readSegment(path: string, isLast: boolean): ReadSegment {
  const fd = openSync(path, isLast ? 'r+' : 'r');
  try {
    const size = fstatSync(fd).size;
    const data = Buffer.allocUnsafe(size);
    let read = 0;
    while (read < size) {
      const n = readSync(fd, data, read, size - read, read);
      if (n === 0) break;
      read += n;
    }
    if (read < SEGMENT_MAGIC.length || !data.subarray(0, SEGMENT_MAGIC.length).equals(SEGMENT_MAGIC)) {
      throw new SegmentedLogCorruption(`${path} is not an etcd-ts write-ahead log segment`);
    }
    const records: Buffer[] = [];
    let offset = SEGMENT_MAGIC.length;
    for (;;) {
      if (offset + FRAME_HEADER_BYTES > read) break;
      const length = data.readUInt32LE(offset);
      if (length === 0) {
        // The end, normally. But a torn frame whose first page never reached the disk while a later
        // one did also reads as a zero length: zero whatever lies beyond, so that no part of it can
        // come back behind a shorter frame written here later.
        if (isLast && !allZero(data, offset, read)) zeroFrom(fd, offset, read);
        break;
      }
      const end = offset + FRAME_HEADER_BYTES + length;
      const intact = end <= read && crc32(data.subarray(offset + FRAME_HEADER_BYTES, end)) === data.readUInt32LE(offset + 4);
      if (!intact) {
        if (!isLast) throw new SegmentedLogCorruption(`${path}: bad frame at offset ${offset} in a segment that is not the last`);
        // A torn last write: it was never acknowledged (acknowledgement follows the sync). Zero it so
        // that stale bytes after a shorter frame written here later can never look like a frame.
        zeroFrom(fd, offset, read);
        break;
      }
      records.push(Buffer.from(data.subarray(offset + FRAME_HEADER_BYTES, end)));
      offset = end;
    }
    return { records, endOffset: offset };
  } finally {
    closeSync(fd);
  }
}

function allZero(data: Buffer, from: number, to: number): boolean {
  for (let position = from; position < to; position += ZERO_CHUNK.length) {
    const end = Math.min(to, position + ZERO_CHUNK.length);
    if (!data.subarray(position, end).equals(ZERO_CHUNK.subarray(0, end - position))) return false;
  }
  return true;
}

function zeroFrom(fd: number, from: number, to: number): void {
  for (let position = from; position < to; position += ZERO_CHUNK.length) {
    writeFully(fd, ZERO_CHUNK.subarray(0, Math.min(ZERO_CHUNK.length, to - position)), position);
  }
  fsyncSync(fd);
}

async function createSegmentFile(path: string, bytes: number): Promise<void> {
  const file = await open(path, 'w', 0o600);
  try {
    await file.write(SEGMENT_MAGIC, 0, SEGMENT_MAGIC.length, 0);
    for (let position = SEGMENT_MAGIC.length; position < bytes; position += ZERO_CHUNK.length) {
      await file.write(ZERO_CHUNK, 0, Math.min(ZERO_CHUNK.length, bytes - position), position);
    }
    await file.sync();
  } finally {
    await file.close();
  }
}

function createSegmentFileSync(path: string, bytes: number): void {
  const fd = openSync(path, 'w', 0o600);
  try {
    writeFully(fd, SEGMENT_MAGIC, 0);
    for (let position = SEGMENT_MAGIC.length; position < bytes; position += ZERO_CHUNK.length) {
      writeFully(fd, ZERO_CHUNK.subarray(0, Math.min(ZERO_CHUNK.length, bytes - position)), position);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
