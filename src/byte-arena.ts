// Owns byte copies that live about as long as their neighbours in time: Raft entries this member
// proposes (kept by the in-memory log up to --snapshot-count entries plus the catch-up tail, dropped
// oldest first at each log compaction), and watch events' encoded fields (kept with their events in
// the history cache for its last ~500 revisions).
//
// A Buffer from Node's pool pins the pool's whole 8 KiB slab, which it shares with short-lived
// buffers (responses, encoded keys): after 1M puts the in-memory log's ~100k entries of ~300
// bytes pinned ~95 MB of such slabs, and each watched revision's encoded event pinned a slab of
// its own (~4 MB per member at 100 watched puts/s). Here the bytes are copied into chunks filled in
// order, so a chunk holds nothing but such copies and is garbage once its newest one is.
const CHUNK_BYTES_DEFAULT = 256 * 1024;

export class ByteArena {
  private chunk: Buffer = Buffer.alloc(0);
  private used = 0;
  /** Copies this large get a Buffer of their own: they would waste most of a chunk's tail. */
  private readonly ownBufferBytes: number;

  constructor(private readonly chunkBytes = CHUNK_BYTES_DEFAULT) {
    this.ownBufferBytes = chunkBytes / 8;
  }

  /** A copy of `bytes` that pins nothing but copies made around the same time. */
  copy(bytes: Uint8Array): Buffer {
    const copy = this.allocate(bytes.length);
    copy.set(bytes);
    return copy;
  }

  /** `length` bytes (uninitialized) for the caller to write in place, placed as copy() places. */
  allocate(length: number): Buffer {
    if (length >= this.ownBufferBytes) return Buffer.allocUnsafeSlow(length);
    if (this.used + length > this.chunk.length) {
      this.chunk = Buffer.allocUnsafeSlow(this.chunkBytes);
      this.used = 0;
    }
    const start = this.used;
    this.used += length;
    return this.chunk.subarray(start, start + length);
  }
}
