// KV wire messages (etcdserverpb Range/Put/DeleteRange/Txn/Compaction) ⇄ the mvcc request and
// result types. No grpc-js here: the HTTP gateway reuses these functions.
import { EtcdError } from '../../../errors.js';
import type {
  Compare, DeleteRangeRequest, DeleteRangeResult, PutRequest, PutResult, RangeRequest, RangeResult,
  RequestOp, ResponseOp, TxnRequest, TxnResult,
} from '../../../mvcc/types.js';
import { CompareTarget, SortOrder, SortTarget } from '../../../mvcc/types.js';
import type { ResponseHeader } from '../../../server/server-api.js';
import {
  headerToWire, keyValueToWire, wireArray, wireBool, wireBytes, wireEnum, wireInt64Bigint, wireInt64Number,
  wireObject, WireFormatError,
  type WireKeyValue, type WireResponseHeader,
} from './common.js';

/** Nested txns recurse here; a bound keeps a hostile message from exhausting the stack. */
export const txnNestingDepthMax = 64;

export function rangeRequestFromWire(value: unknown): RangeRequest {
  const wire = wireObject(value, 'RangeRequest');
  const sortOrder = wireEnum(wire.sort_order, 'sort_order');
  const sortTarget = wireEnum(wire.sort_target, 'sort_target');
  // An unknown enum value is etcd's "invalid sort option", not a malformed message (etcd 3.6).
  if (sortOrder < SortOrder.NONE || sortOrder > SortOrder.DESCEND) throw new EtcdError('InvalidSortOption');
  if (sortTarget < SortTarget.KEY || sortTarget > SortTarget.VALUE) throw new EtcdError('InvalidSortOption');
  return {
    key: wireBytes(wire.key, 'key'),
    rangeEnd: wireBytes(wire.range_end, 'range_end'),
    limit: wireInt64Number(wire.limit, 'limit'),
    revision: wireInt64Number(wire.revision, 'revision'),
    sortOrder,
    sortTarget,
    serializable: wireBool(wire.serializable, 'serializable'),
    keysOnly: wireBool(wire.keys_only, 'keys_only'),
    countOnly: wireBool(wire.count_only, 'count_only'),
    minModRevision: wireInt64Number(wire.min_mod_revision, 'min_mod_revision'),
    maxModRevision: wireInt64Number(wire.max_mod_revision, 'max_mod_revision'),
    minCreateRevision: wireInt64Number(wire.min_create_revision, 'min_create_revision'),
    maxCreateRevision: wireInt64Number(wire.max_create_revision, 'max_create_revision'),
  };
}

export function putRequestFromWire(value: unknown): PutRequest {
  const wire = wireObject(value, 'PutRequest');
  return {
    key: wireBytes(wire.key, 'key'),
    value: wireBytes(wire.value, 'value'),
    lease: wireInt64Bigint(wire.lease, 'lease'),
    prevKv: wireBool(wire.prev_kv, 'prev_kv'),
    ignoreValue: wireBool(wire.ignore_value, 'ignore_value'),
    ignoreLease: wireBool(wire.ignore_lease, 'ignore_lease'),
  };
}

export function deleteRangeRequestFromWire(value: unknown): DeleteRangeRequest {
  const wire = wireObject(value, 'DeleteRangeRequest');
  return {
    key: wireBytes(wire.key, 'key'),
    rangeEnd: wireBytes(wire.range_end, 'range_end'),
    prevKv: wireBool(wire.prev_kv, 'prev_kv'),
  };
}

function compareFromWire(value: unknown): Compare {
  const wire = wireObject(value, 'Compare');
  const target = wireEnum(wire.target, 'target');
  const compare: Compare = {
    result: wireEnum(wire.result, 'result'),
    target,
    key: wireBytes(wire.key, 'key'),
    rangeEnd: wireBytes(wire.range_end, 'range_end'),
    number: 0,
    value: Buffer.alloc(0),
    lease: 0n,
  };
  // target_union is a oneof; only the member that matches the target is meaningful.
  switch (target) {
    case CompareTarget.VERSION: compare.number = wireInt64Number(wire.version, 'version'); break;
    case CompareTarget.CREATE: compare.number = wireInt64Number(wire.create_revision, 'create_revision'); break;
    case CompareTarget.MOD: compare.number = wireInt64Number(wire.mod_revision, 'mod_revision'); break;
    case CompareTarget.VALUE: compare.value = wireBytes(wire.value, 'value'); break;
    case CompareTarget.LEASE: compare.lease = wireInt64Bigint(wire.lease, 'lease'); break;
    default: break;
  }
  return compare;
}

