// Waiting for one's turn: every key under the prefix created before ours must be deleted. We
// watch the newest of them until it is deleted, then look again, as etcd does; waiting on that one
// key (not the whole prefix) means a release wakes only the next waiter, not all of them.
import { EventType, emptyRangeRequest } from '../mvcc/types.js';
import type { RequestContext, ResponseHeader } from '../server/server-api.js';
import { KeyWatch } from './key-watch.js';
import { lastCreatedBeforeRequest } from './keys.js';
import { throwIfAborted, type ConcurrencyServer } from './session.js';

/** Resolves with the header of the read that found no older key left. */
export async function waitDeletes(
  server: ConcurrencyServer, prefix: Buffer, maxCreateRevision: number, signal: AbortSignal, ctx?: RequestContext,
): Promise<ResponseHeader> {
  if (!(maxCreateRevision > 0)) throw new Error(`waitDeletes: maxCreateRevision must be positive, got ${maxCreateRevision}`);
  for (;;) {
    throwIfAborted(signal);
    const { header, result } = await server.range(lastCreatedBeforeRequest(prefix, maxCreateRevision), ctx);
    const newestOlder = result.kvs[0];
    if (newestOlder === undefined) return header;
    await waitDelete(server, newestOlder.key, header.revision, signal, ctx);
  }
}

async function waitDelete(
  server: ConcurrencyServer, key: Buffer, fromRevision: number, signal: AbortSignal, ctx?: RequestContext,
): Promise<void> {
  const watch = new KeyWatch(server, { key, rangeEnd: emptyRangeRequest(key).rangeEnd, startRevision: fromRevision, signal, ctx });
  try {
    for (;;) {
      const response = await watch.next();
      if (response.events.some((event) => event.type === EventType.DELETE)) return;
    }
  } finally {
    watch.close();
  }
}
