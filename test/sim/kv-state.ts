// A simulated member's key-value state machine: our real MvccStore over an in-memory backend. The
// simulator applies committed entries here the way server/apply does for the KV requests (decode the
// entry, run put / deleteRange / txn on mvcc, write the store's batch together with the applied index
// in one atomic write), builds and restores snapshots of the whole database, and reopens the store
// from its backend after a crash (MvccStore's own restart path).
//
// Why the real store: its write side (put, deleteRange, txn) is synchronous and takes the batch from
// the caller, and a read at the latest revision never waits on disk, so under the simulator it runs
// deterministically; only open() and hashKv() are async, and the simulator awaits them in sequence.
import { EtcdError } from '../../src/errors.js';
import { MvccStore } from '../../src/mvcc/store.js';
import { emptyRangeRequest } from '../../src/mvcc/types.js';
import { type Entry, EntryType } from '../../src/raft/types.js';
import { APPLIED_INDEX_KEY, encodeAppliedIndex } from '../../src/server/apply.js';
import { decodeInternalRequest } from '../../src/server/request-codec.js';
import type { InternalRequest } from '../../src/server/requests.js';
import type { BatchOp } from '../../src/storage/backend.js';
import { MemoryBackend } from './memory-backend.js';

/** What applying one KV request produced, as the proposing member's waiter would receive it. */
export type KvApplyOutcome =
  | { ok: true; revision: number; txnSucceeded?: boolean }
  | { ok: false; error: string };

export interface KvApplied {
  request: InternalRequest;
  outcome: KvApplyOutcome;
}

/** The simulated clients use no leases: any lease reference is a bug in the simulator. */
const noLeases = {
  exists: (): boolean => false,
  attach: (id: bigint): void => { throw new Error(`sim kv: unexpected lease ${id} on load`); },
  detach: (id: bigint): void => { throw new Error(`sim kv: unexpected lease ${id} detached`); },
};

function readAppliedIndex(bytes: Buffer | undefined): number {
  return bytes === undefined ? 0 : Number(bytes.readBigUInt64BE(0));
}

export class KvStateMachine {
  private constructor(
    private readonly backend: MemoryBackend,
    readonly store: MvccStore,
    private appliedIndexValue: number,
  ) {}

  /** A member's state as bootstrap leaves it: an empty store at `appliedIndex`. */
  static async empty(appliedIndex: number): Promise<KvStateMachine> {
    const backend = new MemoryBackend();
    backend.writeNow([{ type: 'put', key: APPLIED_INDEX_KEY, value: encodeAppliedIndex(appliedIndex) }]);
    return new KvStateMachine(backend, await MvccStore.open(backend.asBackend(), { leases: noLeases }), appliedIndex);
  }

  /** Rebuilds the store from what this one wrote to its backend, as a restarted member does. */
  static async reopen(previous: KvStateMachine): Promise<KvStateMachine> {
    const backend = previous.backend;
    const applied = readAppliedIndex(await backend.get(APPLIED_INDEX_KEY));
    if (applied !== previous.appliedIndex) {
      throw new Error(`sim kv: backend holds applied index ${applied}, the state machine ${previous.appliedIndex}`);
    }
    return new KvStateMachine(backend, await MvccStore.open(backend.asBackend(), { leases: noLeases }), applied);
  }

