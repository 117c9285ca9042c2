// The Election service's logic (etcd's v3election over clientv3/concurrency.Election), on the same
// key layout as the lock: a candidate's key is `name/hex(lease)` holding its proposal, and the
// leader is the first-created key under `name/`. A leader is named by its LeaderKey (key + create
// revision): Proclaim and Resign act only while that exact key still exists, so a leader whose
// lease expired (and who may have been replaced by a new key for the same lease) cannot act.
import { EventType, type KeyValue } from '../mvcc/types.js';
import type { RequestContext, ResponseHeader } from '../server/server-api.js';
import { ConcurrencyError, isCallerGone } from './errors.js';
import { KeyWatch } from './key-watch.js';
import { firstCreatedRequest, prefixRangeEnd, waiterKey, waiterPrefix } from './keys.js';
import { sessionLease, throwIfAborted, type ConcurrencyServer } from './session.js';
import { createRevisionIs, deleteOp, getOp, onlyKv, putOp, rangeResponseAt } from './txn-ops.js';
import { waitDeletes } from './wait-deletes.js';

export interface LeaderKey {
  name: Buffer;
  key: Buffer;
  /** Create revision of the key: which incarnation of it leads. */
  rev: number;
  lease: bigint;
}

export interface LeaderObservation {
  header: ResponseHeader;
  kv: KeyValue;
}

export class ServerElections {
  constructor(private readonly server: ConcurrencyServer) {}

  /** Resolves once this candidate leads; a caller that goes away while waiting withdraws its key. */
  async campaign(
    name: Buffer, requestLease: bigint, value: Buffer, signal: AbortSignal, ctx?: RequestContext,
  ): Promise<{ header: ResponseHeader; leader: LeaderKey }> {
    const lease = await sessionLease(this.server, requestLease, ctx);
    const prefix = waiterPrefix(name);
    const key = waiterKey(prefix, lease);
    const { header, result } = await this.server.txn({
      compare: [createRevisionIs(key, 0)],
      success: [putOp(key, value, lease)],
      failure: [getOp(key)],
    }, ctx);
    const leader: LeaderKey = { name, key, rev: header.revision, lease };
    if (!result.succeeded) {
      // Campaigning again with the same lease keeps the place in line, with the new proposal.
      const existing = onlyKv(rangeResponseAt(result, 0));
      leader.rev = existing.createRevision;
      if (!existing.value.equals(value)) {
        try {
          await this.proclaim(leader, value, ctx);
        } catch (error) {
          await this.resignQuietly(leader, ctx);
          throw error;
        }
      }
    }
    try {
      await waitDeletes(this.server, prefix, leader.rev - 1, signal, ctx);
    } catch (error) {
      // Only a caller that went away withdraws; other failures leave the key to its lease, as etcd.
      if (isCallerGone(error)) await this.resignQuietly(leader, ctx);
      throw error;
    }
    return { header, leader };
  }

  async proclaim(leader: LeaderKey | undefined, value: Buffer, ctx?: RequestContext): Promise<{ header: ResponseHeader }> {
    if (leader === undefined) throw new ConcurrencyError('MissingLeaderKey');
    const lease = await sessionLease(this.server, leader.lease, ctx);
    const { header, result } = await this.server.txn({
      compare: [createRevisionIs(leader.key, leader.rev)],
      success: [putOp(leader.key, value, lease)],
      failure: [],
    }, ctx);
    if (!result.succeeded) throw new ConcurrencyError('NotLeader');
    return { header };
  }

  async leader(name: Buffer, ctx?: RequestContext): Promise<LeaderObservation> {
    const { header, result } = await this.server.range(firstCreatedRequest(waiterPrefix(name)), ctx);
    const kv = result.kvs[0];
    if (kv === undefined) throw new ConcurrencyError('NoLeader');
    return { header, kv };
  }

  /** Deletes the leader's key if it is still that incarnation; succeeds either way, as etcd. */
  async resign(leader: LeaderKey | undefined, ctx?: RequestContext): Promise<{ header: ResponseHeader }> {
    if (leader === undefined) throw new ConcurrencyError('MissingLeaderKey');
    await sessionLease(this.server, leader.lease, ctx);
    const { header } = await this.server.txn({
      compare: [createRevisionIs(leader.key, leader.rev)],
      success: [deleteOp(leader.key)],
      failure: [],
    }, ctx);
    return { header };
  }

  /**
   * The leader now, then every change: a new proposal by the same leader, or the next leader once
   * this one's key is gone. Ends when `signal` aborts; as etcd's Observe, a failed read or watch just
   * ends the observation (the stream closes without an error).
   */
  async *observe(name: Buffer, signal: AbortSignal, ctx?: RequestContext): AsyncGenerator<LeaderObservation, void, void> {
    const prefix = waiterPrefix(name);
    try {
      for (;;) {
        throwIfAborted(signal);
        const found = await this.leaderOrNone(prefix, ctx);
        const current = found.kv !== undefined ? { header: found.header, kv: found.kv }
          : await this.firstLeader(prefix, found.header.revision, signal, ctx);
        yield current;
        const watch = new KeyWatch(this.server, {
          key: current.kv.key, rangeEnd: Buffer.alloc(0), startRevision: current.header.revision + 1, signal, ctx,
        });
        try {
          let deleted = false;
          while (!deleted) {
            const response = await watch.next();
            for (const event of response.events) {
              if (event.type === EventType.DELETE) { deleted = true; break; }
              yield { header: this.server.responseHeader(response.revision), kv: event.kv };
            }
          }
        } finally {
          watch.close();
        }
      }
    } catch (error) {
      if (isCallerGone(error)) throw error;
      // Mirrors etcd: the observation ends quietly on a read or watch failure.
    }
  }

  private async leaderOrNone(prefix: Buffer, ctx?: RequestContext): Promise<{ header: ResponseHeader; kv?: KeyValue }> {
    const { header, result } = await this.server.range(firstCreatedRequest(prefix), ctx);
    return { header, kv: result.kvs[0] };
  }

  /** Waits for the first candidate under an empty prefix; its put's revision becomes the header's. */
  private async firstLeader(prefix: Buffer, fromRevision: number, signal: AbortSignal, ctx?: RequestContext): Promise<LeaderObservation> {
    const watch = new KeyWatch(this.server, { key: prefix, rangeEnd: prefixRangeEnd(prefix), startRevision: fromRevision, signal, ctx });
    try {
      for (;;) {
        const response = await watch.next();
        const put = response.events.find((event) => event.type === EventType.PUT);
        if (put !== undefined) return { header: this.server.responseHeader(put.kv.modRevision), kv: put.kv };
      }
    } finally {
      watch.close();
    }
  }

  private async resignQuietly(leader: LeaderKey, ctx?: RequestContext): Promise<void> {
    try {
      await this.server.txn({ compare: [createRevisionIs(leader.key, leader.rev)], success: [deleteOp(leader.key)], failure: [] }, ctx);
    } catch {
      // The original error is what the caller must see; the lease removes the key in the end.
    }
  }
}
