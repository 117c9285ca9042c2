// Owns the in-memory key index: for every key, the revisions at which it was written, grouped into
// generations, in a B+tree ordered by key. It answers "which revision of which keys in [key, end)
// were alive at revision R" without touching disk, and decides what compaction keeps.
//
// Generations. A key's life from creation to deletion is one generation: the list of revisions
// of its puts, closed by the revision of the tombstone that deleted it. A put after a delete opens
// a new generation. Worked example (revisions written main.sub):
//
//   put(foo) @1.0, put(foo) @2.0, delete(foo) @3.0, put(foo) @4.0, put(foo) @5.0
//   generations: [1.0, 2.0, 3.0(tombstone)]  [4.0, 5.0(open)]
//
//   revisionAt(2) = 2.0   revisionAt(3) = none (deleted)   revisionAt(4) = 4.0
//
// A key deleted and re-put inside one txn gets both in the same main revision: [.., 7.1(tomb)] [7.2].
//
// Compaction at R keeps, per key, the newest revision <= R (unless it is a tombstone) and every
// revision after R, so every read at a revision >= R still finds what it found before:
//
//   compact(2): [2.0, 3.0(tomb)] [4.0, 5.0]      (1.0 dropped: 2.0 is the newest <= 2)
//   compact(4): [4.0, 5.0]                        (the closed generation ended at 3 <= 4)
//   compact(6) after delete @6.0:  key removed   (its last generation closed at 6 <= 6)
import { decodeKeyValue } from './kv-codec.js';
import { BinaryStringOrderedMap } from './ordered-map.js';
import type { Revision } from './revision.js';
import type { KeyValue } from './types.js';

export class Generation {
  /**
   * Revision mains and subs, parallel arrays in increasing revision order. Created holding the
   * first revision: an array literal is allocated at its length, while a push into an empty array
   * reserves 17 slots (two such arrays were ~300 bytes of every key with one revision).
   */
  readonly mains: number[];
  readonly subs: number[];
  /** True once the last revision is the tombstone that ended this generation. */
  closed = false;

  constructor(main: number, sub: number) {
    this.mains = [main];
    this.subs = [sub];
  }

  get length(): number {
    return this.mains.length;
  }

  get firstMain(): number {
    return this.mains[0];
  }

  get lastMain(): number {
    return this.mains[this.mains.length - 1];
  }

  /** Index of the newest revision with main <= atMain, or -1. */
  indexAtOrBefore(atMain: number): number {
    let low = 0;
    let high = this.mains.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.mains[mid] <= atMain) low = mid + 1;
      else high = mid;
    }
    return low - 1;
  }

  /** Index of exactly (main, sub), or -1. */
  indexOf(main: number, sub: number): number {
    let index = this.indexAtOrBefore(main);
    for (; index >= 0 && this.mains[index] === main; index--) {
      if (this.subs[index] === sub) return index;
    }
    return -1;
  }
}

export class KeyRecord {
  /** Oldest first; the last one is open while the key is alive. Empty only transiently. */
  readonly generations: Generation[];
  private liveValue: KeyValue | undefined = undefined;
  /**
   * Where the live value sits in its stored form (kv-codec) until its first read decodes it into
   * liveValue: bytes [liveStart, liveEnd) of liveSlab. Start-up loads every live key this way.
   */
  private liveSlab: Buffer | undefined = undefined;
  private liveStart = 0;
  private liveEnd = 0;
  private keyBytes: Buffer | undefined;

  /** `binaryKey` is the key as a latin1 string (the index's map key); `key` its bytes, if at hand. */
  constructor(readonly binaryKey: string, key: Buffer | undefined, first: Generation) {
    this.keyBytes = key;
    this.generations = [first];
  }

  /** The key's bytes (made from binaryKey on first use for records loaded at start-up). */
  get key(): Buffer {
    if (this.keyBytes === undefined) this.keyBytes = Buffer.from(this.binaryKey, 'latin1');
    return this.keyBytes;
  }

  /**
   * The store's copy of the key's current value, undefined while the key is deleted. The index
   * itself never reads it: keeping it on the record saves a second map of every key.
   */
  get live(): KeyValue | undefined {
    if (this.liveSlab !== undefined) {
      this.liveValue = decodeKeyValue(this.liveSlab.subarray(this.liveStart, this.liveEnd));
      this.liveSlab = undefined;
    }
    return this.liveValue;
  }

  set live(kv: KeyValue | undefined) {
    this.liveValue = kv;
    this.liveSlab = undefined;
  }

  /** Whether the record has a live value: `live !== undefined` without decoding a stored one. */
  get hasLive(): boolean {
    return this.liveValue !== undefined || this.liveSlab !== undefined;
  }

