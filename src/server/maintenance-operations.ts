// The Maintenance service of a member (status, hash, hashKv, alarm, defragment, snapshot,
// moveLeader) and the leader's hand-over of leadership when it stops. All of it is admin-only
// when auth is on; alarms go through the log, the rest reads or acts on this member alone.
import type { Logger } from 'pino';
import type { RequestAuth } from '../auth/types.js';
import { EtcdError } from '../errors.js';
import type { MvccStore } from '../mvcc/store.js';
import type { RaftStatus } from '../raft/raw-node.js';
import type { Backend } from '../storage/backend.js';
import { prefix } from '../storage/keys.js';
import type { AlarmStore } from './alarms.js';
import { streamBackendSnapshot } from './backend-snapshot.js';
import type { DbSizeMeter } from './db-size.js';
import type { Membership } from './membership.js';
import { zlib } from './node-zlib.js';
import type { InternalRequest } from './requests.js';
import { AlarmType, type AlarmMember, type RequestContext, type ResponseHeader, type StatusResult } from './server-api.js';
import type { Applied } from './wait.js';

/** What the Maintenance service needs of its member. */
export interface MaintenanceHost {
  readonly memberId: bigint;
  readonly logger: Logger;
  readonly config: { etcdVersion: string; electionTimeoutMs: number };
  readonly backend: Backend;
  /** Scratch space for the snapshot stream. */
  readonly memberDir: string;
  readonly dbSize: DbSizeMeter;
  readonly requestTimeoutMs: number;
  // Replaced as a whole when a snapshot is installed: always read through these.
  membership(): Membership;
  mvcc(): MvccStore;
  alarms(): AlarmStore;
  /** The leader this member knows of; 0n for none. */
  leaderId(): bigint;
  appliedIndex(): number;
  raftStatus(): RaftStatus;
  transferLeader(targetId: bigint): void;
  isLeader(): boolean;
  propose(request: InternalRequest): Promise<Applied>;
  header(revision?: number): ResponseHeader;
  requireAdmin(ctx?: RequestContext): RequestAuth;
}

/** Leader polls while waiting for a transfer to take effect. */
const LEADER_POLL_INTERVAL_MS = 10;
const HASHED_PREFIXES = [prefix.alarm, prefix.cluster, prefix.lease, prefix.mvcc, prefix.auth].map((p) => p[0]);

export class MaintenanceOperations {
  /** Defragmentations running now (each Defragment call runs its own). */
  private defragmentsRunning = 0;

  constructor(private readonly host: MaintenanceHost) {}

  get defragmenting(): boolean {
    return this.defragmentsRunning > 0;
  }

  async status(ctx?: RequestContext): Promise<StatusResult> {
    this.host.requireAdmin(ctx);
    const status = this.host.raftStatus();
    const errors: string[] = [];
    if (this.host.leaderId() === 0n) errors.push(new EtcdError('NoLeader').message);
    for (const alarm of this.host.alarms().list()) errors.push(`memberID:${alarm.memberId} alarm:${alarmName(alarm.alarm)} `);
    const dbSize = await this.host.dbSize.measure();
    return {
      header: this.host.header(),
      version: this.host.config.etcdVersion,
      dbSize,
      leader: this.host.leaderId(),
      raftIndex: status.commit,
      raftTerm: status.term,
      raftAppliedIndex: this.host.appliedIndex(),
      errors,
      dbSizeInUse: dbSize,
      isLearner: this.host.membership().get(this.host.memberId)?.isLearner ?? false,
    };
  }

  async hash(ctx?: RequestContext): Promise<{ header: ResponseHeader; hash: number }> {
    this.host.requireAdmin(ctx);
    let hash = 0;
    // The replicated state (alarms, cluster, leases, mvcc, auth), not the member's raft log or its
    // own bookkeeping under s/ (applied index, member id), which differ between members.
    for await (const [key, value] of this.host.backend.iterate({})) {
      if (!HASHED_PREFIXES.includes(key[0])) continue;
      hash = zlib.crc32(value, zlib.crc32(key, hash));
    }
    return { header: this.host.header(), hash };
  }

  async hashKv(revision: number, ctx?: RequestContext): Promise<{ header: ResponseHeader; hash: number; compactRevision: number; hashRevision: number }> {
    this.host.requireAdmin(ctx);
    const result = await this.host.mvcc().hashKv(revision);
    return { header: this.host.header(), ...result };
  }

  async alarm(action: number, memberId: bigint, alarm: number, ctx?: RequestContext): Promise<{ header: ResponseHeader; alarms: AlarmMember[] }> {
    const auth = this.host.requireAdmin(ctx);
    const { value, revision } = await this.host.propose({ requestId: 0, alarm: { action, memberId, alarm }, auth });
    return { header: this.host.header(revision), alarms: value as AlarmMember[] };
  }

  async defragment(ctx?: RequestContext): Promise<{ header: ResponseHeader }> {
    this.host.requireAdmin(ctx);
    this.defragmentsRunning++;
    try {
      await this.host.backend.compactRange(Buffer.alloc(0), Buffer.from([0xff, 0xff, 0xff, 0xff]));
      await this.host.dbSize.measure();
    } finally {
      this.defragmentsRunning--;
    }
    return { header: this.host.header() };
  }

  async *snapshot(ctx?: RequestContext): AsyncIterable<{ header: ResponseHeader; remainingBytes: number; blob: Buffer }> {
    this.host.requireAdmin(ctx);
    for await (const chunk of streamBackendSnapshot(this.host.backend, this.host.memberDir)) {
      yield { header: this.host.header(), ...chunk };
    }
  }

  async moveLeader(targetId: bigint, ctx?: RequestContext): Promise<{ header: ResponseHeader }> {
    this.host.requireAdmin(ctx);
    if (!this.host.isLeader()) throw new EtcdError('NotLeader');
    const target = this.host.membership().get(targetId);
    if (!target || target.isLearner) throw new EtcdError('BadLeaderTransferee');
    // Transferring to the leader itself is done at once, as in etcd.
    if (targetId === this.host.memberId) return { header: this.host.header() };
    this.host.transferLeader(targetId);
    const deadline = performance.now() + this.host.requestTimeoutMs;
    while (this.host.leaderId() !== targetId) {
      if (performance.now() > deadline) throw new EtcdError('Timeout');
      await new Promise((resolve) => setTimeout(resolve, LEADER_POLL_INTERVAL_MS));
    }
    return { header: this.host.header() };
  }

  /**
   * A leader that stops hands leadership to the voter whose log is furthest along, so the cluster
   * does not wait an election timeout (etcd's TryTransferLeadershipOnShutdown). Best effort.
   */
  async transferLeadershipBeforeStop(): Promise<void> {
    if (!this.host.isLeader()) return;
    const progress = this.host.raftStatus().progress;
    let best: { id: bigint; match: number } | undefined;
    for (const id of this.host.membership().voterIds()) {
      if (id === this.host.memberId) continue;
      const match = progress.get(id)?.match ?? 0;
      if (!best || match > best.match) best = { id, match };
    }
    if (!best) return;
    this.host.transferLeader(best.id);
    const deadline = performance.now() + this.host.config.electionTimeoutMs;
    while (this.host.leaderId() !== best.id && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, LEADER_POLL_INTERVAL_MS));
    }
    this.host.logger.info({ transferee: best.id.toString(16), transferred: this.host.leaderId() === best.id }, 'leadership transfer on shutdown');
  }
}

function alarmName(alarm: number): string {
  return alarm === AlarmType.NOSPACE ? 'NOSPACE' : alarm === AlarmType.CORRUPT ? 'CORRUPT' : 'NONE';
}
