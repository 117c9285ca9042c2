// Owns the memory of the Raft entries this member proposes, for as long as the in-memory log
// holds them: up to --snapshot-count entries (100000 by default) plus the catch-up tail, dropped
// oldest first at each log compaction.
//
// A Buffer from Node's pool pins the pool's whole 8 KiB slab, which it shares with short-lived
// buffers (responses, encoded keys): after 1M puts the in-memory log's ~100k entries of ~300
// bytes pinned ~95 MB of such slabs. Here each entry's bytes are copied into chunks filled in log
// order, so a chunk holds nothing but entries and is garbage once the compaction has dropped
// its newest one.
const CHUNK_BYTES = 256 * 1024;
/** Entries this large get a Buffer of their own: they would waste most of a chunk's tail. */
const OWN_BUFFER_BYTES = CHUNK_BYTES / 8;

export class EntryArena {
  private chunk: Buffer = Buffer.alloc(0);
  private used = 0;

  /** A copy of `bytes` that pins nothing but entries proposed around the same time. */
  copy(bytes: Uint8Array): Buffer {
    const copy = this.allocate(bytes.length);
    copy.set(bytes);
    return copy;
  }

  /** `length` bytes (uninitialized) for an entry the caller writes in place, placed as copy() places. */
  allocate(length: number): Buffer {
    if (length >= OWN_BUFFER_BYTES) return Buffer.allocUnsafeSlow(length);
    if (this.used + length > this.chunk.length) {
      this.chunk = Buffer.allocUnsafeSlow(CHUNK_BYTES);
      this.used = 0;
    }
    const start = this.used;
    this.used += length;
    return this.chunk.subarray(start, start + length);
  }
}
