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

export class KeyRecord {
  /**
   * Every indexed revision of the key, oldest first, as pairs: revs[2i] is the main revision,
   * revs[2i + 1] the sub, stored as -1 - sub for the tombstone that deleted the key. The
   * generations are implied: each tombstone ends one and the next put opens another. One flat
   * array of small integers is two objects per key, where a list of generations with two arrays
   * each was five (~250 bytes of heap per key with one revision).
   *
   * Undefined while the key has exactly one revision, which is then onlyMain/onlySub: most keys
   * of a large store were written once since the last compaction, and the array costs 64 bytes.
   */
  private revs: number[] | undefined = undefined;
  private onlyMain: number;
  private onlySub: number;
  /**
   * The live value, in its stored form (kv-codec): bytes [liveStart, liveEnd) of liveSlab, a
   * slab of ValueSlabs (or a Buffer of its own for a large value); undefined while the key is
   * deleted. Decoded on every read: a decoded KeyValue (an object, two Buffer views and a bigint)
   * kept per key cost more heap than the index itself.
   */
  private liveSlab: Buffer | undefined = undefined;
  private liveStart = 0;
  private liveEnd = 0;

  /** `binaryKey` is the key as a latin1 string (the index's map key). */
  constructor(readonly binaryKey: string, main: number, sub: number) {
    this.onlyMain = main;
    this.onlySub = sub;
  }

  /** Revisions indexed (puts and tombstones, not compacted away). */
  get revisionCount(): number {
    return this.revs === undefined ? 1 : this.revs.length >>> 1;
  }

  /** Main revision of pair `pair` (oldest first). */
  private mainAt(pair: number): number {
    return this.revs === undefined ? this.onlyMain : this.revs[pair << 1];
  }

  /** Sub revision of pair `pair` as stored: -1 - sub for a tombstone. */
  private storedSubAt(pair: number): number {
    return this.revs === undefined ? this.onlySub : this.revs[(pair << 1) + 1];
  }

  /** A fresh copy of the key's bytes. */
  get key(): Buffer {
    return Buffer.from(this.binaryKey, 'latin1');
  }

  /**
   * The key's current value, decoded from its stored form (a view of the slab, not a copy),
   * undefined while the key is deleted. The index itself never reads it: keeping it on the
   * record saves a second map of every key.
   */
  get live(): KeyValue | undefined {
    const slab = this.liveSlab;
    return slab === undefined ? undefined : decodeKeyValue(slab.subarray(this.liveStart, this.liveEnd));
  }

  /** Whether the record has a live value: `live !== undefined` without decoding it. */
  get hasLive(): boolean {
    return this.liveSlab !== undefined;
  }

  /** Makes the stored record at [start, end) of `slab` the live value (ValueSlabs places it). */
  setLiveStored(slab: Buffer, start: number, end: number): void {
    this.liveSlab = slab;
    this.liveStart = start;
    this.liveEnd = end;
  }

  /** The key has no live value any more (deleted); call ValueSlabs.release first. */
  clearLive(): void {
    this.liveSlab = undefined;
  }

  /** The live value's stored bytes (a view of its slab), undefined while deleted. */
  get liveStored(): Buffer | undefined {
    return this.liveSlab?.subarray(this.liveStart, this.liveEnd);
  }

  /** The slab the live value sits in (ValueSlabs decides whether a repack moves it). */
  get liveStoredSlab(): Buffer | undefined {
    return this.liveSlab;
  }

  /** Length of liveStored, 0 when there is none. */
  get liveStoredLength(): number {
    return this.liveSlab === undefined ? 0 : this.liveEnd - this.liveStart;
  }

  get isAlive(): boolean {
    const count = this.revisionCount;
    return count > 0 && this.storedSubAt(count - 1) >= 0;
  }

  /** The generations, oldest first, each its revisions and whether a tombstone closed it (tests, debugging). */
  generations(): Array<{ revisions: Revision[]; closed: boolean }> {
    const out: Array<{ revisions: Revision[]; closed: boolean }> = [];
    let current: { revisions: Revision[]; closed: boolean } | undefined;
    for (let pair = 0; pair < this.revisionCount; pair++) {
      if (current === undefined) out.push((current = { revisions: [], closed: false }));
      const sub = this.storedSubAt(pair);
      current.revisions.push({ main: this.mainAt(pair), sub: sub < 0 ? -1 - sub : sub });
      if (sub < 0) {
        current.closed = true;
        current = undefined;
      }
    }
    return out;
  }

