// Backend owns the member's one LevelDB instance (`<data-dir>/member/db`): the replicated state
// (mvcc keyspace, leases, membership, alarms, auth) and the applied index, each owner under its own
// prefix (see keys.ts). The Raft log lives in the write-ahead log (segmented-log.ts), except in a
// data dir from before it, which is moved there once at start.
//
// Writes go in batches. `sync: true` is the only durable write: LevelDB's default does not fsync.
// Since LevelDB has one write-ahead log, a synced batch also makes every earlier batch durable.
//
// Unsynced batches are held and handed to LevelDB together: once HANDOVER_OPS ops are held, right
// after the current turn of the event loop (at most every HANDOVER_INTERVAL_MIN_MS), else at most
// DEFERRED_WRITE_MS later (etcd commits its bbolt batch every 100 ms in the same spirit). The Raft
// log, not LevelDB, makes a write durable, and replay covers what a crash drops. One LevelDB write
// per many Raft cycles instead of one per cycle saves a put a native call and a thread-pool round
// trip. Every read, and every synced write, first hands the held batches over, so readers see every
// earlier write.
import { Level } from 'level';

export type BatchOp =
  | { type: 'put'; key: Buffer; value: Buffer }
  | { type: 'del'; key: Buffer };

export interface IterateOptions {
  gte?: Buffer;
  lt?: Buffer;
  reverse?: boolean;
  limit?: number;
}

export interface BackendOptions {
  /**
   * Called after each batch LevelDB itself wrote (a hand-over of held batches, or a synced write)
   * with how long that write took: etcd's etcd_disk_backend_commit_duration_seconds times its
   * bbolt commit the same way. A write LevelDB refused is not reported. Must not throw: it runs
   * inside the write's promise.
   */
  onCommit?: (durationSeconds: number) => void;
}

/**
 * classic-level's chained batch under abstract-level's encoding layer: each op goes to the native
 * batch with one call of two Buffers. Its array form (_batch) reads every op object's type, key
 * and value through N-API, 1.0-1.2 us per op on the event loop's thread against 0.5-0.56 here (a
 * put is one op). A batch made this way is the database's resource until detached (abstract-level
 * closes open batches with the database); the native batch is freed when collected.
 */
interface NativeChainedBatch {
  _put(key: Buffer, value: Buffer): void;
  _del(key: Buffer): void;
  _write(options: { sync: boolean }): Promise<void>;
}

interface NativeDatabase {
  _chainedBatch(): NativeChainedBatch;
  detachResource(resource: unknown): void;
}

/** What write() returns for a held (unsynced) batch: one settled promise for all of them. */
const settled: Promise<void> = Promise.resolve();

export class Backend {
  /** Settles when every write started so far has finished (successfully or not). */
  private writesSettled: Promise<void> = Promise.resolve();
  /** Unsynced batches not yet handed to LevelDB, in order. */
  private held: BatchOp[] = [];
  private heldBytes = 0;
  private flushTimer?: NodeJS.Timeout;
  /** A hand-over is queued with setImmediate (see scheduleHandover). */
  private handoverScheduled = false;
  /** performance.now() at the last hand-over of held ops. */
  private lastHandoverMs = -Infinity;
  private failure?: unknown;

  private constructor(private readonly db: Level<Buffer, Buffer>, readonly path: string, private readonly onCommit?: (durationSeconds: number) => void) {}

  static async open(path: string, options: BackendOptions = {}): Promise<Backend> {
    const db = new Level<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open({ createIfMissing: true });
    return new Backend(db, path, options.onCommit);
  }

  /**
   * Writes ops atomically, in order with every earlier write. With `sync` they (and everything
   * written before) are on disk when this resolves; without, they may be held up to
   * DEFERRED_WRITE_MS before LevelDB gets them (reads see them at once either way).
   */
  write(ops: BatchOp[], sync: boolean): Promise<void> {
    if (sync) return this.failure !== undefined ? Promise.reject(this.failure) : this.writeSynced(ops);
    try {
      this.hold(ops);
    } catch (error) {
      return Promise.reject(error);
    }
    return settled;
  }

