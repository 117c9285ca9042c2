// The KV data model shared by mvcc, watch, lease, server and the API layers. These are plain
// internal objects: the API layers translate wire messages into them and back.
//
// Units and ranges: revisions are JS numbers (int64 on the wire; 2^53 revisions is beyond any real
// store's life, and numbers keep the hot path free of bigint arithmetic). Lease ids are `bigint`
// (etcd picks random int63 ids that do not fit a number); 0n means "no lease".
// Keys and values are Buffers.

export interface KeyValue {
  key: Buffer;
  /** Revision of the last creation of this key (0 for none). */
  createRevision: number;
  /** Revision of the last modification. */
  modRevision: number;
  /** Number of modifications since creation: 1 on create, 0 after delete. */
  version: number;
  value: Buffer;
  lease: bigint;
}

export const EventType = { PUT: 0, DELETE: 1 } as const;
export type EventTypeValue = (typeof EventType)[keyof typeof EventType];

export interface MvccEvent {
  type: EventTypeValue;
  /** For DELETE: key and modRevision (the delete revision) only, other fields zero/empty. */
  kv: KeyValue;
  prevKv?: KeyValue;
  /**
   * Whether prevKv is there, for events that decode it only when read (stored-event.ts): a
   * watcher without prev_kv asks only this. Absent: look at prevKv.
   */
  readonly hasPrevKv?: boolean;
}

export const SortOrder = { NONE: 0, ASCEND: 1, DESCEND: 2 } as const;
export const SortTarget = { KEY: 0, VERSION: 1, CREATE: 2, MOD: 3, VALUE: 4 } as const;

export interface RangeRequest {
  key: Buffer;
  /** Empty: single key. [0x00]: every key >= key. Otherwise [key, rangeEnd). */
  rangeEnd: Buffer;
  limit: number;
  /** <= 0: latest. */
  revision: number;
  sortOrder: number;
  sortTarget: number;
  serializable: boolean;
  keysOnly: boolean;
  countOnly: boolean;
  minModRevision: number;
  maxModRevision: number;
  minCreateRevision: number;
  maxCreateRevision: number;
}

export interface RangeResult {
  kvs: KeyValue[];
  more: boolean;
  /** Total keys in range at the read revision, before limit and before min/max filters. */
  count: number;
  /** Revision the read was served at (the store's current revision for latest reads). */
  revision: number;
}

export interface PutRequest {
  key: Buffer;
  value: Buffer;
  lease: bigint;
  prevKv: boolean;
  ignoreValue: boolean;
  ignoreLease: boolean;
}

export interface PutResult {
  prevKv?: KeyValue;
  /** Inside a txn: the revision etcd reports in this sub-response's header (the txn's revision). */
  revision?: number;
}

export interface DeleteRangeRequest {
  key: Buffer;
  rangeEnd: Buffer;
  prevKv: boolean;
}

export interface DeleteRangeResult {
  deleted: number;
  prevKvs: KeyValue[];
  /**
   * Inside a txn: the revision etcd reports in this sub-response's header — the txn's revision
   * once the txn has changed anything, else the revision before the txn.
   */
  revision?: number;
}

export const CompareResult = { EQUAL: 0, GREATER: 1, LESS: 2, NOT_EQUAL: 3 } as const;
export const CompareTarget = { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3, LEASE: 4 } as const;

export interface Compare {
  result: number;
  target: number;
  key: Buffer;
  rangeEnd: Buffer;
  /** Used by VERSION, CREATE, MOD. */
  number: number;
  /** Used by VALUE. */
  value: Buffer;
  /** Used by LEASE. */
  lease: bigint;
}

export type RequestOp =
  | { range: RangeRequest }
  | { put: PutRequest }
  | { deleteRange: DeleteRangeRequest }
  | { txn: TxnRequest };

export interface TxnRequest {
  compare: Compare[];
  success: RequestOp[];
  failure: RequestOp[];
}

export type ResponseOp =
  | { range: RangeResult }
  | { put: PutResult }
  | { deleteRange: DeleteRangeResult }
  | { txn: TxnResult };

export interface TxnResult {
  succeeded: boolean;
  responses: ResponseOp[];
}

export function emptyRangeRequest(key: Buffer, rangeEnd: Buffer = Buffer.alloc(0)): RangeRequest {
  return {
    key, rangeEnd, limit: 0, revision: 0, sortOrder: 0, sortTarget: 0, serializable: false,
    keysOnly: false, countOnly: false, minModRevision: 0, maxModRevision: 0, minCreateRevision: 0,
    maxCreateRevision: 0,
  };
}
