// The Lock service's logic (etcd's v3lock over clientv3/concurrency.Mutex): a waiter enters the
// queue by creating `name/hex(lease)` bound to its lease, and holds the lock once every key under
// `name/` created before it is gone. Any client following etcd's layout (etcdctl lock, Go's
// concurrency.Mutex) queues in the same order, so they exclude each other. Releasing is deleting the
// key; so is the lease expiring. A caller that goes away while waiting takes its key out of the
// queue, as etcd's Mutex does.
import type { RequestContext, ResponseHeader } from '../server/server-api.js';
import { emptyRangeRequest } from '../mvcc/types.js';
import { ConcurrencyError } from './errors.js';
import { firstCreatedRequest, waiterKey, waiterPrefix } from './keys.js';
import { sessionLease, type ConcurrencyServer } from './session.js';
import { createRevisionIs, getOp, onlyKv, putOp, rangeResponseAt } from './txn-ops.js';
import { waitDeletes } from './wait-deletes.js';

export interface LockResult {
  header: ResponseHeader;
  /** The key that holds the lock; Unlock takes it back. */
  key: Buffer;
}

export class ServerLocks {
  constructor(private readonly server: ConcurrencyServer) {}

  /** Resolves once the lock is held; rejects with ConcurrencyError('Canceled') when `signal` aborts first. */
  async lock(name: Buffer, requestLease: bigint, signal: AbortSignal, ctx?: RequestContext): Promise<LockResult> {
    const lease = await sessionLease(this.server, requestLease, ctx);
    const prefix = waiterPrefix(name);
    const key = waiterKey(prefix, lease);
    const holder = firstCreatedRequest(prefix);
    // A session that already waits or holds keeps its place: the key is reused, not recreated.
    const { header, result } = await this.server.txn({
      compare: [createRevisionIs(key, 0)],
      success: [putOp(key, Buffer.alloc(0), lease), { range: holder }],
      failure: [getOp(key), { range: holder }],
    }, ctx);
    const myRevision = result.succeeded ? header.revision : onlyKv(rangeResponseAt(result, 0)).createRevision;
    const first = rangeResponseAt(result, 1).kvs[0];
    if (first === undefined || first.createRevision === myRevision) return { header, key };

    let mine: Awaited<ReturnType<ConcurrencyServer['range']>>;
    try {
      await waitDeletes(this.server, prefix, myRevision - 1, signal, ctx);
      mine = await this.server.range(emptyRangeRequest(key), ctx);
    } catch (error) {
      await this.removeQuietly(key, ctx);
      throw error;
    }
    // Our turn came, but our own key may have gone with its lease while we waited.
    if (mine.result.kvs.length === 0) throw new ConcurrencyError('SessionExpired');
    return { header: mine.header, key };
  }

  async unlock(key: Buffer, ctx?: RequestContext): Promise<{ header: ResponseHeader }> {
    const { header } = await this.server.deleteRange({ key, rangeEnd: Buffer.alloc(0), prevKv: false }, ctx);
    return { header };
  }

  /** Best effort: the caller is already failing, and an expiring lease removes the key anyway. */
  private async removeQuietly(key: Buffer, ctx?: RequestContext): Promise<void> {
    try {
      await this.unlock(key, ctx);
    } catch {
      // Nothing more to do: the original error is what the caller must see.
    }
  }
}