  /**
   * Sets the live value to the stored record at [start, end) of `slab`, decoded when first read.
   * Start-up loads every live key and few are read soon; a KeyValue with two Buffer views and a
   * bigint per key, or even one Buffer per key, is far more for the GC to trace.
   */
  setLiveStored(slab: Buffer, start: number, end: number): void {
    this.liveValue = undefined;
    this.liveSlab = slab;
    this.liveStart = start;
    this.liveEnd = end;
  }

  /** The live value's stored bytes while not yet decoded (a view of the slab), else undefined. */
  get liveStored(): Buffer | undefined {
    return this.liveSlab?.subarray(this.liveStart, this.liveEnd);
  }

  /** Length of liveStored, 0 when there is none. */
  get liveStoredLength(): number {
    return this.liveSlab === undefined ? 0 : this.liveEnd - this.liveStart;
  }

  get isAlive(): boolean {
    const last = this.generations[this.generations.length - 1];
    return last !== undefined && !last.closed;
  }

  /** The revision of this key that a read at atMain sees, or undefined if not alive then. */
  revisionAt(atMain: number): Revision | undefined {
    for (let g = this.generations.length - 1; g >= 0; g--) {
      const generation = this.generations[g];
      if (generation.firstMain > atMain) continue;
      // The newest generation started at or before atMain is the only one that can hold it.
      if (generation.closed && generation.lastMain <= atMain) return undefined;
      const index = generation.indexAtOrBefore(atMain);
      return { main: generation.mains[index], sub: generation.subs[index] };
    }
    return undefined;
  }

  /** The newest revision while the key is alive (the one its live value was written at). */
  latestRevision(): Revision | undefined {
    const last = this.generations[this.generations.length - 1];
    if (last === undefined || last.closed) return undefined;
    return { main: last.mains[last.length - 1], sub: last.subs[last.length - 1] };
  }

  /** Whether (main, sub) is still indexed (not compacted away). */
  hasRevision(main: number, sub: number): boolean {
    return this.locate(main, sub) !== undefined;
  }

  /**
   * The revision written before (main, sub) in the same generation: the previous value that a
   * watch event's prev_kv shows. Undefined for a creation, or when compaction dropped it.
   */
  previousRevision(main: number, sub: number): Revision | undefined {
    const found = this.locate(main, sub);
    if (!found || found.index === 0) return undefined;
    return { main: found.generation.mains[found.index - 1], sub: found.generation.subs[found.index - 1] };
  }

  private locate(main: number, sub: number): { generation: Generation; index: number } | undefined {
    for (let g = this.generations.length - 1; g >= 0; g--) {
      const generation = this.generations[g];
      if (generation.firstMain > main) continue;
      const index = generation.indexOf(main, sub);
      if (index >= 0) return { generation, index };
      // Same-main tombstone and re-creation span two generations; keep looking one further back.
      if (generation.firstMain < main) return undefined;
    }
    return undefined;
  }

  /** Applies compaction at atMain; returns true when nothing is left and the key can go. */
  compact(atMain: number): boolean {
    let drop = 0;
    while (drop < this.generations.length) {
      const generation = this.generations[drop];
      if (!(generation.closed && generation.lastMain <= atMain)) break;
      drop++;
    }
    if (drop > 0) this.generations.splice(0, drop);
    const first = this.generations[0];
    if (first === undefined) return true;
    const keepFrom = first.indexAtOrBefore(atMain);
    if (keepFrom > 0) {
      first.mains.splice(0, keepFrom);
      first.subs.splice(0, keepFrom);
    }
    return false;
  }

  /** True if compact(atMain) would remove anything: lets compaction skip most keys cheaply. */
  needsCompaction(atMain: number): boolean {
    const first = this.generations[0];
    if (first === undefined) return true;
    if (first.closed && first.lastMain <= atMain) return true;
    return first.length > 1 && first.mains[1] <= atMain;
  }
}

/** Empty rangeEnd: single key; [0x00]: every key >= key; otherwise [key, rangeEnd). */
export function isSingleKey(rangeEnd: Buffer): boolean {
  return rangeEnd.length === 0;
}

export function isFromKey(rangeEnd: Buffer): boolean {
  return rangeEnd.length === 1 && rangeEnd[0] === 0;
}

export class KeyIndex {
  constructor(private readonly records = new BinaryStringOrderedMap<KeyRecord>()) {}

  /** Keys with at least one indexed revision (alive or not yet compacted away). */
  get size(): number {
    return this.records.size;
  }

  get(key: Buffer): KeyRecord | undefined {
    return this.records.get(key.toString('latin1'));
  }

  /** Records a put of key at (main, sub); opens a generation if the key was not alive. */
  put(key: Buffer, main: number, sub: number): KeyRecord {
    const binaryKey = key.toString('latin1');
    const record = this.records.get(binaryKey);
    if (record) return this.putRecord(record, main, sub);
    const created = new KeyRecord(binaryKey, key, new Generation(main, sub));
    this.records.set(binaryKey, created);
    return created;
  }

