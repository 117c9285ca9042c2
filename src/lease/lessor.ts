// Lessor owns the leases: their granted TTLs, checkpointed remaining TTLs (durable, under
// `prefix.lease`), the keys attached to each (in memory, rebuilt by mvcc on open) and, on the leader
// only, the expiry deadlines.
//
// Two kinds of methods, never mixed:
// - apply methods (grant, revoke, checkpoint, attach, detach) run in log order on every member. They
//   read no clock, and put their durable changes into the caller's batch.
// - leader methods (promote, demote, renew, expiredLeases, checkpointsDue, timeToLive) read the
//   injected monotonic clock. Expiry is only *reported* (expiredLeases); the server proposes the
//   revoke, and the lease goes away when that revoke is applied.
//
// A lease granted while leading gets its deadline at the leader's next clock read (any leader
// method), so apply stays clock-free; that delay can only lengthen a lease by one polling interval.
// Imports: storage (batch ops, keys), errors.
import { EtcdError } from '../errors.js';
import type { Backend, BatchOp } from '../storage/backend.js';
import { prefix, prefixEnd } from '../storage/keys.js';
import { DeadlineHeap } from './deadline-heap.js';
import { decodeLease, encodeLease, leaseKey } from './lease-codec.js';
import type { LeaseAttachments, LeaseCheckpoint, MonotonicClock } from './types.js';

/** etcd's MaxLeaseTTL. */
export const leaseTtlSecondsMax = 9_000_000_000;

export interface LessorOptions {
  /** etcd: ceil(1.5 × election timeout), at least 1 s. */
  minTtlSeconds: number;
  clock: MonotonicClock;
  /** Grants beyond this many live leases fail with TooManyRequests. */
  leaseCountMax?: number;
  /** How often the leader records each long lease's remaining TTL (etcd: 5 min). */
  checkpointIntervalMs?: number;
  /** An expired lease is reported again after this long if its revoke has not been applied (etcd: 3 s). */
  expiredRetryIntervalMs?: number;
}

export interface LeaseTimeToLive {
  /** Remaining seconds, truncated like etcd's `int64(Remaining().Seconds())`. */
  ttlSeconds: number;
  grantedTtlSeconds: number;
  keys: Buffer[];
}

interface Lease {
  readonly id: bigint;
  readonly ttlSeconds: number;
  /** Durable: the last checkpointed remaining TTL; 0 = none. */
  remainingTtlSeconds: number;
  /** Attached keys by their latin1 form (a lossless byte-to-char mapping). */
  readonly keys: Map<string, Buffer>;
  // Leader-only state below; undefined on followers and for grants awaiting their first clock read.
  deadlineMs: number | undefined;
  /** The heap key currently valid for this lease: the deadline, or a retry time once reported. */
  dueMs: number | undefined;
  lastCheckpointMs: number;
  /** Renewed after a checkpoint: the recorded remaining TTL is stale and must be cleared. */
  checkpointClearDue: boolean;
}

const LEASE_COUNT_MAX_DEFAULT = 1_000_000;
const CHECKPOINT_INTERVAL_MS_DEFAULT = 5 * 60 * 1000;
const EXPIRED_RETRY_INTERVAL_MS_DEFAULT = 3000;
/** Stale heap entries (left by renewals) allowed beyond the live lease count before a rebuild. */
const deadlineHeapSlackMax = 4096;

export class Lessor implements LeaseAttachments {
  readonly minTtlSeconds: number;
  readonly leaseCountMax: number;
  private readonly clock: MonotonicClock;
  private readonly checkpointIntervalMs: number;
  private readonly expiredRetryIntervalMs: number;
  private readonly leaseById = new Map<bigint, Lease>();
  private primary = false;
  private readonly deadlines = new DeadlineHeap();
  /** Granted while leading, deadline not yet started. Bounded by the lease count. */
  private awaitingDeadline: bigint[] = [];

  constructor(options: LessorOptions) {
    if (!Number.isInteger(options.minTtlSeconds) || options.minTtlSeconds < 1) {
      throw new Error(`Lessor: minTtlSeconds must be a positive integer, got ${options.minTtlSeconds}`);
    }
    this.minTtlSeconds = options.minTtlSeconds;
    this.clock = options.clock;
    this.leaseCountMax = options.leaseCountMax ?? LEASE_COUNT_MAX_DEFAULT;
    this.checkpointIntervalMs = options.checkpointIntervalMs ?? CHECKPOINT_INTERVAL_MS_DEFAULT;
    this.expiredRetryIntervalMs = options.expiredRetryIntervalMs ?? EXPIRED_RETRY_INTERVAL_MS_DEFAULT;
  }