  /** Restores a snapshot made by encodeSnapshot(); an empty one is the bootstrap state at `index`. */
  static async fromSnapshot(data: Uint8Array, index: number): Promise<{ kv: KvStateMachine; chainHash: number }> {
    if (data.length === 0) return { kv: await KvStateMachine.empty(index), chainHash: 0 };
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const snapshotIndex = Number(bytes.readBigUInt64BE(0));
    const chainHash = bytes.readUInt32BE(8);
    const backend = new MemoryBackend();
    const ops: BatchOp[] = [];
    for (let offset = 12; offset < bytes.length;) {
      const keyLength = bytes.readUInt32BE(offset);
      const key = bytes.subarray(offset + 4, offset + 4 + keyLength);
      offset += 4 + keyLength;
      const valueLength = bytes.readUInt32BE(offset);
      const value = bytes.subarray(offset + 4, offset + 4 + valueLength);
      offset += 4 + valueLength;
      ops.push({ type: 'put', key: Buffer.from(key), value: Buffer.from(value) });
    }
    backend.writeNow(ops);
    const applied = readAppliedIndex(await backend.get(APPLIED_INDEX_KEY));
    if (snapshotIndex !== index || applied !== index) {
      throw new Error(`sim kv: snapshot says index ${snapshotIndex}, its database ${applied}, raft ${index}`);
    }
    const store = await MvccStore.open(backend.asBackend(), { leases: noLeases });
    return { kv: new KvStateMachine(backend, store, index), chainHash };
  }

  get appliedIndex(): number {
    return this.appliedIndexValue;
  }

  /** The whole database at the applied index, plus the simulator's chain hash of the applied entries. */
  encodeSnapshot(chainHash: number): Uint8Array {
    const parts: Buffer[] = [Buffer.alloc(12)];
    parts[0]!.writeBigUInt64BE(BigInt(this.appliedIndexValue), 0);
    parts[0]!.writeUInt32BE(chainHash >>> 0, 8);
    for (const [key, value] of this.backend.entries()) {
      const header = Buffer.alloc(4);
      header.writeUInt32BE(key.length);
      const valueHeader = Buffer.alloc(4);
      valueHeader.writeUInt32BE(value.length);
      parts.push(header, key, valueHeader, value);
    }
    return Buffer.concat(parts);
  }

  /**
   * Applies one committed entry: a KV request changes mvcc; every entry (no-op and conf change too)
   * moves the applied index, written in the same batch as the data it covers.
   */
  apply(entry: Entry): KvApplied | undefined {
    if (entry.index !== this.appliedIndexValue + 1) {
      throw new Error(`sim kv: entry ${entry.index} applied after ${this.appliedIndexValue}`);
    }
    const batch: BatchOp[] = [];
    let applied: KvApplied | undefined;
    if (entry.type === EntryType.Normal && entry.data.length > 0) {
      const request = decodeInternalRequest(entry.data);
      applied = { request, outcome: this.applyRequest(request, batch) };
    }
    batch.push({ type: 'put', key: APPLIED_INDEX_KEY, value: encodeAppliedIndex(entry.index) });
    this.backend.writeNow(batch);
    this.store.markFlushed(this.store.currentRevision);
    this.appliedIndexValue = entry.index;
    return applied;
  }

  /** The value of `key` at the latest revision (null when absent). */
  async get(key: string): Promise<string | null> {
    const result = await this.store.range(emptyRangeRequest(Buffer.from(key)));
    const kv = result.kvs[0];
    return kv === undefined ? null : kv.value.toString();
  }

  /** MvccStore.hashKv at `revision`: the hash etcd's HashKV compares between members. */
  async hashAt(revision: number): Promise<number> {
    return (await this.store.hashKv(revision)).hash;
  }

  private applyRequest(request: InternalRequest, batch: BatchOp[]): KvApplyOutcome {
    try {
      if (request.put) {
        this.store.put(request.put, batch);
        return { ok: true, revision: this.store.currentRevision };
      }
      if (request.deleteRange) {
        this.store.deleteRange(request.deleteRange, batch);
        return { ok: true, revision: this.store.currentRevision };
      }
      if (request.txn) {
        const { result } = this.store.txn(request.txn, undefined, batch);
        return { ok: true, revision: this.store.currentRevision, txnSucceeded: result.succeeded };
      }
    } catch (error) {
      // As in server/apply: an EtcdError is the request's answer and changed nothing; anything else is a bug.
      if (error instanceof EtcdError) return { ok: false, error: error.message };
      throw error;
    }
    throw new Error('sim kv: an entry carries a request the simulated clients never send');
  }
}
