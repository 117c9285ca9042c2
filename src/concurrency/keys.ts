// etcd's key layout for locks and elections, shared with every client-side implementation (Go's
// clientv3/concurrency, etcdctl lock/elect): a waiter under name N holding lease L owns the key
// `N/` + L in lowercase hex (Go's %x, so a negative id keeps its sign), and waiters are served in
// the order their keys were created. Also the two range shapes the algorithms need.
import { emptyRangeRequest, SortOrder, SortTarget, type RangeRequest } from '../mvcc/types.js';

export function waiterPrefix(name: Buffer): Buffer {
  return Buffer.concat([name, Buffer.from('/')]);
}

export function leaseHex(lease: bigint): string {
  return lease < 0n ? `-${(-lease).toString(16)}` : lease.toString(16);
}

export function waiterKey(prefix: Buffer, lease: bigint): Buffer {
  return Buffer.concat([prefix, Buffer.from(leaseHex(lease))]);
}

/** The end of the range holding every key that starts with `prefix` (etcd's prefix rule). */
export function prefixRangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  // Every byte is 0xff: no key above the prefix bounds it, so the range runs to the end.
  return Buffer.from([0]);
}

/** The first-created key under the prefix: the lock holder or the election leader. */
export function firstCreatedRequest(prefix: Buffer): RangeRequest {
  return {
    ...emptyRangeRequest(prefix, prefixRangeEnd(prefix)),
    sortTarget: SortTarget.CREATE, sortOrder: SortOrder.ASCEND, limit: 1,
  };
}

/** The last-created key under the prefix created at or before `maxCreateRevision`: who we wait on. */
export function lastCreatedBeforeRequest(prefix: Buffer, maxCreateRevision: number): RangeRequest {
  return {
    ...emptyRangeRequest(prefix, prefixRangeEnd(prefix)),
    sortTarget: SortTarget.CREATE, sortOrder: SortOrder.DESCEND, limit: 1, maxCreateRevision,
  };
}