  /**
   * write(ops, false) without a promise, for the Raft cycle (every cycle hands over a batch): the
   * ops are held for LevelDB, and reads see them at once. Throws the failure of an earlier held
   * write, after which memory is ahead of disk.
   */
  hold(ops: BatchOp[]): void {
    this.throwIfFailed();
    if (ops.length === 0) return;
    for (const op of ops) {
      this.held.push(op);
      this.heldBytes += op.key.length + (op.type === 'put' ? op.value.length : 0) + OP_OVERHEAD_BYTES;
    }
    if (this.heldBytes >= DEFERRED_WRITE_BYTES_MAX) this.flushHeld();
    else if (this.held.length >= HANDOVER_OPS && performance.now() - this.lastHandoverMs >= HANDOVER_INTERVAL_MIN_MS) this.scheduleHandover();
    else this.flushTimer ??= setTimeout(this.flushHeld, DEFERRED_WRITE_MS);
  }

  /**
   * After this turn's answers and watch events were written (they go in microtasks and ticks): the
   * hand-over then runs in the gap before the next requests arrive, not in front of them.
   */
  private scheduleHandover(): void {
    if (this.handoverScheduled) return;
    this.handoverScheduled = true;
    setImmediate(this.flushHeld);
  }

  private async writeSynced(ops: BatchOp[]): Promise<void> {
    const held = this.takeHeld();
    // A sync write needs at least one op to force the fsync.
    const all = held.length + ops.length === 0 ? [{ type: 'put' as const, key: SYNC_MARK_KEY, value: EMPTY }] : held.concat(ops);
    await this.writeNow(all, true);
  }

  /** Hands the held batches to LevelDB now; a failure stops every later write and read. */
  private readonly flushHeld = (): void => {
    this.handoverScheduled = false;
    const held = this.takeHeld();
    if (held.length === 0) return;
    this.lastHandoverMs = performance.now();
    this.writeNow(held, false).catch((error: unknown) => {
      this.failure ??= error;
    });
  };

  private takeHeld(): BatchOp[] {
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    return held;
  }

  private writeNow(ops: BatchOp[], sync: boolean): Promise<void> {
    // abstract-level's batch() clones, validates and re-encodes every op before the native call
    // (10-20% of a put's CPU in profiles); our ops are already Buffer puts and dels, which is what
    // classic-level's own chained batch takes, so an open database gets them directly.
    const startedMs = performance.now();
    let written = this.db.status === 'open' ? writeNative(this.db as unknown as NativeDatabase, ops, sync) : this.db.batch(ops as never, { sync });
    const onCommit = this.onCommit;
    if (onCommit !== undefined) written = written.then(() => onCommit((performance.now() - startedMs) / 1000));
    this.writesSettled = Promise.all([this.writesSettled, written]).then(ignore, ignore);
    return written;
  }

  /** A held batch LevelDB refused: memory is ahead of disk, so every later write and read fails. */
  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /**
   * Resolves once every write started before this call has finished: a read that starts after a
   * request was answered sees that request's batch even when the answer went out during its write.
   */
  private async afterStartedWrites(): Promise<void> {
    this.throwIfFailed();
    this.flushHeld();
    await this.writesSettled;
    this.throwIfFailed();
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    await this.afterStartedWrites();
    const value = await this.db.get(key);
    return value ?? undefined;
  }

  /** Iterates [gte, lt) in key order (or reverse). */
  async *iterate(options: IterateOptions): AsyncGenerator<[Buffer, Buffer]> {
    await this.afterStartedWrites();
    const iterator = this.db.iterator({ ...options, limit: options.limit ?? -1, highWaterMarkBytes: ITERATE_BATCH_BYTES });
    try {
      for (;;) {
        const entries = await iterator.nextv(ITERATE_BATCH_ENTRIES);
        if (entries.length === 0) return;
        for (const entry of entries) yield entry as [Buffer, Buffer];
      }
    } finally {
      await iterator.close();
    }
  }

  /** Reads every entry under [gte, lt) into memory; for start-up loads. */
  async readAll(gte: Buffer, lt: Buffer): Promise<Array<[Buffer, Buffer]>> {
    const out: Array<[Buffer, Buffer]> = [];
    for await (const entry of this.iterate({ gte, lt })) out.push(entry);
    return out;
  }

