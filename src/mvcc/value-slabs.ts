// Owns the memory that holds the live values start-up loads, in their stored form (kv-codec),
// until each is first read (KeyRecord.live).
//
// LevelDB hands over every record as its own Buffer: a typed array, an ArrayBuffer and a native
// backing store, ~200 bytes of GC-traced heap and a native allocation per key. Copying the bytes
// into 1 MiB slabs leaves those Buffers to die young, and a record points into its slab with a
// reference and two offsets (1M keys: ~1 s less load time, 160 MiB less heap).
//
// A slab is freed once no record points into it. While loading, a put over a loaded value or a
// tombstone leaves dead bytes behind; ValueSlabs counts them, and the loader repacks (copies the
// live values into fresh slabs, see repack) once they outweigh half the live ones, so a long
// history never costs more than about 1.5x its live values. After start-up a record that gets a
// new value drops its slab reference; slabs are never allocated again, so this memory only
// shrinks from what start-up loaded.
import type { KeyRecord } from './key-index.js';

export interface ValueSlabsOptions {
  slabBytes: number;
  /** Dead bytes below this never trigger a repack: not worth a pass over every key. */
  repackDeadBytesMin: number;
}

const DEFAULTS: ValueSlabsOptions = { slabBytes: 1 << 20, repackDeadBytesMin: 64 << 20 };

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

  constructor(options: Partial<ValueSlabsOptions> = {}) {
    this.options = { ...DEFAULTS, ...options };
    this.ownBufferBytes = this.options.slabBytes >>> 3;
  }

  /** Copies the stored record `stored` into a slab and makes it `record`'s live value. */
  place(record: KeyRecord, stored: Buffer): void {
    const length = stored.length;
    this.liveBytes += length;
    if (length >= this.ownBufferBytes) {
      record.setLiveStored(stored, 0, length);
      return;
    }
    if (this.used + length > this.slab.length) {
      this.slab = Buffer.allocUnsafeSlow(this.options.slabBytes);
      this.used = 0;
    }
    this.slab.set(stored, this.used);
    record.setLiveStored(this.slab, this.used, this.used + length);
    this.used += length;
  }

  /** Call before `record`'s placed value is replaced or deleted: its bytes become dead. */
  release(record: KeyRecord): void {
    const length = record.liveStoredLength;
    this.liveBytes -= length;
    this.deadBytes += length;
  }

  /** Whether dead bytes outweigh half the live ones (and a floor): time to repack. */
  get wantsRepack(): boolean {
    return this.deadBytes > this.options.repackDeadBytesMin && this.deadBytes > this.liveBytes / 2;
  }

  /** Copies every record's still-stored live value into fresh slabs; the old ones are then garbage. */
  repack(records: (visit: (record: KeyRecord) => void) => void): ValueSlabs {
    const fresh = new ValueSlabs(this.options);
    records((record) => {
      const stored = record.liveStored;
      if (stored !== undefined) fresh.place(record, stored);
    });
    return fresh;
  }
}
