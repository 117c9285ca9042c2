// The one writer of replicated state. Apply takes committed Raft entries in log order and changes
// mvcc, leases, alarms, membership and the auth store; it is deterministic: no clock, no randomness, no I/O other
// than the LevelDB ops it appends to the batch it is given. The applied index goes into the same
// batch, so after a crash each entry is applied exactly once (replay starts after it).
//
// A request that fails with an EtcdError (unknown lease, compacted revision...) changes nothing and
// its error is the result; any other exception is a bug that would let members diverge, so it is
// rethrown and stops the process.
import { recheckInApply } from '../auth/auth-gate.js';
import type { AuthStore } from '../auth/auth-store.js';
import { requiredAccess } from '../auth/request-access.js';
import { EtcdError, isEtcdError } from '../errors.js';
import type { Lessor } from '../lease/lessor.js';
import type { MvccStore } from '../mvcc/store.js';
import type { MvccEvent, TxnRequest } from '../mvcc/types.js';
import { decodeConfChange } from '../raft/conf-change.js';
import type { ConfChange, Entry } from '../raft/types.js';
import { ConfChangeType, EntryType } from '../raft/types.js';
import { decodeConfChangeContext } from './conf-change-context.js';
import type { BatchOp } from '../storage/backend.js';
import { prefix } from '../storage/keys.js';
import type { AlarmStore } from './alarms.js';
import type { Membership } from './membership.js';
import { writeUint64BE } from './raft-log-store.js';
import { decodeInternalRequest } from './request-codec.js';
import type { InternalRequest } from './requests.js';
import { AlarmType, type Member } from './server-api.js';

export const APPLIED_INDEX_KEY = Buffer.concat([prefix.server, Buffer.from('applied-index')]);

/** `revision`: the store's revision right after this request, which etcd reports in its header. */
export type ApplyOutcome = { ok: true; value: unknown; revision: number } | { ok: false; error: EtcdError };

/** The outcome of one of this member's own proposals (its request id: request-ids.ts). */
export interface AppliedRequest {
  requestId: number;
  outcome: ApplyOutcome;
}

export interface ApplyListener {
  /** Events of one write revision, in order; called once per revision that changed keys. */
  onEvents(revision: number, events: MvccEvent[]): void;
  /** Applies a membership change to the Raft core (which then counts the new configuration). */
  applyRaftConfChange(cc: ConfChange): void;
  /** After a membership change was applied: the transport learns of the new, changed or removed peer. */
  onMembershipChanged(cc: ConfChange, member: Member): void;
}

/** --warning-apply-duration: requests that take longer to apply than `thresholdMs` are reported. */
export interface SlowApplyReport {
  thresholdMs: number;
  report(request: InternalRequest, tookMs: number, outcome: ApplyOutcome): void;
}

export interface ApplyDependencies {
  mvcc: MvccStore;
  lessor: Lessor;
  alarms: AlarmStore;
  membership: Membership;
  auth: AuthStore;
  listener: ApplyListener;
}

export function encodeAppliedIndex(index: number): Buffer {
  const out = Buffer.allocUnsafe(8);
  writeUint64BE(out, 0, index);
  return out;
}

export class Applier {
  /**
   * `requestOrigin`: this member's (request-ids.ts). Only its own proposals' outcomes are reported:
   * nobody here waits for another member's.
   */
  constructor(
    private deps: ApplyDependencies, public appliedIndex: number, private readonly requestOrigin: number,
    private readonly slowApply?: SlowApplyReport,
  ) {}

  /** After a snapshot install: apply continues on the installed state, from its applied index. */
  replaceState(state: Omit<ApplyDependencies, 'listener'>, appliedIndex: number): void {
    this.deps = { ...state, listener: this.deps.listener };
    this.appliedIndex = appliedIndex;
  }

  /**
   * Applies entries (which must follow appliedIndex without a gap) and records the new applied
   * index. Synchronous unless a txn is among them: its reads of old revisions come from disk first
   * (mvcc.prefetchTxn), and the entries after it wait for them. A promise and an async frame per
   * Raft cycle were ~1 KB of garbage per put at one client.
   */
  applyEntries(entries: Entry[], batch: BatchOp[]): AppliedRequest[] | Promise<AppliedRequest[]> {
    return this.applyFrom(entries, 0, batch, []);
  }

