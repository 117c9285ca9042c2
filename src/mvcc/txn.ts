// Owns the decision part of a txn: evaluating compares and choosing, before anything is written,
// which branch runs at every nesting level. As in etcd, every compare of a txn (nested ones
// included) is evaluated against the state before the txn: the chosen path is fixed up front, and
// only range ops executed inside the txn see the txn's own earlier writes.
import { CompareResult, CompareTarget, type Compare, type KeyValue, type TxnRequest } from './types.js';

/** Live key-values in [key, rangeEnd) before the txn, as a compare sees them. */
export type LiveRange = (key: Buffer, rangeEnd: Buffer) => KeyValue[];

/** The branch chosen at one txn level, and the paths of the txns nested in that branch, in order. */
export interface TxnPath {
  succeeded: boolean;
  nested: TxnPath[];
}

const ABSENT: KeyValue = {
  key: Buffer.alloc(0), createRevision: 0, modRevision: 0, version: 0, value: Buffer.alloc(0), lease: 0n,
};

function sign(difference: number | bigint): number {
  return difference > 0 ? 1 : difference < 0 ? -1 : 0;
}

function compareKeyValue(compare: Compare, kv: KeyValue): boolean {
  let order = 0;
  switch (compare.target) {
    case CompareTarget.VALUE: order = Buffer.compare(kv.value, compare.value); break;
    case CompareTarget.CREATE: order = sign(kv.createRevision - compare.number); break;
    case CompareTarget.MOD: order = sign(kv.modRevision - compare.number); break;
    case CompareTarget.VERSION: order = sign(kv.version - compare.number); break;
    case CompareTarget.LEASE: order = sign(kv.lease - compare.lease); break;
    default: order = 0;
  }
  switch (compare.result) {
    case CompareResult.EQUAL: return order === 0;
    case CompareResult.NOT_EQUAL: return order !== 0;
    case CompareResult.GREATER: return order > 0;
    case CompareResult.LESS: return order < 0;
    // etcd treats an unknown result as satisfied.
    default: return true;
  }
}

/** True when every key in the compare's range satisfies it; a missing key compares as zero values. */
export function evaluateCompare(compare: Compare, liveRange: LiveRange): boolean {
  const kvs = liveRange(compare.key, compare.rangeEnd);
  if (kvs.length === 0) {
    // There is no way to tell a missing value from an empty one, so VALUE on a missing key fails.
    if (compare.target === CompareTarget.VALUE) return false;
    return compareKeyValue(compare, ABSENT);
  }
  for (const kv of kvs) {
    if (!compareKeyValue(compare, kv)) return false;
  }
  return true;
}

export function chooseTxnPath(request: TxnRequest, liveRange: LiveRange): TxnPath {
  const succeeded = request.compare.every((compare) => evaluateCompare(compare, liveRange));
  const nested: TxnPath[] = [];
  for (const op of succeeded ? request.success : request.failure) {
    if ('txn' in op) nested.push(chooseTxnPath(op.txn, liveRange));
  }
  return { succeeded, nested };
}