  /** put() for a record the caller already looked up: saves the key conversion and the tree walk. */
  putRecord(record: KeyRecord, main: number, sub: number): KeyRecord {
    return putRevision(record, main, sub);
  }

  /** Records the deletion of a live key at (main, sub), closing its generation. */
  tombstone(key: Buffer, main: number, sub: number): KeyRecord {
    const record = this.get(key);
    if (!record || !record.isAlive) throw new Error(`mvcc: tombstone for a key that is not alive (${key.toString('hex')})`);
    return tombstoneRevision(record, main, sub);
  }

  /**
   * Visits the records in the range in key order until visit returns false. Records may be dead
   * at the revision the caller cares about: it asks them.
   */
  forEachInRange(key: Buffer, rangeEnd: Buffer, visit: (record: KeyRecord) => boolean | void): void {
    if (isSingleKey(rangeEnd)) {
      const record = this.get(key);
      if (record) visit(record);
      return;
    }
    const end = isFromKey(rangeEnd) ? undefined : rangeEnd.toString('latin1');
    const start = key.toString('latin1');
    if (end !== undefined && start >= end) return;
    this.records.forEachInRange(start, end, (_key, record) => visit(record));
  }

  forEach(visit: (record: KeyRecord) => boolean | void): void {
    this.records.forEach((_key, record) => visit(record));
  }

  /** Drops what compaction at atMain does not keep (see the header); returns the keys removed. */
  compact(atMain: number): number {
    const emptied: string[] = [];
    this.records.forEach((key, record) => {
      if (record.needsCompaction(atMain) && record.compact(atMain)) emptied.push(key);
    });
    for (const key of emptied) this.records.delete(key);
    return emptied.length;
  }
}

/**
 * Builds a KeyIndex from the history start-up reads back: revisions arrive in increasing order,
 * keys in any order (a store written with random keys gives random order), so records are found
 * in a hash map while loading and the B+tree is built once at the end from the sorted keys.
 * On 1M keys in random order that takes about half the time of a tree descent per record.
 */
export class KeyIndexLoader {
  private readonly records = new Map<string, KeyRecord>();

  get(binaryKey: string): KeyRecord | undefined {
    return this.records.get(binaryKey);
  }

  /** KeyIndex.put() by binary key; the record makes the key's bytes when first asked for. */
  put(binaryKey: string, main: number, sub: number): KeyRecord {
    const record = this.records.get(binaryKey);
    if (record) return putRevision(record, main, sub);
    const created = new KeyRecord(binaryKey, undefined, new Generation(main, sub));
    this.records.set(binaryKey, created);
    return created;
  }

  /** KeyIndex.tombstone() for a record the caller looked up and knows to be alive. */
  tombstone(record: KeyRecord, main: number, sub: number): KeyRecord {
    return tombstoneRevision(record, main, sub);
  }

  /** Visits every record, in no particular order. */
  forEach(visit: (record: KeyRecord) => void): void {
    for (const record of this.records.values()) visit(record);
  }

  finish(): KeyIndex {
    const records = [...this.records.values()];
    this.records.clear();
    let sorted = true;
    for (let i = 1; i < records.length && sorted; i++) sorted = records[i - 1].binaryKey < records[i].binaryKey;
    // Binary strings compare in byte order; keys are unique.
    if (!sorted) records.sort((a, b) => (a.binaryKey < b.binaryKey ? -1 : 1));
    return new KeyIndex(BinaryStringOrderedMap.fromSorted(records.map((record) => record.binaryKey), records));
  }
}

/** Records a put at (main, sub) on `record`, opening a generation if it was not alive. */
function putRevision(record: KeyRecord, main: number, sub: number): KeyRecord {
  const current = record.generations[record.generations.length - 1];
  if (current === undefined || current.closed) {
    record.generations.push(new Generation(main, sub));
  } else {
    appendRevision(current, main, sub);
  }
  return record;
}

/** Records the tombstone at (main, sub) that closes the open generation of a live `record`. */
function tombstoneRevision(record: KeyRecord, main: number, sub: number): KeyRecord {
  const current = record.generations[record.generations.length - 1];
  appendRevision(current, main, sub);
  current.closed = true;
  return record;
}

function appendRevision(generation: Generation, main: number, sub: number): void {
  const length = generation.length;
  if (length > 0) {
    const lastMain = generation.mains[length - 1];
    if (main < lastMain || (main === lastMain && sub <= generation.subs[length - 1])) {
      throw new Error(`mvcc: revision ${main}.${sub} is not after ${lastMain}.${generation.subs[length - 1]}`);
    }
  }
  generation.mains.push(main);
  generation.subs.push(sub);
}