  private applyFrom(entries: Entry[], start: number, batch: BatchOp[], results: AppliedRequest[]): AppliedRequest[] | Promise<AppliedRequest[]> {
    for (let i = start; i < entries.length; i++) {
      const entry = entries[i]!;
      if (entry.index <= this.appliedIndex) {
        // Already part of the state: an installed snapshot can be ahead of Raft's own snapshot
        // index. Its membership is in the state, but Raft's configuration still has to see the
        // conf changes in between (on a restart Raft never hands out entries below applied).
        if (entry.type === EntryType.ConfChange) {
          const cc = decodeConfChange(entry.data);
          if (cc.context.length > 0 && this.deps.membership.agreesWith(cc)) this.deps.listener.applyRaftConfChange(cc);
        }
        continue;
      }
      if (entry.index !== this.appliedIndex + 1) {
        throw new Error(`apply gap: applied ${this.appliedIndex}, next entry ${entry.index}`);
      }
      if (entry.type === EntryType.ConfChange) {
        const applied = this.applyConfChange(entry, batch);
        if (applied) results.push(applied);
      } else if (entry.data.length > 0) {
        // An empty normal entry is the new leader's no-op: nothing to apply.
        const request = decodeInternalRequest(entry.data);
        if (request.txn) {
          return this.deps.mvcc.prefetchTxn(request.txn).then((prefetch) => {
            this.applyNormal(request, batch, results, prefetch);
            this.appliedIndex = entry.index;
            return this.applyFrom(entries, i + 1, batch, results);
          });
        }
        this.applyNormal(request, batch, results, undefined);
      }
      this.appliedIndex = entry.index;
    }
    if (entries.length > 0) batch.push({ type: 'put', key: APPLIED_INDEX_KEY, value: encodeAppliedIndex(this.appliedIndex) });
    return results;
  }

  private applyNormal(request: InternalRequest, batch: BatchOp[], results: AppliedRequest[], prefetch: unknown): void {
    const startedMs = this.slowApply === undefined ? 0 : performance.now();
    const outcome = this.applyRequest(request, batch, prefetch);
    if (this.slowApply !== undefined) {
      const tookMs = performance.now() - startedMs;
      if (tookMs > this.slowApply.thresholdMs) this.slowApply.report(request, tookMs, outcome);
    }
    if (request.requestId !== 0 && request.requestOrigin === this.requestOrigin) results.push({ requestId: request.requestId, outcome });
  }

  /**
   * A membership change. It is checked again here, against the membership as of this entry, so every
   * member takes the same decision; a refused change is not applied to Raft either.
   */
  private applyConfChange(entry: Entry, batch: BatchOp[]): AppliedRequest | undefined {
    const cc = decodeConfChange(entry.data);
    if (cc.context.length === 0) return undefined; // A conf change raft emptied (a second pending one).
    const { requestId, requestOrigin, member } = decodeConfChangeContext(cc.context);
    const { membership, listener } = this.deps;
    const settle = (outcome: ApplyOutcome): AppliedRequest | undefined =>
      (requestId === 0 || requestOrigin !== this.requestOrigin ? undefined : { requestId, outcome });
    try {
      const existing = membership.get(cc.nodeId);
      switch (cc.type) {
        case ConfChangeType.AddNode:
        case ConfChangeType.AddLearnerNode:
          if (cc.type === ConfChangeType.AddNode && existing?.isLearner) break; // a promotion
          if (membership.isRemoved(cc.nodeId)) throw new EtcdError('MemberNotFound');
          if (existing) throw new EtcdError('MemberExist');
          for (const url of member.peerUrls) {
            if (membership.list().some((m) => m.peerUrls.includes(url))) throw new EtcdError('PeerURLExist');
          }
          break;
        case ConfChangeType.RemoveNode:
        case ConfChangeType.UpdateNode:
          if (!existing) throw new EtcdError('MemberNotFound');
          break;
        default:
          throw new Error(`apply: unknown conf change type ${cc.type}`);
      }
    } catch (error) {
      if (isEtcdError(error)) return settle({ ok: false, error });
      throw error;
    }
    listener.applyRaftConfChange(cc);
    switch (cc.type) {
      case ConfChangeType.AddNode:
        if (membership.get(cc.nodeId)?.isLearner) membership.promote(cc.nodeId, batch);
        else membership.add({ ...member, isLearner: false }, batch);
        break;
      case ConfChangeType.AddLearnerNode:
        membership.add({ ...member, isLearner: true }, batch);
        break;
      case ConfChangeType.RemoveNode:
        membership.remove(cc.nodeId, batch);
        break;
      case ConfChangeType.UpdateNode:
        membership.updatePeerUrls(cc.nodeId, member.peerUrls, batch);
        break;
    }
    listener.onMembershipChanged(cc, membership.get(cc.nodeId) ?? member);
    return settle({ ok: true, value: membership.list(), revision: this.deps.mvcc.currentRevision });
  }