  /** Index (in pairs) of the newest revision with main <= atMain, or -1. */
  private pairAtOrBefore(atMain: number): number {
    const revs = this.revs;
    if (revs === undefined) return this.onlyMain <= atMain ? 0 : -1;
    let low = 0;
    let high = revs.length >>> 1;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (revs[mid << 1] <= atMain) low = mid + 1;
      else high = mid;
    }
    return low - 1;
  }

  /** Index (in pairs) of exactly (main, sub), put or tombstone, or -1. */
  private pairOf(main: number, sub: number): number {
    for (let pair = this.pairAtOrBefore(main); pair >= 0 && this.mainAt(pair) === main; pair--) {
      const stored = this.storedSubAt(pair);
      if (stored === sub || stored === -1 - sub) return pair;
    }
    return -1;
  }

  /**
   * The revision of this key that a read at atMain sees, or undefined if not alive then: the
   * newest revision at or before atMain, unless that is the tombstone that deleted the key.
   */
  revisionAt(atMain: number): Revision | undefined {
    const pair = this.pairAtOrBefore(atMain);
    if (pair < 0) return undefined;
    const sub = this.storedSubAt(pair);
    return sub < 0 ? undefined : { main: this.mainAt(pair), sub };
  }

  /** The newest revision while the key is alive (the one its live value was written at). */
  latestRevision(): Revision | undefined {
    const count = this.revisionCount;
    if (count === 0) return undefined;
    const sub = this.storedSubAt(count - 1);
    return sub < 0 ? undefined : { main: this.mainAt(count - 1), sub };
  }

  /** Whether (main, sub) is still indexed (not compacted away). */
  hasRevision(main: number, sub: number): boolean {
    return this.pairOf(main, sub) >= 0;
  }

  /**
   * The revision written before (main, sub) in the same generation: the previous value that a
   * watch event's prev_kv shows. Undefined for a creation, or when compaction dropped it.
   */
  previousRevision(main: number, sub: number): Revision | undefined {
    const pair = this.pairOf(main, sub);
    if (pair <= 0) return undefined;
    const previousSub = this.storedSubAt(pair - 1);
    // A tombstone before it: (main, sub) created the key anew.
    return previousSub < 0 ? undefined : { main: this.mainAt(pair - 1), sub: previousSub };
  }

  /** Records a put at (main, sub), opening a new generation if the key was deleted. */
  appendPut(main: number, sub: number): void {
    this.append(main, sub, sub);
  }

  /** Records the tombstone at (main, sub) that deletes the live key. */
  appendTombstone(main: number, sub: number): void {
    if (!this.isAlive) throw new Error(`mvcc: tombstone for a key that is not alive (${Buffer.from(this.binaryKey, 'latin1').toString('hex')})`);
    this.append(main, sub, -1 - sub);
  }

  private append(main: number, sub: number, storedSub: number): void {
    const count = this.revisionCount;
    if (count > 0) {
      const lastMain = this.mainAt(count - 1);
      const lastStored = this.storedSubAt(count - 1);
      const lastSub = lastStored < 0 ? -1 - lastStored : lastStored;
      if (main < lastMain || (main === lastMain && sub <= lastSub)) {
        throw new Error(`mvcc: revision ${main}.${sub} is not after ${lastMain}.${lastSub}`);
      }
    }
    const revs = this.revs;
    // A push reserves room for ~16 more elements; a short history is copied at its exact size
    // instead, since most keys hold one to a few revisions between compactions.
    if (revs === undefined) this.revs = [this.onlyMain, this.onlySub, main, storedSub];
    else if (revs.length < 16) this.revs = [...revs, main, storedSub];
    else revs.push(main, storedSub);
  }

  /**
   * Applies compaction at atMain; returns true when nothing is left and the key can go. Keeps
   * the newest revision <= atMain unless it is a tombstone, and every revision after atMain.
   */
  compact(atMain: number): boolean {
    const pair = this.pairAtOrBefore(atMain);
    if (pair < 0) return this.revisionCount === 0;
    const tombstone = this.storedSubAt(pair) < 0;
    // Everything before `pair` is older than what a read at atMain sees; a tombstone at `pair`
    // ends the key's life before atMain, so it goes too.
    const drop = tombstone ? pair + 1 : pair;
    if (drop === 0) return false;
    const kept = this.revs === undefined ? [] : this.revs.slice(drop << 1);
    if (kept.length === 2) {
      this.onlyMain = kept[0];
      this.onlySub = kept[1];
      this.revs = undefined;
    } else {
      this.revs = kept;
    }
    return kept.length === 0;
  }

  /** True if compact(atMain) would remove anything: lets compaction skip most keys cheaply. */
  needsCompaction(atMain: number): boolean {
    const count = this.revisionCount;
    if (count === 0) return true;
    if (this.mainAt(0) > atMain) return false;
    if (this.storedSubAt(0) < 0) return true;
    return count > 1 && this.mainAt(1) <= atMain;
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
    return putByBinaryKey(this.records, key.toString('latin1'), main, sub);
  }

  /** put() for a record the caller already looked up: saves the key conversion and the tree walk. */
  putRecord(record: KeyRecord, main: number, sub: number): KeyRecord {
    record.appendPut(main, sub);
    return record;
  }

  /** Records the deletion of a live key at (main, sub), closing its generation. */
  tombstone(key: Buffer, main: number, sub: number): KeyRecord {
    const record = this.get(key);
    if (!record) throw new Error(`mvcc: tombstone for a key that is not alive (${key.toString('hex')})`);
    record.appendTombstone(main, sub);
    return record;
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

  /** Visits the records whose binary key is >= `binaryKey`, in key order, until visit returns false. */
  forEachFrom(binaryKey: string, visit: (record: KeyRecord) => boolean | void): void {
    this.records.forEachInRange(binaryKey, undefined, (_key, record) => visit(record));
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

  /** KeyIndex.put() by binary key. */
  put(binaryKey: string, main: number, sub: number): KeyRecord {
    return putByBinaryKey(this.records, binaryKey, main, sub);
  }

  /** KeyIndex.tombstone() for a record the caller looked up and knows to be alive. */
  tombstone(record: KeyRecord, main: number, sub: number): KeyRecord {
    record.appendTombstone(main, sub);
    return record;
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

/** Records a put of the key at (main, sub) in `records` (the index's B+tree or the loader's map). */
function putByBinaryKey(
  records: { get(key: string): KeyRecord | undefined; set(key: string, record: KeyRecord): unknown },
  binaryKey: string, main: number, sub: number,
): KeyRecord {
  const record = records.get(binaryKey);
  if (record) {
    record.appendPut(main, sub);
    return record;
  }
  const created = new KeyRecord(binaryKey, main, sub);
  records.set(binaryKey, created);
  return created;
}
