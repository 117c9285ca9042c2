// Owns MvccStore: etcd's multi-version KV state. The key index and the latest value of every live
// key are in memory, so reads at the current revision never touch disk. Every revision's
// key-value (tombstones included) is written to LevelDB under `m/k/<revision>` through the batch
// the caller passes, for history reads, watch catch-up and restart; compaction meta lives under
// `m/meta/`. Recent revisions are also kept in a bounded in-memory history cache, which serves
// watch catch-up and history reads of revisions whose batch the caller has not written yet.
//
// The write side (put, deleteRange, txn, deleteKeys, compact) is called only by the server's apply
// step, one committed entry at a time. Each call validates everything first and only then
// changes state, so a call that throws EtcdError changed nothing.
//
// Returned KeyValue and MvccEvent objects are shared with the store's memory: never mutate them.
import { EtcdError } from '../errors.js';
import type { Backend, BatchOp } from '../storage/backend.js';
import { prefix } from '../storage/keys.js';
import {
  decodeBinaryKey, decodeKeyOnly, decodeKeyValue, encodeKeyValue, hasStoredLease, storedCreateRevision, storedLease,
  storedValue, storedVersion,
} from './kv-codec.js';
import { StoredPutEvent } from './stored-event.js';
import { KeyIndex, KeyIndexLoader, type KeyRecord } from './key-index.js';
import { ValueSlabs, type ValueSlabsOptions } from './value-slabs.js';
import { fetchLimit, shapeRange } from './range-shape.js';
import { REVISION_BYTES, decodeRevision, writeRevision, type Revision } from './revision.js';
import { RevisionWindow } from './revision-window.js';
import { chooseTxnPath, type TxnPath } from './txn.js';
import {
  EventType, type DeleteRangeRequest, type DeleteRangeResult, type KeyValue, type MvccEvent, type PutRequest,
  type PutResult, type RangeRequest, type RangeResult, type RequestOp, type ResponseOp, type TxnRequest,
  type TxnResult,
} from './types.js';
import { crc32 } from 'node:zlib';

/** What mvcc needs from the lessor (declared here so mvcc does not import lease). */
export interface LeaseAttachments {
  exists(id: bigint): boolean;
  attach(id: bigint, key: Buffer): void;
  detach(id: bigint, key: Buffer): void;
}

export interface MvccStoreOptions {
  leases: LeaseAttachments;
  /** Revisions kept in the history cache once flushed; unflushed ones are never evicted. */
  historyCacheMaxRevisions?: number;
  /** Slab sizes and repack floor of the live values, keys a repack visits per write (tests make them small). */
  valueSlabs?: Partial<ValueSlabsOptions> & { repackStepRecords?: number };
  /**
   * How a compaction purges old revisions from LevelDB: in slices of `batchLimit` records read,
   * each slice's deletes in one write (--compaction-batch-limit, etcd: 1000), then a pause of `sleepIntervalMs`
   * (--experimental-compaction-sleep-interval, etcd: 10 ms), so that a large compaction leaves the
   * disk and the event loop to requests. Without it: 1000, and only a turn of the event loop.
   */
  purge?: { batchLimit: number; sleepIntervalMs: number };
}

/**
 * Results of the txn's range ops that read an old revision, computed before apply (reads of
 * history need disk, apply must not wait). Keyed by the RangeRequest object of the txn.
 */
export interface TxnPrefetch {
  atRevision: number;
  results: Map<RangeRequest, RangeResult | EtcdError>;
}

/**
 * Recent revisions whose events stay in memory for watchers that catch up (older ones are read from
 * LevelDB). Each cached revision is ~0.8 KB of JS objects that outlive a young-generation GC, so
 * the scavenges that copy them grow with the cache: with 10,000, a 3-member put 1/1 spent 2.5-5 ms
 * per scavenge on every member; with 500, 3 A/B pairs ran 5% faster (1,156/1,188/1,065 against
 * 1,099/1,104/1,016 puts/s), p99 9-12% lower, CPU per put 5% lower, and watch fan-out and
 * watch-latency unchanged.
 */
