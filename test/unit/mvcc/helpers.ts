// Test helpers for mvcc: a store on a real LevelDB in a temp dir, a recording lease table, and
// request builders with etcd's defaults.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Backend, type BatchOp } from '../../../src/storage/backend.js';
import { MvccStore, type LeaseAttachments, type MvccStoreOptions } from '../../../src/mvcc/store.js';
import {
  emptyRangeRequest, type Compare, type DeleteRangeRequest, type PutRequest, type RangeRequest, type TxnRequest,
} from '../../../src/mvcc/types.js';

export const b = (text: string): Buffer => Buffer.from(text);
export const FROM_KEY = Buffer.from([0]);

/** Leases as a set of ids and the keys attached to each: what mvcc tells the lessor. */
export class LeaseTable implements LeaseAttachments {
  readonly keysByLease = new Map<bigint, Set<string>>();
  constructor(ids: bigint[] = []) {
    for (const id of ids) this.keysByLease.set(id, new Set());
  }
  exists(id: bigint): boolean {
    return this.keysByLease.has(id);
  }
  attach(id: bigint, key: Buffer): void {
    const keys = this.keysByLease.get(id);
    if (!keys) throw new Error(`attach to unknown lease ${id}`);
    keys.add(key.toString());
  }
  detach(id: bigint, key: Buffer): void {
    this.keysByLease.get(id)?.delete(key.toString());
  }
  keys(id: bigint): string[] {
    return [...(this.keysByLease.get(id) ?? [])].sort();
  }
}

export interface Harness {
  dir: string;
  backend: Backend;
  store: MvccStore;
  leases: LeaseTable;
  /** Runs one write against the store and writes + flushes its batch, as the apply step does. */
  write<T>(fn: (batch: BatchOp[]) => T): Promise<T>;
  reopen(historyCacheMaxRevisions?: number): Promise<void>;
  close(): Promise<void>;
}

export async function openHarness(
  options: { leaseIds?: bigint[]; historyCacheMaxRevisions?: number; valueSlabs?: MvccStoreOptions['valueSlabs']; purge?: MvccStoreOptions['purge'] } = {},
): Promise<Harness> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvcc-test-'));
  const leaseIds = options.leaseIds ?? [];
  const harness: Harness = {
    dir,
    backend: await Backend.open(path.join(dir, 'db')),
    leases: new LeaseTable(leaseIds),
    store: undefined as unknown as MvccStore,
    async write(fn) {
      const batch: BatchOp[] = [];
      const out = fn(batch);
      await harness.backend.write(batch, false);
      harness.store.markFlushed(harness.store.currentRevision);
      return out;
    },
    async reopen(historyCacheMaxRevisions) {
      await harness.store.purgeIdle();
      await harness.backend.close();
      harness.backend = await Backend.open(path.join(dir, 'db'));
      harness.leases = new LeaseTable(leaseIds);
      harness.store = await MvccStore.open(harness.backend, {
        leases: harness.leases, historyCacheMaxRevisions, valueSlabs: options.valueSlabs, purge: options.purge,
      });
    },
    async close() {
      await harness.store.purgeIdle();
      await harness.backend.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  harness.store = await MvccStore.open(harness.backend, {
    leases: harness.leases, historyCacheMaxRevisions: options.historyCacheMaxRevisions, valueSlabs: options.valueSlabs, purge: options.purge,
  });
  return harness;
}

export function put(key: string, value: string, extra: Partial<PutRequest> = {}): PutRequest {
  return { key: b(key), value: b(value), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false, ...extra };
}

export function del(key: string, rangeEnd: string | Buffer = '', extra: Partial<DeleteRangeRequest> = {}): DeleteRangeRequest {
  return { key: b(key), rangeEnd: typeof rangeEnd === 'string' ? b(rangeEnd) : rangeEnd, prevKv: false, ...extra };
}

export function get(key: string, rangeEnd: string | Buffer = '', extra: Partial<RangeRequest> = {}): RangeRequest {
  return { ...emptyRangeRequest(b(key), typeof rangeEnd === 'string' ? b(rangeEnd) : rangeEnd), ...extra };
}

export function cmp(key: string, target: number, result: number, operand: { number?: number; value?: string; lease?: bigint; rangeEnd?: string | Buffer } = {}): Compare {
  const rangeEnd = operand.rangeEnd ?? '';
  return {
    key: b(key), target, result, rangeEnd: typeof rangeEnd === 'string' ? b(rangeEnd) : rangeEnd,
    number: operand.number ?? 0, value: b(operand.value ?? ''), lease: operand.lease ?? 0n,
  };
}

export function txn(compare: Compare[], success: TxnRequest['success'], failure: TxnRequest['failure'] = []): TxnRequest {
  return { compare, success, failure };
}

export const keysOf = (kvs: Array<{ key: Buffer }>): string[] => kvs.map((kv) => kv.key.toString());