  /** Restores leases with their TTLs and checkpoints; mvcc re-attaches keys when it opens. */
  static async load(backend: Backend, options: LessorOptions): Promise<Lessor> {
    const lessor = new Lessor(options);
    for (const [key, value] of await backend.readAll(prefix.lease, prefixEnd(prefix.lease))) {
      const stored = decodeLease(key, value);
      lessor.leaseById.set(stored.id, newLease(stored.id, stored.ttlSeconds, stored.remainingTtlSeconds));
    }
    return lessor;
  }

  // ---- apply methods: deterministic, no clock ----

  /** The checks grant makes, for the server to run before proposing. Returns the TTL that will be granted. */
  checkGrant(id: bigint, ttlSeconds: number): number {
    if (id === 0n) throw new EtcdError('LeaseNotFound');
    if (ttlSeconds > leaseTtlSecondsMax) throw new EtcdError('LeaseTTLTooLarge');
    if (this.leaseById.has(id)) throw new EtcdError('LeaseExist');
    if (this.leaseById.size >= this.leaseCountMax) throw new EtcdError('TooManyRequests');
    return Math.max(Math.trunc(ttlSeconds), this.minTtlSeconds);
  }

  grant(id: bigint, ttlSeconds: number, batch: BatchOp[]): { id: bigint; ttlSeconds: number } {
    const grantedTtlSeconds = this.checkGrant(id, ttlSeconds);
    const lease = newLease(id, grantedTtlSeconds, 0);
    this.leaseById.set(id, lease);
    batch.push({ type: 'put', key: leaseKey(id), value: encodeLease(lease) });
    if (this.primary) this.awaitingDeadline.push(id);
    return { id, ttlSeconds: grantedTtlSeconds };
  }

  /** Removes the lease; returns its keys, sorted so that every member deletes them in the same order. */
  revoke(id: bigint, batch: BatchOp[]): Buffer[] {
    const lease = this.leaseById.get(id);
    if (lease === undefined) throw new EtcdError('LeaseNotFound');
    this.leaseById.delete(id);
    batch.push({ type: 'del', key: leaseKey(id) });
    return [...lease.keys.values()].sort(Buffer.compare);
  }

  /** Records the leader's view of a lease's remaining TTL; a later leader starts from it. Unknown ids are ignored, as in etcd. */
  checkpoint(id: bigint, remainingTtlSeconds: number, batch: BatchOp[]): void {
    if (!Number.isInteger(remainingTtlSeconds) || remainingTtlSeconds < 0) {
      throw new Error(`Lessor.checkpoint: bad remaining TTL ${remainingTtlSeconds} for lease ${id}`);
    }
    const lease = this.leaseById.get(id);
    if (lease === undefined) return;
    lease.remainingTtlSeconds = remainingTtlSeconds;
    batch.push({ type: 'put', key: leaseKey(id), value: encodeLease(lease) });
  }

  exists(id: bigint): boolean {
    return this.leaseById.has(id);
  }

  attach(id: bigint, key: Buffer): void {
    const lease = this.leaseById.get(id);
    if (lease === undefined) throw new EtcdError('LeaseNotFound');
    lease.keys.set(key.toString('latin1'), key);
  }

  detach(id: bigint, key: Buffer): void {
    this.leaseById.get(id)?.keys.delete(key.toString('latin1'));
  }

  leases(): bigint[] {
    return [...this.leaseById.keys()];
  }

  // ---- leader methods: read the clock ----

  get isPrimary(): boolean {
    return this.primary;
  }

  /** This member became leader: every deadline starts now, plus `extendMs` (time for clients to find the new leader). */
  promote(extendMs: number): void {
    const nowMs = this.clock.nowMs();
    this.primary = true;
    this.awaitingDeadline = [];
    const entries = [];
    for (const lease of this.leaseById.values()) {
      const ttlSeconds = lease.remainingTtlSeconds > 0 ? lease.remainingTtlSeconds : lease.ttlSeconds;
      lease.deadlineMs = nowMs + extendMs + ttlSeconds * 1000;
      lease.dueMs = lease.deadlineMs;
      lease.lastCheckpointMs = nowMs;
      lease.checkpointClearDue = false;
      entries.push({ id: lease.id, deadlineMs: lease.deadlineMs });
    }
    this.deadlines.rebuild(entries);
  }

  demote(): void {
    this.primary = false;
    this.awaitingDeadline = [];
    this.deadlines.clear();
    for (const lease of this.leaseById.values()) {
      lease.deadlineMs = undefined;
      lease.dueMs = undefined;
      lease.checkpointClearDue = false;
    }
  }

  /** A keep-alive: restarts the lease's full TTL. Throws LeaseNotFound if unknown or expired, NotLeader if not leading. */
  renew(id: bigint): number {
    if (!this.primary) throw new EtcdError('NotLeader');
    const nowMs = this.clock.nowMs();
    this.startAwaitingDeadlines(nowMs);
    const lease = this.leaseById.get(id);
    if (lease === undefined) throw new EtcdError('LeaseNotFound');
    if (lease.deadlineMs !== undefined && lease.deadlineMs <= nowMs) throw new EtcdError('LeaseNotFound');
    this.setDeadline(lease, nowMs + lease.ttlSeconds * 1000);
    lease.lastCheckpointMs = nowMs;
    if (lease.remainingTtlSeconds > 0) lease.checkpointClearDue = true;
    return lease.ttlSeconds;
  }

