// The Lease service of a member (leaseGrant/Revoke/KeepAlive/TimeToLive/Leases) and the leader's
// expiry loop. Only the leader tracks expiry: a follower forwards keep-alives and TTL reads to it,
// and the leader turns expired leases into proposed revokes and checkpoints remaining TTLs through
// the log, never changing state from a timer.
import type { Logger } from 'pino';
import type { AuthGate } from '../auth/auth-gate.js';
import { leaseRevokeAccess } from '../auth/request-access.js';
import type { RequestAuth } from '../auth/types.js';
import { EtcdError, isEtcdError } from '../errors.js';
import type { Lessor } from '../lease/lessor.js';
import { pickLeaseId } from '../lease/lease-id.js';
import type { InternalRequest } from './requests.js';
import type { LeaseTimeToLiveResult, RequestContext, ResponseHeader } from './server-api.js';
import type { Applied } from './wait.js';

/** What the Lease service needs of its member. */
export interface LeaseHost {
  readonly logger: Logger;
  readonly gate: AuthGate;
  /** Replaced as a whole when a snapshot is installed: always read through this. */
  lessor(): Lessor;
  isStopped(): boolean;
  isLeader(): boolean;
  propose(request: InternalRequest): Promise<Applied>;
  /** Calls `path` on the leader and returns its JSON answer, rethrowing its etcd error. */
  askLeader<T>(path: string, request: object): Promise<T>;
  /** A follower's keep-alive, renewed by the leader (batched); resolves with the TTL, 0 if unknown. */
  forwardKeepAlive(id: bigint): Promise<number>;
  /** On the leader: waits until it has applied what any member may have committed (etcd's waitAppliedIndex). */
  waitAppliedVisible(): Promise<void>;
  linearizableRead(): Promise<void>;
  header(revision?: number): ResponseHeader;
  checkRequireLeader(ctx?: RequestContext): void;
  identify(ctx?: RequestContext): RequestAuth;
  /** Refuses a write that would take the database over its quota. */
  checkQuota(costBytes: number): void;
}

const LEASE_EXPIRY_CHECK_INTERVAL_MS = 500;
const LEASE_REVOKES_PER_CHECK_MAX = 1000;
const LEASE_CHECKPOINTS_PER_PROPOSAL_MAX = 1000;

export class LeaseOperations {
  private expiryTimer?: NodeJS.Timeout;
  /** Expired leases whose revoke is proposed and not yet answered; at most LEASE_REVOKES_PER_CHECK_MAX are added per check. */
  private readonly revokesInFlight = new Set<bigint>();

  constructor(private readonly host: LeaseHost) {}

  async leaseGrant(ttlSeconds: number, id: bigint, ctx?: RequestContext): Promise<{ header: ResponseHeader; id: bigint; ttl: number }> {
    this.host.checkRequireLeader(ctx);
    this.host.identify(ctx);
    const leaseId = id === 0n ? pickLeaseId(Math.random, (candidate) => this.host.lessor().exists(candidate)) : id;
    this.host.lessor().checkGrant(leaseId, ttlSeconds);
    this.host.checkQuota(0);
    const applied = await this.host.propose({ requestId: 0, leaseGrant: { id: leaseId, ttlSeconds } });
    const granted = applied.value as { id: bigint; ttlSeconds: number };
    return { header: this.host.header(applied.revision), id: granted.id, ttl: granted.ttlSeconds };
  }

  async leaseRevoke(id: bigint, ctx?: RequestContext): Promise<{ header: ResponseHeader }> {
    this.host.checkRequireLeader(ctx);
    const auth = this.host.identify(ctx);
    this.host.gate.requireKeys(auth, () => leaseRevokeAccess(this.host.lessor().timeToLive(id)?.keys ?? []));
    const { revision } = await this.host.propose({ requestId: 0, leaseRevoke: { id }, auth });
    return { header: this.host.header(revision) };
  }

  async leaseKeepAlive(id: bigint, ctx?: RequestContext): Promise<{ header: ResponseHeader; id: bigint; ttl: number }> {
    this.host.checkRequireLeader(ctx);
    this.host.identify(ctx);
    // etcd fills the header before renewing.
    const header = this.host.header();
    if (!this.host.isLeader()) {
      // Only the leader tracks expiry: a follower forwards the keep-alive (etcd's /leases).
      return { header, id, ttl: await this.host.forwardKeepAlive(id) };
    }
    await this.host.waitAppliedVisible();
    return { header, id, ttl: this.renewOrZero(id) };
  }

