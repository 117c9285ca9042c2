// Owns the byte encoding of a revision, the key of every history record in LevelDB.
//
// A revision is {main, sub}: `main` is the store revision of a write txn, `sub` the index of a
// change inside it. The encoding is 8 bytes big-endian main, 8 bytes big-endian sub, then one
// marker byte that says whether the record is a put or a tombstone. Because (main, sub) is unique
// and both halves are fixed-width big-endian, byte order of encodings equals revision order, so a
// LevelDB scan of the history prefix visits revisions in the order they were written. The marker
// sits last so it never influences the order; it lets a scan tell tombstones apart without
// decoding the value.
import { readUint53BE, writeUint53BE } from '../storage/uint53.js';

export interface Revision {
  main: number;
  sub: number;
}

export const REVISION_BYTES = 17;
export const RevisionMarker = { PUT: 0x70, TOMBSTONE: 0x74 } as const;

function writeUint53(target: Buffer, value: number, offset: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`revision part out of range: ${value}`);
  writeUint53BE(target, offset, value);
}

function readUint53(source: Buffer, offset: number): number {
  if (source.readUInt32BE(offset) > 0x1f_ffff) throw new RangeError('revision part exceeds 2^53');
  return readUint53BE(source, offset);
}

/** Encodes a revision into `target` at `offset` (17 bytes). */
export function writeRevision(target: Buffer, offset: number, main: number, sub: number, tombstone: boolean): void {
  writeUint53(target, main, offset);
  writeUint53(target, sub, offset + 8);
  target[offset + 16] = tombstone ? RevisionMarker.TOMBSTONE : RevisionMarker.PUT;
}

export function encodeRevision(main: number, sub: number, tombstone: boolean): Buffer {
  const out = Buffer.allocUnsafe(REVISION_BYTES);
  writeRevision(out, 0, main, sub, tombstone);
  return out;
}

export interface DecodedRevision extends Revision {
  tombstone: boolean;
}

export function decodeRevision(source: Buffer, offset = 0): DecodedRevision {
  if (source.length - offset < REVISION_BYTES) throw new RangeError('revision bytes truncated');
  const marker = source[offset + 16];
  if (marker !== RevisionMarker.PUT && marker !== RevisionMarker.TOMBSTONE) {
    throw new RangeError(`bad revision marker ${marker}`);
  }
  return {
    main: readUint53(source, offset),
    sub: readUint53(source, offset + 8),
    tombstone: marker === RevisionMarker.TOMBSTONE,
  };
}

export function compareRevisions(a: Revision, b: Revision): number {
  if (a.main !== b.main) return a.main < b.main ? -1 : 1;
  if (a.sub !== b.sub) return a.sub < b.sub ? -1 : 1;
  return 0;
}