export const HISTORY_CACHE_REVISIONS_DEFAULT = 500;
/** Compaction hashes kept for the compact hash check (etcd keeps 10). */
export const COMPACTION_HASHES_KEPT = 10;
/** Records read per slice while purging compacted revisions, unless MvccStoreOptions.purge says. */
const PURGE_SLICE_ENTRIES_DEFAULT = 1_000;
/** Keys a repack of the value slabs visits per write txn (value-slabs.ts): ~0.1 ms of copying. */
const REPACK_STEP_RECORDS = 1_000;
/** Entries hashed between yields to the event loop. */
const HASH_SLICE_ENTRIES_MAX = 1_000;

/** History records: the key is the revision (main, sub, 8 bytes each, big-endian) behind this prefix. */
export const HISTORY_PREFIX = Buffer.concat([prefix.mvcc, Buffer.from('k/')]);
const HISTORY_END = Buffer.concat([prefix.mvcc, Buffer.from('k0')]);
/** The revision of the last compaction scheduled (it may be ahead of the last history record). */
export const META_COMPACT_SCHEDULED = Buffer.concat([prefix.mvcc, Buffer.from('meta/compactScheduled')]);
const META_COMPACT_FINISHED = Buffer.concat([prefix.mvcc, Buffer.from('meta/compactFinished')]);
const EMPTY = Buffer.alloc(0);

function historyKey(main: number, sub: number, tombstone: boolean): Buffer {
  const key = Buffer.allocUnsafe(HISTORY_PREFIX.length + REVISION_BYTES);
  HISTORY_PREFIX.copy(key, 0);
  writeRevision(key, HISTORY_PREFIX.length, main, sub, tombstone);
  return key;
}

/** The first history key of revision `main` (sorts before every record of that revision). */
function historyBound(main: number): Buffer {
  return historyKey(main, 0, false).subarray(0, HISTORY_PREFIX.length + 8);
}

function encodeNumber(value: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(value));
  return out;
}

function decodeNumber(bytes: Buffer | undefined): number {
  return bytes === undefined ? 0 : Number(bytes.readBigUInt64BE(0));
}