  private applyRequest(request: InternalRequest, batch: BatchOp[], prefetch: unknown): ApplyOutcome {
    try {
      if (request.auth) {
        const { lessor } = this.deps;
        recheckInApply(this.deps.auth, request.auth, () => requiredAccess(request, (id) => lessor.timeToLive(id)?.keys ?? []));
      }
      const value = this.dispatch(request, batch, prefetch);
      return { ok: true, value, revision: this.deps.mvcc.currentRevision };
    } catch (error) {
      if (isEtcdError(error)) return { ok: false, error };
      throw error;
    }
  }

  private dispatch(request: InternalRequest, batch: BatchOp[], prefetch: unknown): unknown {
    const { mvcc, lessor, alarms, membership } = this.deps;
    if (request.put) {
      this.checkSpace();
      const { result, events } = mvcc.put(request.put, batch);
      this.emit(events);
      return result;
    }
    if (request.deleteRange) {
      const { result, events } = mvcc.deleteRange(request.deleteRange, batch);
      this.emit(events);
      return result;
    }
    if (request.txn) {
      if (txnHasPuts(request.txn)) this.checkSpace();
      const { result, events } = mvcc.txn(request.txn, prefetch as never, batch);
      this.emit(events);
      return result;
    }
    if (request.compaction) {
      // compact() validates (Compacted / FutureRev) before it changes anything.
      const physicalDone = mvcc.compact(request.compaction.revision, batch);
      // The purge runs in the background; a failure there is logged by whoever awaits it.
      physicalDone.catch(() => undefined);
      return { physicalDone };
    }
    if (request.leaseGrant) {
      this.checkSpace();
      return lessor.grant(request.leaseGrant.id, request.leaseGrant.ttlSeconds, batch);
    }
    if (request.leaseRevoke) {
      const keys = lessor.revoke(request.leaseRevoke.id, batch);
      if (keys.length > 0) this.emit(mvcc.deleteKeys(keys, batch));
      return {};
    }
    if (request.leaseCheckpoint) {
      for (const { id, remainingTtlSeconds } of request.leaseCheckpoint.checkpoints) {
        lessor.checkpoint(id, remainingTtlSeconds, batch);
      }
      return {};
    }
    if (request.alarm) {
      return alarms.apply(request.alarm.action, request.alarm.memberId, request.alarm.alarm, batch);
    }
    if (request.memberAttributes) {
      const { memberId, name, clientUrls } = request.memberAttributes;
      membership.setAttributes(memberId, name, clientUrls, batch);
      return {};
    }
    if (request.authManagement) {
      return this.deps.auth.apply(request.authManagement, batch);
    }
    throw new Error('apply: internal request with no operation');
  }

  private checkSpace(): void {
    if (this.deps.alarms.has(AlarmType.CORRUPT)) throw new EtcdError('Corrupt');
    if (this.deps.alarms.has(AlarmType.NOSPACE)) throw new EtcdError('NoSpace');
  }

  private emit(events: MvccEvent[]): void {
    if (events.length === 0) return;
    // The write's revision is the store's now: reading it off an event would decode the event's
    // key-value, which mvcc leaves to whoever reads it (StoredPutEvent).
    this.deps.listener.onEvents(this.deps.mvcc.currentRevision, events);
  }
}

// Deletes free space, so under NOSPACE etcd still accepts a txn that only deletes.
function txnHasPuts(txn: TxnRequest): boolean {
  const ops = [...txn.success, ...txn.failure];
  return ops.some((op) => 'put' in op || ('txn' in op && txnHasPuts(op.txn)));
}
