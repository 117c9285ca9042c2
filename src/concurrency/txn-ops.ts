// The few txn building blocks the lock and election algorithms use, as internal request objects.
import {
  CompareResult, CompareTarget, emptyRangeRequest, type Compare, type KeyValue, type RangeResult, type RequestOp,
  type TxnResult,
} from '../mvcc/types.js';

export function createRevisionIs(key: Buffer, revision: number): Compare {
  return {
    result: CompareResult.EQUAL, target: CompareTarget.CREATE, key, rangeEnd: Buffer.alloc(0),
    number: revision, value: Buffer.alloc(0), lease: 0n,
  };
}

export function putOp(key: Buffer, value: Buffer, lease: bigint): RequestOp {
  return { put: { key, value, lease, prevKv: false, ignoreValue: false, ignoreLease: false } };
}

export function getOp(key: Buffer): RequestOp {
  return { range: emptyRangeRequest(key) };
}

export function deleteOp(key: Buffer): RequestOp {
  return { deleteRange: { key, rangeEnd: Buffer.alloc(0), prevKv: false } };
}

/** The range result at `index` of a txn's responses; anything else is a bug in the txn we built. */
export function rangeResponseAt(result: TxnResult, index: number): RangeResult {
  const response = result.responses[index];
  if (response === undefined || !('range' in response)) throw new Error(`txn response ${index} is not a range`);
  return response.range;
}

/** The single key a get of an existing key returned (the txn's compare guarantees it exists). */
export function onlyKv(range: RangeResult): KeyValue {
  const kv = range.kvs[0];
  if (kv === undefined) throw new Error('expected the key to exist inside the txn that found it');
  return kv;
}
