// Owns the request checks the server runs before proposing a KV request, as etcd's v3rpc layer
// does: a request that fails here never reaches the Raft log. Pure functions; they throw EtcdError.
//
// Two facts taken from etcd 3.4's behaviour (checked against the real binary):
// - The txn op budget is max(len(compare), len(success), len(failure)) per level; a nested txn is
//   checked against what the enclosing level left (maxTxnOps - that level's count).
// - Duplicate keys: per branch, recursively. A delete's range is the raw byte interval
//   [key, range_end), so a "from key" delete (range_end = "\0") is an empty interval and never
//   conflicts with a put; etcd 3.4 accepts `del a --from-key; put c` in one txn, and so do we.
import { EtcdError } from '../errors.js';
import {
  SortOrder, SortTarget,
  type DeleteRangeRequest, type PutRequest, type RangeRequest, type RequestOp, type TxnRequest,
} from './types.js';

export function validateRange(request: RangeRequest): void {
  if (request.key.length === 0) throw new EtcdError('EmptyKey');
  if (!sortOrders.has(request.sortOrder) || !sortTargets.has(request.sortTarget)) {
    throw new EtcdError('InvalidSortOption');
  }
}

export function validatePut(request: PutRequest): void {
  if (request.key.length === 0) throw new EtcdError('EmptyKey');
  if (request.ignoreValue && request.value.length !== 0) throw new EtcdError('ValueProvided');
  if (request.ignoreLease && request.lease !== 0n) throw new EtcdError('LeaseProvided');
}

export function validateDeleteRange(request: DeleteRangeRequest): void {
  if (request.key.length === 0) throw new EtcdError('EmptyKey');
}

export function validateTxn(request: TxnRequest, maxTxnOps: number): void {
  checkTxnShape(request, maxTxnOps);
  // After the shape check, so the interval work is bounded by maxTxnOps.
  collectWrites(request.success);
  collectWrites(request.failure);
}

/** Collected once: every Range checks both. */
const sortOrders: ReadonlySet<number> = new Set(Object.values(SortOrder));
const sortTargets: ReadonlySet<number> = new Set(Object.values(SortTarget));

function checkTxnShape(request: TxnRequest, opsBudget: number): void {
  const levelOps = Math.max(request.compare.length, request.success.length, request.failure.length);
  if (levelOps > opsBudget) throw new EtcdError('TooManyOps');
  for (const compare of request.compare) {
    if (compare.key.length === 0) throw new EtcdError('EmptyKey');
  }
  for (const op of request.success) checkOp(op, opsBudget - levelOps);
  for (const op of request.failure) checkOp(op, opsBudget - levelOps);
}

function checkOp(op: RequestOp, opsBudget: number): void {
  if ('range' in op) validateRange(op.range);
  else if ('put' in op) validatePut(op.put);
  else if ('deleteRange' in op) validateDeleteRange(op.deleteRange);
  else checkTxnShape(op.txn, opsBudget);
}

interface DeleteInterval {
  start: Buffer;
  /** Exclusive; undefined: the single key `start`. */
  end: Buffer | undefined;
}

function intersectsAny(deletes: DeleteInterval[], key: Buffer): boolean {
  for (const interval of deletes) {
    if (interval.end === undefined) {
      if (interval.start.equals(key)) return true;
    } else if (Buffer.compare(key, interval.start) >= 0 && Buffer.compare(key, interval.end) < 0) {
      return true;
    }
  }
  return false;
}

/** The puts and deletes of one branch and everything nested in it; throws DuplicateKey. */
function collectWrites(ops: RequestOp[]): { puts: Set<string>; deletes: DeleteInterval[] } {
  const deletes: DeleteInterval[] = [];
  for (const op of ops) {
    if (!('deleteRange' in op)) continue;
    const { key, rangeEnd } = op.deleteRange;
    deletes.push({ start: key, end: rangeEnd.length === 0 ? undefined : rangeEnd });
  }

  const puts = new Set<string>();
  for (const op of ops) {
    if (!('txn' in op)) continue;
    const thenWrites = collectWrites(op.txn.success);
    const elseWrites = collectWrites(op.txn.failure);
    for (const key of thenWrites.puts) {
      if (puts.has(key) || intersectsAny(deletes, Buffer.from(key, 'latin1'))) throw new EtcdError('DuplicateKey');
      puts.add(key);
    }
    for (const key of elseWrites.puts) {
      // Then and else never both run: a key put by both branches of one nested txn is fine.
      if (puts.has(key) && !thenWrites.puts.has(key)) throw new EtcdError('DuplicateKey');
      if (intersectsAny(deletes, Buffer.from(key, 'latin1'))) throw new EtcdError('DuplicateKey');
      puts.add(key);
    }
    deletes.push(...thenWrites.deletes, ...elseWrites.deletes);
  }

  for (const op of ops) {
    if (!('put' in op)) continue;
    const key = op.put.key.toString('latin1');
    if (puts.has(key) || intersectsAny(deletes, op.put.key)) throw new EtcdError('DuplicateKey');
    puts.add(key);
  }
  return { puts, deletes };
}