  /**
   * The leader's renewal of keep-alives its followers forwarded (etcd's peer /leases): the TTL of
   * each, 0 for an unknown lease. Renewed here or nowhere: a member that is not (or no longer) the
   * leader refuses, so that they are not forwarded again.
   */
  async renewForwarded(ids: bigint[]): Promise<number[]> {
    if (!this.host.isLeader()) throw new EtcdError('NotLeader');
    await this.host.waitAppliedVisible();
    if (!this.host.isLeader()) throw new EtcdError('NotLeader');
    return ids.map((id) => this.renewOrZero(id));
  }

  /**
   * Renews on the leader, after waitAppliedVisible: a grant or revoke some member already answered
   * is applied here too (a follower that committed a grant on its own answers before this leader
   * has heard its ack; see Raft.visibleCommitIndex).
   */
  private renewOrZero(id: bigint): number {
    try {
      return this.host.lessor().renew(id);
    } catch (error) {
      if (isEtcdError(error, 'LeaseNotFound')) return 0;
      throw error;
    }
  }

  async leaseTimeToLive(id: bigint, keys: boolean, ctx?: RequestContext): Promise<LeaseTimeToLiveResult> {
    this.host.checkRequireLeader(ctx);
    this.host.identify(ctx);
    if (!this.host.isLeader()) {
      const remote = await this.host.askLeader<{ ttl: number; grantedTtl: number; keys: string[] }>('/leases/timetolive', { id: id.toString(), keys });
      return { header: this.host.header(), id, ttl: remote.ttl, grantedTtl: remote.grantedTtl, keys: remote.keys.map((k) => Buffer.from(k, 'base64')) };
    }
    await this.host.linearizableRead();
    const lease = this.host.lessor().timeToLive(id);
    if (!lease) return { header: this.host.header(), id, ttl: -1, grantedTtl: 0, keys: [] };
    return { header: this.host.header(), id, ttl: lease.ttlSeconds, grantedTtl: lease.grantedTtlSeconds, keys: keys ? lease.keys : [] };
  }

  async leaseLeases(ctx?: RequestContext): Promise<{ header: ResponseHeader; leases: bigint[] }> {
    this.host.checkRequireLeader(ctx);
    this.host.identify(ctx);
    await this.host.linearizableRead();
    return { header: this.host.header(), leases: this.host.lessor().leases() };
  }

  startExpiryLoop(): void {
    this.expiryTimer = setInterval(() => this.revokeExpiredLeases(), LEASE_EXPIRY_CHECK_INTERVAL_MS);
  }

  stopExpiryLoop(): void {
    clearInterval(this.expiryTimer);
  }

  /** The member stopped leading: the new leader proposes its own revokes. */
  onLeadershipLost(): void {
    this.revokesInFlight.clear();
  }

  /**
   * Leader only: expired leases become proposed revokes (never a state change from a timer), and
   * remaining TTLs are checkpointed through the log so that a restart or a new leader does not
   * hand every lease a fresh full TTL.
   */
  private revokeExpiredLeases(): void {
    if (!this.host.isLeader() || this.host.isStopped()) return;
    const checkpoints = this.host.lessor().checkpointsDue(LEASE_CHECKPOINTS_PER_PROPOSAL_MAX);
    if (checkpoints.length > 0) {
      this.host.propose({ requestId: 0, leaseCheckpoint: { checkpoints } })
        .catch((error) => this.host.logger.warn({ err: error }, 'lease checkpoint failed'));
    }
    for (const id of this.host.lessor().expiredLeases(LEASE_REVOKES_PER_CHECK_MAX)) {
      if (this.revokesInFlight.has(id)) continue;
      this.revokesInFlight.add(id);
      this.host.propose({ requestId: 0, leaseRevoke: { id } })
        .catch((error) => {
          if (!isEtcdError(error, 'LeaseNotFound')) this.host.logger.warn({ err: error, lease: id.toString(16) }, 'revoking an expired lease failed');
        })
        .finally(() => this.revokesInFlight.delete(id));
    }
  }
}
