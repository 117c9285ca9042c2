// What the lock and election services need from the server, and the session lease rule they share.
// etcd's server-side wrappers open a clientv3 concurrency session for each request with the
// request's lease: lease 0 makes the session grant a fresh lease of the session's default TTL (and
// the wrapper orphans it at once, so nobody keeps it alive); any other id is used as given, and an
// unknown one surfaces later as the put's "requested lease not found".
import type { EtcdServerApi, RequestContext } from '../server/server-api.js';
import { abortError } from './errors.js';

export type ConcurrencyServer = Pick<
  EtcdServerApi, 'range' | 'txn' | 'deleteRange' | 'leaseGrant' | 'openWatchStream' | 'responseHeader'
>;

/** concurrency.NewSession's default TTL, used when a request names no lease. */
export const sessionTtlSeconds = 60;

export async function sessionLease(server: ConcurrencyServer, lease: bigint, ctx?: RequestContext): Promise<bigint> {
  if (lease !== 0n) return lease;
  const granted = await server.leaseGrant(sessionTtlSeconds, 0n, ctx);
  return granted.id;
}

export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortError(signal);
}