function requestOpFromWire(value: unknown, depth: number): RequestOp {
  const wire = wireObject(value, 'RequestOp');
  if (wire.request_range != null) return { range: rangeRequestFromWire(wire.request_range) };
  if (wire.request_put != null) return { put: putRequestFromWire(wire.request_put) };
  if (wire.request_delete_range != null) return { deleteRange: deleteRangeRequestFromWire(wire.request_delete_range) };
  if (wire.request_txn != null) return { txn: txnRequestFromWireAt(wire.request_txn, depth + 1) };
  throw new WireFormatError('RequestOp: no request set');
}

function txnRequestFromWireAt(value: unknown, depth: number): TxnRequest {
  if (depth > txnNestingDepthMax) throw new WireFormatError(`TxnRequest: nested deeper than ${txnNestingDepthMax}`);
  const wire = wireObject(value, 'TxnRequest');
  return {
    compare: wireArray(wire.compare, 'compare').map(compareFromWire),
    success: wireArray(wire.success, 'success').map((op) => requestOpFromWire(op, depth)),
    failure: wireArray(wire.failure, 'failure').map((op) => requestOpFromWire(op, depth)),
  };
}

export function txnRequestFromWire(value: unknown): TxnRequest {
  return txnRequestFromWireAt(value, 1);
}

export function compactionRequestFromWire(value: unknown): { revision: number; physical: boolean } {
  const wire = wireObject(value, 'CompactionRequest');
  return { revision: wireInt64Number(wire.revision, 'revision'), physical: wireBool(wire.physical, 'physical') };
}

// ---- responses ----

export interface WireRangeResponse { header: WireResponseHeader; kvs: WireKeyValue[]; more?: boolean; count?: number }
export interface WirePutResponse { header: WireResponseHeader; prev_kv?: WireKeyValue }
export interface WireDeleteRangeResponse { header: WireResponseHeader; deleted?: number; prev_kvs: WireKeyValue[] }
export interface WireTxnResponse { header: WireResponseHeader; succeeded?: boolean; responses: WireResponseOp[] }
export type WireResponseOp =
  | { response_range: WireRangeResponse }
  | { response_put: WirePutResponse }
  | { response_delete_range: WireDeleteRangeResponse }
  | { response_txn: WireTxnResponse };

// Zero values are left out of the objects protobufjs encodes (`more`, `count`, `deleted`,
// `succeeded`, a nested header's other fields): proto3 writes no field at its zero value, and
// protobufjs writes every field the object has, so each would cost bytes etcd does not send
// (decoded, the same answer; a two-operation txn's answer was 61 bytes against etcd's 43).
export function rangeResponseToWire(header: WireResponseHeader, result: RangeResult): WireRangeResponse {
  const wire: WireRangeResponse = { header, kvs: result.kvs.map(keyValueToWire) };
  if (result.more) wire.more = true;
  if (result.count !== 0) wire.count = result.count;
  return wire;
}

export function putResponseToWire(header: WireResponseHeader, result: PutResult): WirePutResponse {
  const wire: WirePutResponse = { header };
  if (result.prevKv) wire.prev_kv = keyValueToWire(result.prevKv);
  return wire;
}

export function deleteRangeResponseToWire(header: WireResponseHeader, result: DeleteRangeResult): WireDeleteRangeResponse {
  const wire: WireDeleteRangeResponse = { header, prev_kvs: result.prevKvs.map(keyValueToWire) };
  if (result.deleted !== 0) wire.deleted = result.deleted;
  return wire;
}

/**
 * Responses nested in a txn carry a header with only the revision set, as etcd's do: a range the
 * revision it read at, a put the txn's revision, a delete the txn's revision once the txn changed
 * anything; a nested txn's own header stays empty (etcd sets only the outer one).
 */
function responseOpToWire(op: ResponseOp, txnRevision: number): WireResponseOp {
  const header = (revision: number): WireResponseHeader => (revision === 0 ? {} : { revision });
  if ('range' in op) return { response_range: rangeResponseToWire(header(op.range.revision), op.range) };
  if ('put' in op) return { response_put: putResponseToWire(header(op.put.revision ?? txnRevision), op.put) };
  if ('deleteRange' in op) {
    return { response_delete_range: deleteRangeResponseToWire(header(op.deleteRange.revision ?? txnRevision), op.deleteRange) };
  }
  return { response_txn: txnResultToWire(header(0), op.txn, txnRevision) };
}

function txnResultToWire(header: WireResponseHeader, result: TxnResult, txnRevision: number): WireTxnResponse {
  const wire: WireTxnResponse = { header, responses: result.responses.map((op) => responseOpToWire(op, txnRevision)) };
  if (result.succeeded) wire.succeeded = true;
  return wire;
}

export function txnResponseToWire(header: ResponseHeader, result: TxnResult): WireTxnResponse {
  return txnResultToWire(headerToWire(header), result, header.revision);
}
