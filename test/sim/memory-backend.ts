// An in-memory stand-in for the LevelDB Backend, for the simulator only: the subset MvccStore uses
// (write, get, iterate, readAll) over a sorted map, with LevelDB's semantics where mvcc can see them:
// a batch applies atomically in op order, keys sort as unsigned bytes, and an iterator reads the data
// as it was when it was opened (LevelDB iterators read an implicit snapshot; like Backend.iterate, it
// opens at the first next()). Nothing here waits on I/O, so a simulated member's state depends only on
// the order of calls, never on timing.
import type { Backend, BatchOp, IterateOptions } from '../../src/storage/backend.js';

/** Keys are held as latin1 strings: their code-unit order is the unsigned byte order LevelDB uses. */
function toKey(bytes: Buffer): string {
  return bytes.toString('latin1');
}

export class MemoryBackend {
  private readonly values = new Map<string, Buffer>();
  /** Sorted; the same keys as `values`. */
  private sortedKeys: string[] = [];

  /** Writes the ops atomically; `sync` means nothing in memory (the sim decides what a crash loses). */
  async write(ops: BatchOp[], sync: boolean): Promise<void> {
    void sync;
    this.writeNow(ops);
  }

  /** The same as write(), for callers that must not yield (the simulated apply step). */
  writeNow(ops: readonly BatchOp[]): void {
    for (const op of ops) {
      const key = toKey(op.key);
      const present = this.values.has(key);
      if (op.type === 'put') {
        this.values.set(key, Buffer.from(op.value));
        if (!present) this.sortedKeys.splice(this.lowerBound(key), 0, key);
      } else if (present) {
        this.values.delete(key);
        this.sortedKeys.splice(this.lowerBound(key), 1);
      }
    }
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    const value = this.values.get(toKey(key));
    return value === undefined ? undefined : Buffer.from(value);
  }

  /** Iterates [gte, lt) in key order (or reverse) over the data as it was at the first next(), as Backend.iterate does. */
  async *iterate(options: IterateOptions): AsyncGenerator<[Buffer, Buffer]> {
    const entries = this.slice(options);
    for (const entry of entries) yield entry;
  }

  async readAll(gte: Buffer, lt: Buffer): Promise<Array<[Buffer, Buffer]>> {
    return this.slice({ gte, lt });
  }

  /** Every entry, in key order: what a snapshot of the member's database carries. */
  entries(): Array<[Buffer, Buffer]> {
    return this.slice({});
  }

  /** This backend typed as the real one, for MvccStore (which only uses the methods above). */
  asBackend(): Backend {
    return this as unknown as Backend;
  }

  private slice(options: IterateOptions): Array<[Buffer, Buffer]> {
    const from = options.gte === undefined ? 0 : this.lowerBound(toKey(options.gte));
    const to = options.lt === undefined ? this.sortedKeys.length : this.lowerBound(toKey(options.lt));
    const keys = this.sortedKeys.slice(from, Math.max(from, to));
    if (options.reverse) keys.reverse();
    const limited = options.limit !== undefined && options.limit >= 0 ? keys.slice(0, options.limit) : keys;
    return limited.map((key) => [Buffer.from(key, 'latin1'), Buffer.from(this.values.get(key)!)]);
  }

  /** The first position whose key is >= `key`. */
  private lowerBound(key: string): number {
    let low = 0;
    let high = this.sortedKeys.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.sortedKeys[middle]! < key) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