  /** Approximate bytes used on disk by keys in [gte, lt) (LevelDB's own estimate). */
  async approximateSize(gte: Buffer, lt: Buffer): Promise<number> {
    return (await (this.db as unknown as { approximateSize(a: Buffer, b: Buffer): Promise<number> })
      .approximateSize(gte, lt));
  }

  /** Rewrites [gte, lt) to reclaim space from deleted entries (our Defragment). */
  async compactRange(gte: Buffer, lt: Buffer): Promise<void> {
    await (this.db as unknown as { compactRange(a: Buffer, b: Buffer): Promise<void> }).compactRange(gte, lt);
  }

  async close(): Promise<void> {
    this.flushHeld();
    await this.writesSettled;
    await this.db.close();
  }
}

function ignore(): void {
  // Readers wait for writes to finish, not to succeed: a failed write is the writer's to report.
}

/** Entries per native read of an iterator (one round trip to libuv's thread pool). */
const ITERATE_BATCH_ENTRIES = 1000;
/**
 * Bytes after which a native read stops early, bounding the memory of one batch. classic-level's
 * default (16 KiB) cut batches of 300-byte history records to ~50 entries: 20x the round trips
 * (1M-key start-up: ~1 s more).
 */
const ITERATE_BATCH_BYTES = 1 << 20;

const SYNC_MARK_KEY = Buffer.from('z/sync');
/**
 * How long an unsynced batch may be held when few ops arrive. Each hand-over is a native call that
 * reads every op on the event loop's thread, then a thread-pool write and its completion callback:
 * at 100 puts/s (3-member watch-latency) a 10 ms interval made that one extra wake-up per put on
 * every member, ~100 us of CPU each (code run after an idle spell runs several times slower here:
 * a 3-op batch took 130 us after 10 ms of sleep, 34 us back to back), and the timer fired just as
 * the next put arrived. At 100 ms: watch-latency p99 1.39-1.94 ms against 1.82-2.13 and server CPU
 * per put 3.0-3.7 ms against 3.6-4.1 (4 A/B pairs, puts pinned to the leader).
 */
const DEFERRED_WRITE_MS = 100;
/**
 * Held ops past which the hand-over comes right after this turn. It bounds the work of one
 * hand-over: at 100 ms and 1 conn/1 client that work came in one piece (~230 puts, ~0.75 ms) that
 * the next request waited behind (put 1/1 p99 2x etcd's); 64 ops are ~0.15 ms, done in the client's
 * round trip after an answer. Put 1/1 p99 0.8-1.0 ms either way, put 100/1000 CPU per put unchanged
 * (against a 10 ms timer: 4 and 3 A/B pairs).
 */
export const HANDOVER_OPS = 64;
/**
 * ...but not sooner than this after the last hand-over: under load (100 conns/1000 clients, a Raft
 * cycle every 1-2 ms with 100+ ops) the hand-overs then come as often as with the 10 ms timer
 * before, not one per cycle, each a native call and a thread-pool round trip.
 */
export const HANDOVER_INTERVAL_MIN_MS = 10;
/** Held batches are handed over sooner past about this much (a snapshot install, a fast load). */
const DEFERRED_WRITE_BYTES_MAX = 4 * 1024 * 1024;
/** What a batch adds per op, roughly: LevelDB's varint lengths and tag, our op object. */
const OP_OVERHEAD_BYTES = 16;
const EMPTY = Buffer.alloc(0);

function writeNative(db: NativeDatabase, ops: BatchOp[], sync: boolean): Promise<void> {
  const batch = db._chainedBatch();
  try {
    for (const op of ops) {
      if (op.type === 'put') batch._put(op.key, op.value);
      else batch._del(op.key);
    }
  } catch (error) {
    db.detachResource(batch);
    return Promise.reject(error);
  }
  const written = batch._write({ sync });
  // The batch was written (or refused) whole: the database has nothing more to close.
  void written.then(() => db.detachResource(batch), () => db.detachResource(batch));
  return written;
}
