// Owns the memory that holds every live value, in its stored form (kv-codec), for the life of the
// store: values start-up loads and values puts write alike.
//
// A Buffer per value is a typed array, an ArrayBuffer and a native backing store: ~200 bytes of
// GC-traced heap per key, and a value cut from a request or from Node's 8 KiB pool pins what it
// was cut from. Copying the bytes into 1 MiB slabs leaves those Buffers to die young, and a record
// points into its slab with a reference and two offsets (1M keys loaded at start-up: ~1 s less
// load time, 160 MiB less heap).
//
// A slab is freed once no record points into it. An overwrite or a delete leaves dead bytes
// behind; ValueSlabs counts them, and once they outweigh half the live ones (and a floor) the
// live values are copied into fresh slabs, so the slabs never hold much more than ~1.5x the live
// values. A repack is a walk over every record (beginRepack, moveIfOld on each, endRepack) that
// moves what sits in slabs made before it began; values written meanwhile already sit in new ones:
//   - at start-up the whole walk at once (repackAll), the loader holds every record in a plain map;
//   - while serving a little at a time, the store spreading the walk over its writes: a pass over
//     1M keys at once would stall every request behind it.
import type { KeyRecord } from './key-index.js';
import { encodedKeyValueLength, encodeKeyValueInto } from './kv-codec.js';
import type { KeyValue } from './types.js';

export interface ValueSlabsOptions {
  slabBytes: number;
  /** Dead bytes below this never trigger a repack: not worth a pass over every key. */
  repackDeadBytesMin: number;
}

const DEFAULTS: ValueSlabsOptions = { slabBytes: 1 << 20, repackDeadBytesMin: 32 << 20 };

export class ValueSlabs {
  private readonly options: ValueSlabsOptions;
  /** Values this large keep the Buffer they were read into: copying saves nothing then. */
  private readonly ownBufferBytes: number;
  private slab: Buffer = Buffer.alloc(0);
  private used = 0;
  /** Bytes of the live values placed and not yet released. */
  private liveBytes = 0;
  /** Bytes placed and since released (overwritten, deleted): held until the slab is freed. */
  private deadBytes = 0;
  /** Slabs made since the running repack began; undefined while none runs. */
  private freshSlabs: WeakSet<Buffer> | undefined = undefined;

  constructor(options: Partial<ValueSlabsOptions> = {}) {
    this.options = { ...DEFAULTS, ...options };
    this.ownBufferBytes = this.options.slabBytes >>> 3;
  }

  /** Copies the stored record `stored` into a slab and makes it `record`'s live value. */
  place(record: KeyRecord, stored: Buffer): void {
    this.liveBytes += stored.length;
    this.copyIn(record, stored);
  }

  /**
   * Encodes `kv` (kv-codec) straight into a slab, makes it `record`'s live value and returns the
   * stored bytes: a view of the slab, which is never written again, for the LevelDB batch and the
   * watch event to share. A put thus allocates no Buffer of its own for the record, which would
   * live as long as the held LevelDB batch (~100 ms) and so reach V8's old space as garbage.
   */
  placeNew(record: KeyRecord, kv: KeyValue): Buffer {
    const length = encodedKeyValueLength(kv);
    this.liveBytes += length;
    if (length >= this.ownBufferBytes) {
      const own = Buffer.allocUnsafeSlow(length);
      encodeKeyValueInto(kv, own, 0);
      record.setLiveStored(own, 0, length);
      return own;
    }
    const start = this.reserve(length);
    encodeKeyValueInto(kv, this.slab, start);
    record.setLiveStored(this.slab, start, start + length);
    return this.slab.subarray(start, start + length);
  }

  private copyIn(record: KeyRecord, stored: Buffer): void {
    const length = stored.length;
    if (length >= this.ownBufferBytes) {
      // A view of a larger buffer (a request, a batch of LevelDB reads) would pin all of it.
      const own = stored.byteOffset === 0 && stored.buffer.byteLength === length ? stored : Buffer.from(stored);
      record.setLiveStored(own, 0, length);
      return;
    }
    const start = this.reserve(length);
    this.slab.set(stored, start);
    record.setLiveStored(this.slab, start, start + length);
  }

  /** Room for `length` bytes in the current slab (a new one when it is full): where they start. */
  private reserve(length: number): number {
    if (this.used + length > this.slab.length) this.newSlab();
    const start = this.used;
    this.used += length;
    return start;
  }

  private newSlab(): void {
    this.slab = Buffer.allocUnsafeSlow(this.options.slabBytes);
    this.used = 0;
    this.freshSlabs?.add(this.slab);
  }

  /** Call before `record`'s placed value is replaced or deleted: its bytes become dead. */
  release(record: KeyRecord): void {
    const length = record.liveStoredLength;
    this.liveBytes -= length;
    this.deadBytes += length;
  }

  /** Bytes of live values placed (for tests and metrics). */
  get liveByteCount(): number {
    return this.liveBytes;
  }

  /** Bytes released and not yet reclaimed by a repack. */
  get deadByteCount(): number {
    return this.deadBytes;
  }

  /** Whether dead bytes outweigh half the live ones (and a floor): time to repack. */
  get wantsRepack(): boolean {
    return this.freshSlabs === undefined
      && this.deadBytes > this.options.repackDeadBytesMin && this.deadBytes > this.liveBytes / 2;
  }

  /** The whole repack at once: `records` visits every record; the old slabs are then garbage. */
  repackAll(records: (visit: (record: KeyRecord) => void) => void): void {
    this.beginRepack();
    records((record) => this.moveIfOld(record));
    this.endRepack();
  }

  /**
   * Starts a repack spread over a walk of every record: values placed from now on go to new
   * slabs, and moveIfOld moves a value out of an older one. The dead bytes counted so far are
   * taken as reclaimed: they sit in older slabs, which the walk leaves unreferenced.
   */
  beginRepack(): void {
    this.freshSlabs = new WeakSet();
    this.newSlab();
    this.deadBytes = 0;
  }

  /** During a repack: copies `record`'s live value into a new slab if it sits in an older one. */
  moveIfOld(record: KeyRecord): void {
    const slab = record.liveStoredSlab;
    if (slab === undefined || this.freshSlabs === undefined || this.freshSlabs.has(slab)) return;
    // A large value has a Buffer of its own: nothing else lives in it.
    if (record.liveStoredLength >= this.ownBufferBytes) return;
    this.copyIn(record, record.liveStored!);
  }

  /** The walk has visited every record: no live value is left in an older slab. */
  endRepack(): void {
    this.freshSlabs = undefined;
  }

  get repacking(): boolean {
    return this.freshSlabs !== undefined;
  }
}
