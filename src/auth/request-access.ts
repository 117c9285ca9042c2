// What each request needs from the auth store, in one place for both checks: the server's before
// proposing and apply's re-check when the auth store changed in between. etcd's rules: Range READ;
// Put WRITE (+READ with prev_kv, +WRITE on every key already attached to the lease it names);
// DeleteRange WRITE (+READ with prev_kv); Txn: READ for every compare, each op of both branches
// with its own needs; LeaseRevoke WRITE on every attached key; compaction, alarms and auth
// management need the root role.
import type { DeleteRangeRequest, PutRequest, RangeRequest, TxnRequest } from '../mvcc/types.js';
import type { KeyAccess } from './permissions.js';

/** Keys attached to a lease (none for an unknown lease). */
export type LeaseKeys = (leaseId: bigint) => Buffer[];

export function rangeAccess(request: RangeRequest): KeyAccess[] {
  return [{ access: 'read', key: request.key, rangeEnd: request.rangeEnd }];
}

export function putAccess(request: PutRequest, leaseKeys: LeaseKeys): KeyAccess[] {
  const out: KeyAccess[] = [{ access: 'write', key: request.key, rangeEnd: Buffer.alloc(0) }];
  if (request.prevKv) out.push({ access: 'read', key: request.key, rangeEnd: Buffer.alloc(0) });
  // A user who could not revoke the lease (it holds keys they may not write) may not extend it either.
  if (request.lease !== 0n) out.push(...leaseRevokeAccess(leaseKeys(request.lease)));
  return out;
}

export function deleteRangeAccess(request: DeleteRangeRequest): KeyAccess[] {
  const out: KeyAccess[] = [{ access: 'write', key: request.key, rangeEnd: request.rangeEnd }];
  if (request.prevKv) out.push({ access: 'read', key: request.key, rangeEnd: request.rangeEnd });
  return out;
}

export function txnAccess(request: TxnRequest, leaseKeys: LeaseKeys): KeyAccess[] {
  const out: KeyAccess[] = request.compare.map((c) => ({ access: 'read' as const, key: c.key, rangeEnd: c.rangeEnd }));
  for (const op of [...request.success, ...request.failure]) {
    if ('range' in op) out.push(...rangeAccess(op.range));
    else if ('put' in op) out.push(...putAccess(op.put, leaseKeys));
    else if ('deleteRange' in op) out.push(...deleteRangeAccess(op.deleteRange));
    else out.push(...txnAccess(op.txn, leaseKeys));
  }
  return out;
}

export function leaseRevokeAccess(attachedKeys: Buffer[]): KeyAccess[] {
  return attachedKeys.map((key) => ({ access: 'write' as const, key, rangeEnd: Buffer.alloc(0) }));
}

/** The parts of a logged request that the auth check looks at (a structural view of InternalRequest). */
export interface CheckedRequest {
  put?: PutRequest;
  deleteRange?: DeleteRangeRequest;
  txn?: TxnRequest;
  leaseRevoke?: { id: bigint };
  compaction?: unknown;
  alarm?: unknown;
  authManagement?: unknown;
}

export interface RequiredAccess {
  admin: boolean;
  keys: KeyAccess[];
}

export function requiredAccess(request: CheckedRequest, leaseKeys: LeaseKeys): RequiredAccess {
  if (request.put) return { admin: false, keys: putAccess(request.put, leaseKeys) };
  if (request.deleteRange) return { admin: false, keys: deleteRangeAccess(request.deleteRange) };
  if (request.txn) return { admin: false, keys: txnAccess(request.txn, leaseKeys) };
  if (request.leaseRevoke) return { admin: false, keys: leaseRevokeAccess(leaseKeys(request.leaseRevoke.id)) };
  if (request.compaction || request.alarm || request.authManagement) return { admin: true, keys: [] };
  return { admin: false, keys: [] };
}