  timeToLive(id: bigint): LeaseTimeToLive | undefined {
    const lease = this.leaseById.get(id);
    if (lease === undefined) return undefined;
    let ttlSeconds = lease.remainingTtlSeconds > 0 ? lease.remainingTtlSeconds : lease.ttlSeconds;
    if (this.primary) {
      const nowMs = this.clock.nowMs();
      this.startAwaitingDeadlines(nowMs);
      if (lease.deadlineMs !== undefined) ttlSeconds = Math.max(0, Math.trunc((lease.deadlineMs - nowMs) / 1000));
    }
    return {
      ttlSeconds,
      grantedTtlSeconds: lease.ttlSeconds,
      keys: [...lease.keys.values()].sort(Buffer.compare),
    };
  }

  /**
   * Leader only: up to `maxCount` leases past their deadline, for the server to propose revokes.
   * A reported lease is reported again after the retry interval if its revoke has not been applied.
   */
  expiredLeases(maxCount: number): bigint[] {
    if (!this.primary) return [];
    const nowMs = this.clock.nowMs();
    this.startAwaitingDeadlines(nowMs);
    const expired: bigint[] = [];
    while (expired.length < maxCount) {
      const top = this.deadlines.peek();
      if (top === undefined || top.deadlineMs > nowMs) break;
      this.deadlines.pop();
      const lease = this.leaseById.get(top.id);
      if (lease === undefined || lease.dueMs !== top.deadlineMs) continue; // revoked or renewed since
      expired.push(lease.id);
      lease.dueMs = nowMs + this.expiredRetryIntervalMs;
      this.deadlines.push({ id: lease.id, deadlineMs: lease.dueMs });
    }
    return expired;
  }

  /**
   * Leader only: remaining TTLs worth recording through the log, so that a new leader does not give
   * every lease a fresh full TTL (etcd issue 9888): leases renewed since their last checkpoint (cleared
   * with 0), and leases longer than the checkpoint interval whose last record is that old.
   * The caller proposes them as one leaseCheckpoint request.
   */
  checkpointsDue(maxCount: number): LeaseCheckpoint[] {
    if (!this.primary) return [];
    const nowMs = this.clock.nowMs();
    this.startAwaitingDeadlines(nowMs);
    const due: LeaseCheckpoint[] = [];
    for (const lease of this.leaseById.values()) {
      if (due.length >= maxCount) break;
      if (lease.deadlineMs === undefined) continue;
      if (lease.checkpointClearDue) {
        lease.checkpointClearDue = false;
        due.push({ id: lease.id, remainingTtlSeconds: 0 });
        continue;
      }
      const remainingMs = lease.deadlineMs - nowMs;
      if (lease.ttlSeconds * 1000 <= this.checkpointIntervalMs) continue;
      if (nowMs - lease.lastCheckpointMs < this.checkpointIntervalMs || remainingMs <= 0) continue;
      lease.lastCheckpointMs = nowMs;
      due.push({ id: lease.id, remainingTtlSeconds: Math.ceil(remainingMs / 1000) });
    }
    return due;
  }

  private startAwaitingDeadlines(nowMs: number): void {
    if (this.awaitingDeadline.length === 0) return;
    for (const id of this.awaitingDeadline) {
      const lease = this.leaseById.get(id);
      if (lease === undefined || lease.deadlineMs !== undefined) continue;
      lease.lastCheckpointMs = nowMs;
      this.setDeadline(lease, nowMs + lease.ttlSeconds * 1000);
    }
    this.awaitingDeadline = [];
  }

  private setDeadline(lease: Lease, deadlineMs: number): void {
    lease.deadlineMs = deadlineMs;
    lease.dueMs = deadlineMs;
    this.deadlines.push({ id: lease.id, deadlineMs });
    if (this.deadlines.size > this.leaseById.size + deadlineHeapSlackMax) this.rebuildDeadlines();
  }

  private rebuildDeadlines(): void {
    const entries = [];
    for (const lease of this.leaseById.values()) {
      if (lease.dueMs !== undefined) entries.push({ id: lease.id, deadlineMs: lease.dueMs });
    }
    this.deadlines.rebuild(entries);
  }
}

function newLease(id: bigint, ttlSeconds: number, remainingTtlSeconds: number): Lease {
  return {
    id, ttlSeconds, remainingTtlSeconds, keys: new Map(),
    deadlineMs: undefined, dueMs: undefined, lastCheckpointMs: 0, checkpointClearDue: false,
  };
}