function tombstoneKeyValue(key: Buffer, main: number): KeyValue {
  return { key, createRevision: 0, modRevision: main, version: 0, value: EMPTY, lease: 0n };
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** One write txn in progress: every change gets (main, sub++). */
interface WriteContext {
  main: number;
  sub: number;
  events: MvccEvent[];
  batch: BatchOp[];
}

export class MvccStore {
  private index = new KeyIndex();
  private readonly leases: LeaseAttachments;
  private readonly historyCacheMaxRevisions: number;
  /** Events of revisions [historyCache.low, currentRev], contiguous; events[i] has sub i. */
  private readonly historyCache = new RevisionWindow<MvccEvent[]>(2);
  private currentRev = 1;
  /** -1 until the first compaction: etcd accepts "compact 0" on a store never compacted. */
  private compactRev = -1;
  private flushedRev = 1;
  private liveKeys = 0;
  /** Every live value, in its stored form; KeyRecords point into it. */
  private slabs: ValueSlabs;
  private readonly slabOptions: Partial<ValueSlabsOptions>;
  private readonly repackStepRecords: number;
  /** While a repack walks the index: the smallest key it has yet to visit. */
  private repackFrom: string | undefined = undefined;
  private flushWaiters: Array<{ revision: number; resolve: () => void }> = [];
  private purgeTail: Promise<void> = Promise.resolve();
  private readonly purgeSliceEntries: number;
  private readonly purgePauseMs: number;
  /** The hash of what each recent compaction kept, oldest first (compactionHashes()). */
  private readonly compactionHashList: Array<{ revision: number; hash: number }> = [];

  private constructor(private readonly backend: Backend, options: MvccStoreOptions) {
    this.leases = options.leases;
    // etcd takes 0 (and we any value below 1) for its default.
    this.purgeSliceEntries = (options.purge?.batchLimit ?? 0) >= 1 ? options.purge!.batchLimit : PURGE_SLICE_ENTRIES_DEFAULT;
    this.purgePauseMs = Math.max(0, options.purge?.sleepIntervalMs ?? 0);
    this.historyCacheMaxRevisions = options.historyCacheMaxRevisions ?? HISTORY_CACHE_REVISIONS_DEFAULT;
    this.slabOptions = options.valueSlabs ?? {};
    this.repackStepRecords = options.valueSlabs?.repackStepRecords ?? REPACK_STEP_RECORDS;
    this.slabs = new ValueSlabs(this.slabOptions);
  }

  /**
   * Rebuilds the index and latest values from LevelDB and re-attaches leased keys to
   * `options.leases` (so the lessor must be loaded first). Resumes an unfinished purge.
   */
  static async open(backend: Backend, options: MvccStoreOptions): Promise<MvccStore> {
    const store = new MvccStore(backend, options);
    await store.load();
    return store;
  }

  /** The revision of the last write txn; 1 on a fresh store, as in etcd. */
  get currentRevision(): number {
    return this.currentRev;
  }

  /** Reads below this revision fail with Compacted; reads at it succeed. */
  get compactRevision(): number {
    return Math.max(0, this.compactRev);
  }

  get flushedRevision(): number {
    return this.flushedRev;
  }

  /** Bytes of the live values in memory, dead bytes not yet reclaimed, whether a repack is walking. */
  get valueMemory(): { liveBytes: number; deadBytes: number; repacking: boolean } {
    return { liveBytes: this.slabs.liveByteCount, deadBytes: this.slabs.deadByteCount, repacking: this.slabs.repacking };
  }

  /** Live keys. */
  get keysTotal(): number {
    return this.liveKeys;
  }

  /**
   * The hashes of the last compactions' kept history, newest first: each the crc32 of every
   * revision at or below its compaction revision that the compaction kept, in key order, computed
   * as the purge reads them. Members compact at the same revisions (the log says when), and a
   * record compaction keeps is never deleted, so members holding the same data agree on each hash
   * however far their purges had got before a restart. Kept in memory, as etcd keeps them.
   */
  compactionHashes(): Array<{ revision: number; hash: number }> {
    return [...this.compactionHashList].reverse();
  }

  /** Resolves when every purge scheduled so far has finished (or failed). */
  async purgeIdle(): Promise<void> {
    await this.purgeTail.catch(() => undefined);
  }

  // ---------------------------------------------------------------- reads

  async range(request: RangeRequest): Promise<RangeResult> {
    this.checkReadRevision(request.revision, this.currentRev);
    if (request.revision <= 0 || request.revision === this.currentRev) {
      return this.rangeLatest(request, this.currentRev);
    }
    return this.rangeAt(request, request.revision);
  }

  /** Events of revisions [fromRevision, toRevision] in order, each with prevKv unless compacted. */
  async history(fromRevision: number, toRevision: number, maxEvents: number): Promise<MvccEvent[]> {
    if (fromRevision < this.compactRev) throw new EtcdError('Compacted');
    const from = Math.max(fromRevision, 1);
    const upper = Math.min(toRevision, this.currentRev);
    if (from > upper) return [];
    // Snapshot the cached part now: revisions below historyCache.low are on disk, those at or
    // above may not be yet, and the cache may evict while we read the disk.
    const cacheLow = this.historyCache.low;
    const cached: MvccEvent[][] = [];
    for (let revision = Math.max(from, cacheLow); revision <= upper; revision++) {
      const events = this.historyCache.get(revision);
      if (events === undefined) throw new Error(`mvcc: history cache lost revision ${revision}`);
      cached.push(events);
    }
    const out: MvccEvent[] = [];
    if (from < cacheLow) {
      await this.readHistoryFromDisk(from, Math.min(upper, cacheLow - 1), maxEvents, out);
    }
    for (const events of cached) {
      if (out.length >= maxEvents) break;
      // A revision is never split, so a watcher never sees half a txn.
      out.push(...events);
    }
    return out;
  }

  async hashKv(revision: number): Promise<{ hash: number; compactRevision: number; hashRevision: number }> {
    const compactRevision = this.compactRevision;
    // Unlike range, etcd 3.4 refuses to hash at the compact revision itself.
    if (revision > 0 && revision <= compactRevision) throw new EtcdError('Compacted');
    if (revision > this.currentRev) throw new EtcdError('FutureRev');
    const hashRevision = revision > 0 ? revision : this.currentRev;
    const cacheLow = this.historyCache.low;
    const cached: Array<[number, MvccEvent[]]> = [];
    for (let main = cacheLow; main <= hashRevision; main++) cached.push([main, this.historyCache.get(main) ?? []]);

    // Revisions at or below the compact revision count only if compaction keeps them, so the
    // hash does not depend on how far each member's background purge has got.
    const kept = (key: Buffer, main: number, sub: number): boolean =>
      main > compactRevision || this.index.get(key)?.hasRevision(main, sub) === true;
    let hash = 0;
    let sinceYield = 0;
    const diskUpper = Math.min(hashRevision, cacheLow - 1);
    if (diskUpper >= 1) {
      for await (const [key, value] of this.backend.iterate({ gte: HISTORY_PREFIX, lt: historyBound(diskUpper + 1) })) {
        const { main, sub } = decodeRevision(key, HISTORY_PREFIX.length);
        if (!kept(decodeKeyOnly(value), main, sub)) continue;
        hash = crc32(value, crc32(key, hash));
        if (++sinceYield >= HASH_SLICE_ENTRIES_MAX) {
          sinceYield = 0;
          await yieldToEventLoop();
        }
      }
    }
    for (const [main, events] of cached) {
      for (let sub = 0; sub < events.length; sub++) {
        const { type, kv } = events[sub];
        if (!kept(kv.key, main, sub)) continue;
        hash = crc32(encodeKeyValue(kv), crc32(historyKey(main, sub, type === EventType.DELETE), hash));
      }
    }
    // etcd reports compact_revision -1 for a store that was never compacted.
    return { hash, compactRevision: this.compactRev, hashRevision };
  }

  // ---------------------------------------------------------------- writes

  put(request: PutRequest, batch: BatchOp[]): { result: PutResult; events: MvccEvent[] } {
    if (request.lease !== 0n && !this.leases.exists(request.lease)) throw new EtcdError('LeaseNotFound');
    if ((request.ignoreValue || request.ignoreLease) && !this.index.get(request.key)?.hasLive) {
      throw new EtcdError('KeyNotFound');
    }
    const context = this.beginWrite(batch);
    const prevStored = this.writePut(context, request);
    this.endWrite(context);
    return { result: request.prevKv && prevStored ? { prevKv: decodeKeyValue(prevStored) } : {}, events: context.events };
  }

  deleteRange(request: DeleteRangeRequest, batch: BatchOp[]): { result: DeleteRangeResult; events: MvccEvent[] } {
    const context = this.beginWrite(batch);
    const prevKvs = this.writeDelete(context, this.liveRecords(request.key, request.rangeEnd));
    this.endWrite(context);
    return { result: { deleted: prevKvs.length, prevKvs: request.prevKv ? prevKvs : [] }, events: context.events };
  }

  /** Deletes the keys (missing ones skipped) in one revision: a lease revoke. */
  deleteKeys(keys: Buffer[], batch: BatchOp[]): MvccEvent[] {
    const records: KeyRecord[] = [];
    const seen = new Set<KeyRecord>();
    for (const key of keys) {
      const record = this.index.get(key);
      if (record?.hasLive && !seen.has(record)) {
        seen.add(record);
        records.push(record);
      }
    }
    // Key order, as a range delete would produce: the event order is then the same on every member.
    records.sort((a, b) => Buffer.compare(a.key, b.key));
    const context = this.beginWrite(batch);
    this.writeDelete(context, records);
    this.endWrite(context);
    return context.events;
  }

  async prefetchTxn(request: TxnRequest): Promise<TxnPrefetch> {
    const atRevision = this.currentRev;
    const results = new Map<RangeRequest, RangeResult | EtcdError>();
    const visit = async (ops: RequestOp[]): Promise<void> => {
      for (const op of ops) {
        if ('txn' in op) {
          await visit(op.txn.success);
          await visit(op.txn.failure);
        } else if ('range' in op && op.range.revision > 0 && op.range.revision <= atRevision) {
          try {
            results.set(op.range, await this.range(op.range));
          } catch (error) {
            if (!(error instanceof EtcdError)) throw error;
            results.set(op.range, error);
          }
        }
      }
    };
    await visit(request.success);
    await visit(request.failure);
    return { atRevision, results };
  }

  txn(request: TxnRequest, prefetch: TxnPrefetch | undefined, batch: BatchOp[]): { result: TxnResult; events: MvccEvent[] } {
    const beginRev = this.currentRev;
    const path = chooseTxnPath(request, (key, rangeEnd) => this.liveRecords(key, rangeEnd).map((r) => r.live as KeyValue));
    // etcd checks every put of the chosen path first, then every range.
    this.checkTxnPuts(request, path);
    const pinned = new Map<RangeRequest, RangeResult>();
    this.checkTxnRanges(request, path, beginRev, prefetch, pinned);
    const context = this.beginWrite(batch);
    const result = this.executeTxn(request, path, context, beginRev, pinned);
    this.endWrite(context);
    return { result, events: context.events };
  }

  /**
   * Compacts at `revision`: validates (throwing EtcdError synchronously, having changed nothing),
   * compacts the index now and records the compaction in `batch`. The returned promise resolves
   * once the old revisions are purged from LevelDB (etcd's `physical`); the purge starts after the
   * caller has flushed `revision` (markFlushed) and runs in bounded slices.
   */
  compact(revision: number, batch: BatchOp[]): Promise<void> {
    if (revision <= this.compactRev) throw new EtcdError('Compacted');
    if (revision > this.currentRev) throw new EtcdError('FutureRev');
    this.compactRev = revision;
    this.index.compact(revision);
    batch.push({ type: 'put', key: META_COMPACT_SCHEDULED, value: encodeNumber(revision) });
    return this.schedulePurge(revision);
  }

  /** The caller wrote every batch up to `revision`: those revisions may leave the history cache. */
  markFlushed(revision: number): void {
    if (revision <= this.flushedRev) return;
    this.flushedRev = revision;
    this.evictHistory();
    if (this.flushWaiters.length === 0) return;
    const waiting: typeof this.flushWaiters = [];
    for (const waiter of this.flushWaiters) {
      if (waiter.revision <= revision) waiter.resolve();
      else waiting.push(waiter);
    }
    this.flushWaiters = waiting;
  }

  // ---------------------------------------------------------------- internals: reads

  private checkReadRevision(revision: number, current: number): void {
    if (revision > current) throw new EtcdError('FutureRev');
    if (revision > 0 && revision < this.compactRev) throw new EtcdError('Compacted');
  }

  private liveRecords(key: Buffer, rangeEnd: Buffer): KeyRecord[] {
    const records: KeyRecord[] = [];
    this.index.forEachInRange(key, rangeEnd, (record) => {
      if (record.hasLive) records.push(record);
    });
    return records;
  }

  private rangeLatest(request: RangeRequest, reportedRevision: number): RangeResult {
    const limit = fetchLimit(request);
    const kvs: KeyValue[] = [];
    let count = 0;
    this.index.forEachInRange(request.key, request.rangeEnd, (record) => {
      if (!record.hasLive) return;
      count++;
      if (!request.countOnly && (limit === 0 || kvs.length < limit)) kvs.push(record.live as KeyValue);
    });
    return shapeRange(request, kvs, count, reportedRevision);
  }

  private async rangeAt(request: RangeRequest, atMain: number): Promise<RangeResult> {
    const found: Array<{ record: KeyRecord; revision: Revision }> = [];
    this.index.forEachInRange(request.key, request.rangeEnd, (record) => {
      const revision = record.revisionAt(atMain);
      if (revision) found.push({ record, revision });
    });
    if (request.countOnly) return shapeRange(request, [], found.length, this.currentRev);
    const limit = fetchLimit(request);
    const wanted = limit > 0 ? found.slice(0, limit) : found;
    const kvs: KeyValue[] = [];
    for (const { record, revision } of wanted) {
      const kv = await this.readPut(record, revision);
      // Purged between the index lookup and the read: a compaction overtook this read.
      if (kv === undefined) throw new EtcdError('Compacted');
      kvs.push(kv);
    }
    return shapeRange(request, kvs, found.length, this.currentRev);
  }

  /** The key-value a put at `revision` wrote: from memory when possible, else from disk. */
  private async readPut(record: KeyRecord, revision: Revision): Promise<KeyValue | undefined> {
    const memory = this.readPutFromMemory(record, revision);
    if (memory) return memory;
    const bytes = await this.backend.get(historyKey(revision.main, revision.sub, false));
    return bytes === undefined ? undefined : decodeKeyValue(bytes);
  }

  private readPutFromMemory(record: KeyRecord, revision: Revision): KeyValue | undefined {
    const latest = record.latestRevision();
    if (latest && latest.main === revision.main && latest.sub === revision.sub) {
      const live = record.live;
      if (live) return live;
    }
    const event = this.historyCache.get(revision.main)?.[revision.sub];
    return event && event.type === EventType.PUT ? event.kv : undefined;
  }

  private async readHistoryFromDisk(from: number, upper: number, maxEvents: number, out: MvccEvent[]): Promise<void> {
    const read: Array<{ event: MvccEvent; main: number; sub: number }> = [];
    let lastMain = 0;
    for await (const [key, value] of this.backend.iterate({ gte: historyBound(from), lt: historyBound(upper + 1) })) {
      const { main, sub, tombstone } = decodeRevision(key, HISTORY_PREFIX.length);
      if (out.length + read.length >= maxEvents && main !== lastMain) break;
      lastMain = main;
      read.push({ event: { type: tombstone ? EventType.DELETE : EventType.PUT, kv: decodeKeyValue(value) }, main, sub });
    }
    for (const { event, main, sub } of read) {
      const record = this.index.get(event.kv.key);
      const previous = record?.previousRevision(main, sub);
      if (record && previous) {
        const prevKv = await this.readPut(record, previous);
        if (prevKv) event.prevKv = prevKv;
      }
      out.push(event);
    }
  }

  // ---------------------------------------------------------------- internals: writes

  private beginWrite(batch: BatchOp[]): WriteContext {
    return { main: this.currentRev + 1, sub: 0, events: [], batch };
  }

  private endWrite(context: WriteContext): void {
    if (context.sub === 0) return;
    this.currentRev = context.main;
    this.historyCache.push(context.main, context.events);
    this.evictHistory();
    this.repackStep();
  }

  /**
   * Moves the live values of the next REPACK_STEP_RECORDS keys out of old slabs, once the slabs
   * want a repack (see value-slabs.ts): a walk over the whole index, a step per write txn, so a
   * store of 1M keys is repacked over ~1000 writes without stalling any of them for long.
   */
  private repackStep(): void {
    if (this.repackFrom === undefined) {
      if (!this.slabs.wantsRepack) return;
      this.slabs.beginRepack();
      this.repackFrom = '';
    }
    let visited = 0;
    let next: string | undefined;
    this.index.forEachFrom(this.repackFrom, (record) => {
      if (visited === this.repackStepRecords) {
        next = record.binaryKey;
        return false;
      }
      visited++;
      this.slabs.moveIfOld(record);
      return true;
    });
    this.repackFrom = next;
    if (next === undefined) this.slabs.endRepack();
  }

  private evictHistory(): void {
    while (this.historyCache.size > this.historyCacheMaxRevisions && this.historyCache.low <= this.flushedRev) {
      this.historyCache.shift();
    }
  }

  /**
   * Writes one put (the caller made the checks); returns the stored form of the value it replaced,
   * decoded only by a caller that asked for prev_kv (see StoredPutEvent).
   */
  private writePut(context: WriteContext, request: PutRequest): Buffer | undefined {
    const record = this.index.get(request.key);
    const prevStored = record?.liveStored;
    const key = request.key;
    const prevLease = prevStored === undefined ? 0n : storedLease(prevStored);
    // Only reachable when a "from key" delete earlier in the same txn removed the key (see
    // validate.ts); etcd panics there, we write an empty value / no lease instead.
    const value = request.ignoreValue ? (prevStored === undefined ? EMPTY : storedValue(prevStored)) : request.value;
    const lease = request.ignoreLease ? prevLease : request.lease;
    const kv: KeyValue = {
      key,
      createRevision: prevStored === undefined ? context.main : storedCreateRevision(prevStored),
      modRevision: context.main,
      version: prevStored === undefined ? 1 : storedVersion(prevStored) + 1,
      value,
      lease,
    };
    const indexed = record ? this.index.putRecord(record, context.main, context.sub) : this.index.put(key, context.main, context.sub);
    if (prevStored !== undefined) this.slabs.release(record!);
    // `kv` holds views of the request's buffer: it is encoded here and not kept (the event reads the
    // stored bytes).
    const encoded = this.slabs.placeNew(indexed, kv);
    context.batch.push({ type: 'put', key: historyKey(context.main, context.sub, false), value: encoded });
    if (prevLease !== 0n) this.leases.detach(prevLease, key);
    // The lessor keeps the key: a copy of its own, not a view that pins the encoded record.
    if (lease !== 0n) this.leases.attach(lease, indexed.key);
    if (prevStored === undefined) this.liveKeys++;
    context.events.push(new StoredPutEvent(encoded, prevStored));
    context.sub++;
    return prevStored;
  }

  /** Deletes the given live records in order; returns their previous values. */
  private writeDelete(context: WriteContext, records: KeyRecord[]): KeyValue[] {
    const prevKvs: KeyValue[] = [];
    for (const record of records) {
      const prev = record.live as KeyValue;
      record.appendTombstone(context.main, context.sub);
      this.slabs.release(record);
      record.clearLive();
      const tombstone = tombstoneKeyValue(prev.key, context.main);
      context.batch.push({
        type: 'put', key: historyKey(context.main, context.sub, true), value: encodeKeyValue(tombstone),
      });
      if (prev.lease !== 0n) this.leases.detach(prev.lease, prev.key);
      this.liveKeys--;
      context.events.push({ type: EventType.DELETE, kv: tombstone, prevKv: prev });
      prevKvs.push(prev);
      context.sub++;
    }
    return prevKvs;
  }

  private checkTxnPuts(request: TxnRequest, path: TxnPath): void {
    let nested = 0;
    for (const op of path.succeeded ? request.success : request.failure) {
      if ('put' in op) {
        const put = op.put;
        if ((put.ignoreValue || put.ignoreLease) && !this.index.get(put.key)?.hasLive) throw new EtcdError('KeyNotFound');
        if (put.lease !== 0n && !this.leases.exists(put.lease)) throw new EtcdError('LeaseNotFound');
      } else if ('txn' in op) {
        this.checkTxnPuts(op.txn, path.nested[nested++]);
      }
    }
  }

  private checkTxnRanges(
    request: TxnRequest, path: TxnPath, beginRev: number, prefetch: TxnPrefetch | undefined,
    pinned: Map<RangeRequest, RangeResult>,
  ): void {
    let nested = 0;
    for (const op of path.succeeded ? request.success : request.failure) {
      if ('txn' in op) {
        this.checkTxnRanges(op.txn, path.nested[nested++], beginRev, prefetch, pinned);
        continue;
      }
      if (!('range' in op) || op.range.revision <= 0) continue;
      const range = op.range;
      this.checkReadRevision(range.revision, beginRev);
      if (range.revision === beginRev) {
        // The state before this txn's writes is what a read at beginRev sees: take it now.
        pinned.set(range, this.rangeLatest(range, beginRev));
        continue;
      }
      const prefetched = prefetch?.results.get(range);
      if (prefetched instanceof EtcdError) throw prefetched;
      if (prefetched === undefined) {
        throw new Error(`mvcc: txn range at revision ${range.revision} was not prefetched (prefetchTxn before txn)`);
      }
      pinned.set(range, prefetched);
    }
  }

  private executeTxn(
    request: TxnRequest, path: TxnPath, context: WriteContext, beginRev: number,
    pinned: Map<RangeRequest, RangeResult>,
  ): TxnResult {
    const responses: ResponseOp[] = [];
    let nested = 0;
    for (const op of path.succeeded ? request.success : request.failure) {
      const viewRevision = context.sub > 0 ? context.main : beginRev;
      if ('range' in op) {
        const old = pinned.get(op.range);
        responses.push({ range: old ? { ...old, revision: viewRevision } : this.rangeLatest(op.range, viewRevision) });
      } else if ('put' in op) {
        const prevStored = this.writePut(context, op.put);
        responses.push({ put: op.put.prevKv && prevStored ? { prevKv: decodeKeyValue(prevStored), revision: context.main } : { revision: context.main } });
      } else if ('deleteRange' in op) {
        const prevKvs = this.writeDelete(context, this.liveRecords(op.deleteRange.key, op.deleteRange.rangeEnd));
        responses.push({
          deleteRange: {
            deleted: prevKvs.length,
            prevKvs: op.deleteRange.prevKv ? prevKvs : [],
            revision: context.sub > 0 ? context.main : beginRev,
          },
        });
      } else {
        responses.push({ txn: this.executeTxn(op.txn, path.nested[nested++], context, beginRev, pinned) });
      }
    }
    return { succeeded: path.succeeded, responses };
  }

  // ---------------------------------------------------------------- internals: compaction, load

  private schedulePurge(revision: number): Promise<void> {
    const run = this.purgeTail.catch(() => undefined).then(() => this.purge(revision));
    this.purgeTail = run;
    // The caller may drop the promise (a non-physical compaction): never an unhandled rejection.
    run.catch(() => undefined);
    return run;
  }

  private waitFlushed(revision: number): Promise<void> {
    if (this.flushedRev >= revision) return Promise.resolve();
    return new Promise((resolve) => this.flushWaiters.push({ revision, resolve }));
  }

  /** Deletes from LevelDB every record at or below `atMain` that the compacted index no longer holds. */
  private async purge(atMain: number): Promise<void> {
    await this.waitFlushed(atMain);
    let deletes: BatchOp[] = [];
    let keptHash = 0;
    // A slice is this many records read, deleted or kept, as etcd counts its batch limit.
    let sliceRecords = 0;
    for await (const [key, value] of this.backend.iterate({ gte: HISTORY_PREFIX, lt: historyBound(atMain + 1) })) {
      const { main, sub } = decodeRevision(key, HISTORY_PREFIX.length);
      if (this.index.get(decodeKeyOnly(value))?.hasRevision(main, sub) !== true) deletes.push({ type: 'del', key });
      else keptHash = crc32(value, crc32(key, keptHash));
      if (++sliceRecords >= this.purgeSliceEntries) {
        if (deletes.length > 0) await this.backend.write(deletes, false);
        deletes = [];
        sliceRecords = 0;
        await (this.purgePauseMs > 0 ? new Promise((resolve) => setTimeout(resolve, this.purgePauseMs)) : yieldToEventLoop());
      }
    }
    deletes.push({ type: 'put', key: META_COMPACT_FINISHED, value: encodeNumber(atMain) });
    await this.backend.write(deletes, false);
    // The index says what compaction keeps; a newer compaction scheduled before this purge ended
    // changed it part of the way through, so the hash would depend on timing: none is kept for it.
    if (this.compactRev !== atMain) return;
    this.compactionHashList.push({ revision: atMain, hash: keptHash });
    if (this.compactionHashList.length > COMPACTION_HASHES_KEPT) this.compactionHashList.shift();
  }

  private async load(): Promise<void> {
    const scheduledBytes = await this.backend.get(META_COMPACT_SCHEDULED);
    const scheduled = decodeNumber(scheduledBytes);
    const finished = decodeNumber(await this.backend.get(META_COMPACT_FINISHED));
    let lastMain = 0;
    let liveKeys = 0;
    // Records that had a lease at some point: re-attached below if they still have one.
    const leased = new Set<KeyRecord>();
    const slabs = new ValueSlabs(this.slabOptions);
    const loader = new KeyIndexLoader();
    for await (const [key, value] of this.backend.iterate({ gte: HISTORY_PREFIX, lt: HISTORY_END })) {
      const { main, sub, tombstone } = decodeRevision(key, HISTORY_PREFIX.length);
      // The key only: the rest of the live value is decoded when read (KeyRecord.live).
      const binaryKey = decodeBinaryKey(value);
      lastMain = main;
      if (tombstone) {
        const record = loader.get(binaryKey);
        if (!record?.hasLive) {
          // A purge interrupted by a crash deletes oldest first, so it can leave a tombstone whose
          // puts are gone; only below the scheduled compaction is that legitimate.
          if (main <= scheduled) continue;
          throw new Error(`mvcc: corrupt history: tombstone at ${main}.${sub} for a key that is not alive`);
        }
        loader.tombstone(record, main, sub);
        slabs.release(record);
        record.clearLive();
        liveKeys--;
      } else {
        const record = loader.put(binaryKey, main, sub);
        if (record.hasLive) slabs.release(record);
        else liveKeys++;
        slabs.place(record, value);
        if (hasStoredLease(value)) leased.add(record);
      }
      if (slabs.wantsRepack) slabs.repackAll((visit) => loader.forEach(visit));
    }
    this.index = loader.finish();
    this.slabs = slabs;
    if (scheduled > 0) this.index.compact(scheduled);
    this.currentRev = Math.max(1, lastMain, scheduled);
    this.compactRev = scheduledBytes === undefined ? -1 : scheduled;
    this.flushedRev = this.currentRev;
    this.historyCache.reset(this.currentRev + 1);
    this.liveKeys = liveKeys;
    // In key order, as a walk of the index would attach them.
    const attached: Array<{ record: KeyRecord; lease: bigint }> = [];
    for (const record of leased) {
      const lease = record.live?.lease ?? 0n;
      if (lease !== 0n) attached.push({ record, lease });
    }
    attached.sort((a, b) => (a.record.binaryKey < b.record.binaryKey ? -1 : a.record.binaryKey > b.record.binaryKey ? 1 : 0));
    for (const { record, lease } of attached) this.leases.attach(lease, record.key);
    if (finished < scheduled) this.schedulePurge(scheduled);
  }
}
