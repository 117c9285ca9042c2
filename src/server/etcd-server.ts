// EtcdServer wires one member together: storage, the Raft core and its driver, apply, mvcc, leases,
// watches and membership. It implements what the API layers may ask (EtcdServerApi): a write becomes
// an InternalRequest with a unique id, is proposed to Raft and answered with what apply produced for
// that id; a linearizable read waits for a read index to be applied; a serializable read is served
// at once from local state. It owns no KV logic of its own: that lives in mvcc, lease and apply.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { zlib } from './node-zlib.js';
import type { Logger } from 'pino';
import { EtcdError, isEtcdError } from '../errors.js';
import { Lessor } from '../lease/lessor.js';
import { pickLeaseId } from '../lease/lease-id.js';
import { MvccStore } from '../mvcc/store.js';
import type {
  DeleteRangeRequest, DeleteRangeResult, MvccEvent, PutRequest, PutResult, RangeRequest, RangeResult,
  TxnRequest, TxnResult,
} from '../mvcc/types.js';
import { validateDeleteRange, validatePut, validateRange, validateTxn } from '../mvcc/validate.js';
import { RawNode } from '../raft/raw-node.js';
import { MemoryStorage } from '../raft/storage.js';
import type { ConfChange, SoftState } from '../raft/types.js';
import { ConfChangeType, RaftError } from '../raft/types.js';
import { Backend, type BatchOp } from '../storage/backend.js';
import { WatchHub } from '../watch/watch-hub.js';
import type { WatchStream, WatchStreamResponse } from '../watch/types.js';
import { AlarmStore } from './alarms.js';
import { APPLIED_INDEX_KEY, Applier, type AppliedRequest, type ApplyListener } from './apply.js';
import { AutoCompactor, type AutoCompactionRetention } from './auto-compactor.js';
import { streamBackendSnapshot } from './backend-snapshot.js';
import { DbSizeMeter } from './db-size.js';
import { Membership, computeMemberId } from './membership.js';
import { encodeConfChangeContext } from './conf-change-context.js';
import { type MemberLinks, RaftNode, SingleMemberTransport } from './raft-node.js';
import { deleteEntriesOps, loadRaftState, raftStateOps, snapshotOps } from './raft-log-store.js';
import { ReadIndexRounds } from './read-index.js';
import { encodeInternalRequest } from './request-codec.js';
import type { InternalRequest } from './requests.js';
import {
  AlarmAction, AlarmType, type AlarmMember, type EtcdServerApi, type LeaseTimeToLiveResult, type Member,
  type RequestContext, type ResponseHeader, type StatusResult,
} from './server-api.js';
import { type Applied, AppliedIndexWaits, RequestWaits } from './wait.js';

export interface EtcdServerConfig {
  name: string;
  dataDir: string;
  initialCluster: Array<{ name: string; peerUrls: string[] }>;
  initialClusterState: 'new' | 'existing';
  initialClusterToken: string;
  advertiseClientUrls: string[];
  heartbeatIntervalMs: number;
  electionTimeoutMs: number;
  snapshotCount: number;
  snapshotCatchupEntries: number;
  quotaBackendBytes: number;
  maxTxnOps: number;
  maxRequestBytes: number;
  preVote: boolean;
  strictReconfigCheck: boolean;
  maxLearners: number;
  autoCompaction: AutoCompactionRetention;
  watchProgressNotifyIntervalMs: number;
  unsafeNoFsync: boolean;
  /** The etcd version Status and /version report. */
  etcdVersion: string;
}

/** etcd: committed minus applied above this ⇒ "too many requests". */
const APPLY_GAP_MAX = 5000;
const PENDING_PROPOSALS_MAX = 100_000;
const LEASE_EXPIRY_CHECK_INTERVAL_MS = 500;
const LEASE_REVOKES_PER_CHECK_MAX = 1000;
const LEASE_CHECKPOINTS_PER_PROPOSAL_MAX = 1000;
const DB_SIZE_REFRESH_INTERVAL_MS = 1000;

function compareIds(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class EtcdServer implements EtcdServerApi {
  private readonly waits = new RequestWaits(PENDING_PROPOSALS_MAX);
  private readonly appliedWaits = new AppliedIndexWaits();
  private readonly readRounds: ReadIndexRounds;
  private readonly requestTimeoutMs: number;
  private readonly dbSize: DbSizeMeter;
  private readonly autoCompactor: AutoCompactor;
  private requestCounter: bigint;
  private softState: SoftState = { lead: 0n, role: 'follower' };
  private leaseExpiryTimer?: NodeJS.Timeout;
  private readonly revokesInFlight = new Set<bigint>();
  private snapshotIndex: number;
  private stopped = false;
  private published = false;
  /** Set when this member's own removal was applied: it stops and never serves again. */
  removedFromCluster = false;
  /** Called after the server stopped because it was removed from the cluster. */
  onRemoved?: () => void;

  private constructor(
    private readonly config: EtcdServerConfig,
    private readonly logger: Logger,
    private readonly backend: Backend,
    readonly memberId: bigint,
    private readonly membership: Membership,
    private readonly mvcc: MvccStore,
    private readonly lessor: Lessor,
    private readonly alarms: AlarmStore,
    private readonly watchHub: WatchHub,
    private readonly applier: Applier,
    private readonly memoryStorage: MemoryStorage,
    private readonly raftNode: RaftNode,
    private readonly memberDir: string,
    private readonly peerHealth: MemberLinks,
  ) {
    this.requestTimeoutMs = 5000 + 2 * config.electionTimeoutMs;
    this.readRounds = new ReadIndexRounds((context) => this.raftNode.readIndex(context), this.requestTimeoutMs);
    // Request ids: the member id's low 16 bits, then a counter seeded from the clock so that ids of
    // this incarnation never repeat those of an earlier one still in the log.
    this.requestCounter = ((memberId & 0xffffn) << 48n) | ((BigInt(Date.now()) & 0xffffffffffn) << 8n);
    this.dbSize = new DbSizeMeter(join(memberDir, 'db'), DB_SIZE_REFRESH_INTERVAL_MS);
    this.snapshotIndex = memoryStorage.snapshot().metadata.index;
    this.autoCompactor = new AutoCompactor(config.autoCompaction, {
      isLeader: () => this.isLeader(),
      currentRevision: () => this.mvcc.currentRevision,
      compactRevision: () => this.mvcc.compactRevision,
      compact: async (revision) => {
        await this.compact(revision, false);
      },
    }, logger.child({ component: 'auto-compactor' }));
  }

  static async start(config: EtcdServerConfig, logger: Logger): Promise<EtcdServer> {
    const memberDir = join(config.dataDir, 'member');
    mkdirSync(memberDir, { recursive: true, mode: 0o700 });
    const backend = await Backend.open(join(memberDir, 'db'));
    try {
      return await EtcdServer.startOn(config, logger, backend, memberDir);
    } catch (error) {
      await backend.close();
      throw error;
    }
  }

  private static async startOn(config: EtcdServerConfig, logger: Logger, backend: Backend, memberDir: string): Promise<EtcdServer> {
    let membership = await Membership.load(backend);
    const memoryStorage = new MemoryStorage();
    const persisted = await loadRaftState(backend);
    let memberId: bigint;

    if (!membership) {
      if (config.initialClusterState !== 'new') {
        throw new Error('joining an existing cluster (--initial-cluster-state existing) needs the multi-member transport, which is not built yet');
      }
      membership = Membership.bootstrap(config.initialCluster, config.initialClusterToken);
      const self = membership.list().find((m) => m.name === config.name);
      if (!self) throw new Error(`couldn't find local name "${config.name}" in the initial cluster configuration`);
      memberId = self.id;
      memoryStorage.bootstrap({ voters: membership.voterIds(), learners: [] });
      const batch: BatchOp[] = [];
      membership.persistAll(batch);
      batch.push({ type: 'put', key: memberIdKey, value: uint64Bytes(memberId) });
      const snapshot = memoryStorage.snapshot();
      snapshotOps(batch, snapshot.metadata);
      raftStateOps(batch, memoryStorage.initialState().hardState, []);
      batch.push({ type: 'put', key: APPLIED_INDEX_KEY, value: uint64Bytes(BigInt(snapshot.metadata.index)) });
      await backend.write(batch, true);
      logger.info({ 'member-id': memberId.toString(16), 'cluster-id': membership.clusterId.toString(16) }, 'bootstrapped a new cluster');
    } else {
      const idBytes = await backend.get(memberIdKey);
      if (!idBytes) throw new Error('data dir has a cluster but no local member id: refusing to start');
      memberId = idBytes.readBigUInt64BE(0);
      if (persisted.snapshot) {
        memoryStorage.applySnapshot({ metadata: persisted.snapshot, data: new Uint8Array(0) });
      }
      if (persisted.hardState) memoryStorage.setHardState(persisted.hardState);
      if (persisted.entries.length > 0) memoryStorage.append(persisted.entries);
    }
    if (membership.voterIds().length + membership.learnerIds().length > 1) {
      throw new Error('multi-member clusters need the peer transport, which is not built yet (issue #3): start with a single-member --initial-cluster');
    }

    const appliedBytes = await backend.get(APPLIED_INDEX_KEY);
    const appliedIndex = appliedBytes ? Number(appliedBytes.readBigUInt64BE(0)) : 0;
    const minTtlSeconds = Math.ceil((3 * config.electionTimeoutMs) / 2 / 1000);
    const lessor = await Lessor.load(backend, { minTtlSeconds, clock: { nowMs: () => performance.now() } });
    const mvcc = await MvccStore.open(backend, { leases: lessor });
    const alarms = await AlarmStore.load(backend);

    // The listener needs the server, which needs the applier: tie the knot through a holder.
    const holder: { server?: EtcdServer } = {};
    const watchHub = new WatchHub({
      history: mvcc,
      maxRequestBytes: config.maxRequestBytes,
      progressNotifyIntervalMs: config.watchProgressNotifyIntervalMs,
    });
    const listener: ApplyListener = {
      onEvents: (revision: number, events: MvccEvent[]) => watchHub.notify(revision, events),
      applyRaftConfChange: (cc) => {
        rawNode.applyConfChange(cc);
      },
      onMembershipChanged: (cc, member) => holder.server?.onMembershipChanged(cc, member),
    };
    const applier = new Applier({ mvcc, lessor, alarms, membership, listener }, appliedIndex);
    const rawNode = new RawNode({
      id: memberId,
      electionTick: Math.max(2, Math.round(config.electionTimeoutMs / config.heartbeatIntervalMs)),
      heartbeatTick: 1,
      storage: memoryStorage,
      applied: appliedIndex,
      preVote: config.preVote,
      checkQuorum: true,
      maxSizePerMsgBytes: 1024 * 1024,
      maxInflightMsgs: 512,
      random: Math.random,
      logger: logger.child({ component: 'raft' }),
    });
    const transport = new SingleMemberTransport();
    const raftNode = new RaftNode({
      rawNode,
      memoryStorage,
      backend,
      applier,
      transport,
      tickIntervalMs: config.heartbeatIntervalMs,
      unsafeNoFsync: config.unsafeNoFsync,
      logger,
      hooks: {
        onApplied: (results, index) => holder.server!.onApplied(results, index),
        onReadStates: (states) => holder.server!.readRounds.onReadStates(states),
        onSoftState: (softState) => holder.server!.onSoftState(softState),
        onFlushed: () => mvcc.markFlushed(mvcc.currentRevision),
        beforeWrite: (batch, index) => holder.server!.maybeCompactLog(batch, index),
      },
    });
    const server = new EtcdServer(config, logger, backend, memberId, membership, mvcc, lessor, alarms, watchHub,
      applier, memoryStorage, raftNode, memberDir, transport);
    holder.server = server;
    await server.dbSize.measure();
    raftNode.start();
    // A single voter needs nobody's vote: campaign now rather than after an election timeout.
    if (membership.voterIds().length === 1 && membership.voterIds()[0] === memberId) rawNode.campaign();
    raftNode.kick();
    server.leaseExpiryTimer = setInterval(() => server.revokeExpiredLeases(), LEASE_EXPIRY_CHECK_INTERVAL_MS);
    server.autoCompactor.start();
    return server;
  }

  /** Resolves once this member is leader (or knows one) and has published itself. */
  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.published) {
      if (Date.now() > deadline) throw new Error('server did not become ready in time');
      if (this.softState.lead !== 0n) {
        try {
          await this.propose({
            requestId: 0n,
            memberAttributes: { memberId: this.memberId, name: this.config.name, clientUrls: this.config.advertiseClientUrls },
          });
          this.published = true;
          break;
        } catch (error) {
          this.logger.warn({ err: error }, 'publishing member attributes failed; retrying');
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.leaseExpiryTimer);
    this.autoCompactor.stop();
    this.watchHub.close();
    await this.raftNode.stop();
    this.waits.failAll(new EtcdError('Stopped'));
    this.readRounds.failAll(new EtcdError('Stopped'));
    await this.backend.close();
  }

  // ---- Raft driver hooks ----

  private onApplied(results: AppliedRequest[], appliedIndex: number): void {
    for (const { requestId, outcome } of results) this.waits.settle(requestId, outcome);
    this.appliedWaits.notify(appliedIndex);
  }

  private onSoftState(softState: SoftState): void {
    const wasLeader = this.softState.role === 'leader';
    this.softState = softState;
    const isLeader = softState.role === 'leader';
    if (isLeader && !wasLeader) {
      this.lessor.promote(this.config.electionTimeoutMs);
      this.logger.info({ 'member-id': this.memberId.toString(16), 'raft-term': this.term() }, 'became leader');
    } else if (!isLeader && wasLeader) {
      this.lessor.demote();
      this.revokesInFlight.clear();
    }
  }

  /**
   * Log compaction: every --snapshot-count applied entries, the applied state (which lives in
   * LevelDB already) becomes the snapshot point and the log behind it, less
   * --snapshot-catchup-entries kept for slow followers, is deleted in the same batch.
   */
  private maybeCompactLog(batch: BatchOp[], appliedIndex: number): void {
    if (appliedIndex - this.snapshotIndex < this.config.snapshotCount) return;
    const confState = { voters: this.membership.voterIds(), learners: this.membership.learnerIds() };
    const snapshot = this.memoryStorage.createSnapshot(appliedIndex, confState, new Uint8Array(0));
    snapshotOps(batch, snapshot.metadata);
    const compactIndex = Math.max(this.memoryStorage.firstIndex(), appliedIndex - this.config.snapshotCatchupEntries);
    const firstIndex = this.memoryStorage.firstIndex();
    if (compactIndex > firstIndex) {
      deleteEntriesOps(batch, firstIndex, compactIndex - 1);
      this.memoryStorage.compact(compactIndex - 1);
    }
    this.snapshotIndex = appliedIndex;
  }

  // ---- Proposals and reads ----

  private nextRequestId(): bigint {
    this.requestCounter = (this.requestCounter + 1n) & 0xffffffffffffffffn;
    return this.requestCounter;
  }

  private async propose(request: InternalRequest): Promise<Applied> {
    if (this.stopped) throw new EtcdError('Stopped');
    const status = this.raftNode.rawNode.status();
    if (status.commit - this.applier.appliedIndex > APPLY_GAP_MAX) throw new EtcdError('TooManyRequests');
    const requestId = request.requestId === 0n ? this.nextRequestId() : request.requestId;
    const data = encodeInternalRequest({ ...request, requestId });
    if (data.length > this.config.maxRequestBytes) throw new EtcdError('RequestTooLarge');
    const result = this.waits.register(requestId, this.requestTimeoutMs);
    try {
      this.raftNode.propose(data);
    } catch (error) {
      const mapped = error instanceof RaftError ? new EtcdError('NoLeader') : error;
      this.waits.fail(requestId, mapped);
    }
    return result;
  }

  private async linearizableRead(): Promise<void> {
    const index = await this.readRounds.readIndex();
    await this.appliedWaits.wait(index, this.applier.appliedIndex);
  }

  private term(): number {
    return this.raftNode.rawNode.status().term;
  }

  private isLeader(): boolean {
    return this.softState.role === 'leader';
  }

  responseHeader(revision: number): ResponseHeader {
    return this.header(revision);
  }

  private header(revision = this.mvcc.currentRevision): ResponseHeader {
    return { clusterId: this.membership.clusterId, memberId: this.memberId, revision, raftTerm: this.term() };
  }

  private checkRequireLeader(ctx?: RequestContext): void {
    if (ctx?.requireLeader && this.softState.lead === 0n) throw new EtcdError('NoLeader');
  }

  private checkCorrupt(): void {
    if (this.alarms.has(AlarmType.CORRUPT)) throw new EtcdError('Corrupt');
  }

  /** Refuses a write that would take the database over its quota, raising NOSPACE as etcd does. */
  private checkQuota(costBytes: number): void {
    if (this.alarms.has(AlarmType.NOSPACE)) throw new EtcdError('NoSpace');
    if (this.dbSize.cachedBytes + costBytes <= this.config.quotaBackendBytes) return;
    void this.propose({ requestId: 0n, alarm: { action: AlarmAction.ACTIVATE, memberId: this.memberId, alarm: AlarmType.NOSPACE } })
      .catch((error) => this.logger.warn({ err: error }, 'raising the NOSPACE alarm failed'));
    this.logger.warn({ quotaBytes: this.config.quotaBackendBytes, dbSizeBytes: this.dbSize.cachedBytes }, 'database space exceeded; NOSPACE alarm raised');
    throw new EtcdError('NoSpace');
  }

  // ---- KV ----

  async range(request: RangeRequest, ctx?: RequestContext): Promise<{ header: ResponseHeader; result: RangeResult }> {
    this.checkRequireLeader(ctx);
    this.checkCorrupt();
    validateRange(request);
    if (!request.serializable) await this.linearizableRead();
    const result = await this.mvcc.range(request);
    return { header: this.header(), result };
  }

  async put(request: PutRequest, ctx?: RequestContext): Promise<{ header: ResponseHeader; result: PutResult }> {
    this.checkRequireLeader(ctx);
    validatePut(request);
    this.checkQuota(request.key.length + request.value.length);
    const { value, revision } = await this.propose({ requestId: 0n, put: request });
    return { header: this.header(revision), result: value as PutResult };
  }

  async deleteRange(request: DeleteRangeRequest, ctx?: RequestContext): Promise<{ header: ResponseHeader; result: DeleteRangeResult }> {
    this.checkRequireLeader(ctx);
    validateDeleteRange(request);
    const { value, revision } = await this.propose({ requestId: 0n, deleteRange: request });
    return { header: this.header(revision), result: value as DeleteRangeResult };
  }

  async txn(request: TxnRequest, ctx?: RequestContext): Promise<{ header: ResponseHeader; result: TxnResult }> {
    this.checkRequireLeader(ctx);
    validateTxn(request, this.config.maxTxnOps);
    if (isReadOnlyTxn(request)) {
      // etcd serves a read-only txn like a read: no log entry, no new revision.
      if (!isSerializableTxn(request)) await this.linearizableRead();
      const prefetch = await this.mvcc.prefetchTxn(request);
      const batch: BatchOp[] = [];
      const { result } = this.mvcc.txn(request, prefetch, batch);
      if (batch.length !== 0) throw new Error('read-only txn produced writes');
      return { header: this.header(), result };
    }
    if (txnPutBytes(request) > 0) this.checkQuota(txnPutBytes(request));
    const { value, revision } = await this.propose({ requestId: 0n, txn: request });
    return { header: this.header(revision), result: value as TxnResult };
  }

  async compact(revision: number, physical: boolean, ctx?: RequestContext): Promise<{ header: ResponseHeader }> {
    this.checkRequireLeader(ctx);
    const applied = await this.propose({ requestId: 0n, compaction: { revision, physical } });
    if (physical) await (applied.value as { physicalDone: Promise<void> }).physicalDone;
    return { header: this.header(applied.revision) };
  }

  // ---- Leases ----

  async leaseGrant(ttlSeconds: number, id: bigint, ctx?: RequestContext): Promise<{ header: ResponseHeader; id: bigint; ttl: number }> {
    this.checkRequireLeader(ctx);
    const leaseId = id === 0n ? pickLeaseId(Math.random, (candidate) => this.lessor.exists(candidate)) : id;
    this.lessor.checkGrant(leaseId, ttlSeconds);
    this.checkQuota(0);
    const applied = await this.propose({ requestId: 0n, leaseGrant: { id: leaseId, ttlSeconds } });
    const granted = applied.value as { id: bigint; ttlSeconds: number };
    return { header: this.header(applied.revision), id: granted.id, ttl: granted.ttlSeconds };
  }

  async leaseRevoke(id: bigint, ctx?: RequestContext): Promise<{ header: ResponseHeader }> {
    this.checkRequireLeader(ctx);
    const { revision } = await this.propose({ requestId: 0n, leaseRevoke: { id } });
    return { header: this.header(revision) };
  }

  async leaseKeepAlive(id: bigint, ctx?: RequestContext): Promise<{ header: ResponseHeader; id: bigint; ttl: number }> {
    this.checkRequireLeader(ctx);
    if (!this.isLeader()) throw new EtcdError('NotLeader');
    // etcd fills the header before renewing.
    const header = this.header();
    try {
      return { header, id, ttl: this.lessor.renew(id) };
    } catch (error) {
      if (isEtcdError(error, 'LeaseNotFound')) return { header, id, ttl: 0 };
      throw error;
    }
  }

  async leaseTimeToLive(id: bigint, keys: boolean, ctx?: RequestContext): Promise<LeaseTimeToLiveResult> {
    this.checkRequireLeader(ctx);
    await this.linearizableRead();
    const lease = this.lessor.timeToLive(id);
    if (!lease) return { header: this.header(), id, ttl: -1, grantedTtl: 0, keys: [] };
    return { header: this.header(), id, ttl: lease.ttlSeconds, grantedTtl: lease.grantedTtlSeconds, keys: keys ? lease.keys : [] };
  }

  async leaseLeases(ctx?: RequestContext): Promise<{ header: ResponseHeader; leases: bigint[] }> {
    this.checkRequireLeader(ctx);
    await this.linearizableRead();
    return { header: this.header(), leases: this.lessor.leases() };
  }

  /**
   * Leader only: expired leases become proposed revokes (never a state change from a timer), and
   * remaining TTLs are checkpointed through the log so that a restart or a new leader does not
   * hand every lease a fresh full TTL.
   */
  private revokeExpiredLeases(): void {
    if (!this.isLeader() || this.stopped) return;
    const checkpoints = this.lessor.checkpointsDue(LEASE_CHECKPOINTS_PER_PROPOSAL_MAX);
    if (checkpoints.length > 0) {
      this.propose({ requestId: 0n, leaseCheckpoint: { checkpoints } })
        .catch((error) => this.logger.warn({ err: error }, 'lease checkpoint failed'));
    }
    for (const id of this.lessor.expiredLeases(LEASE_REVOKES_PER_CHECK_MAX)) {
      if (this.revokesInFlight.has(id)) continue;
      this.revokesInFlight.add(id);
      this.propose({ requestId: 0n, leaseRevoke: { id } })
        .catch((error) => {
          if (!isEtcdError(error, 'LeaseNotFound')) this.logger.warn({ err: error, lease: id.toString(16) }, 'revoking an expired lease failed');
        })
        .finally(() => this.revokesInFlight.delete(id));
    }
  }

  // ---- Watch ----

  openWatchStream(send: (response: WatchStreamResponse) => boolean, ctx?: RequestContext): WatchStream {
    this.checkRequireLeader(ctx);
    return this.watchHub.openStream(send);
  }

  // ---- Cluster ----

  async memberList(linearizable: boolean, ctx?: RequestContext): Promise<{ header: ResponseHeader; members: Member[] }> {
    this.checkRequireLeader(ctx);
    if (linearizable) await this.linearizableRead();
    return { header: this.header(), members: this.membership.list() };
  }

  async memberAdd(peerUrls: string[], isLearner: boolean, ctx?: RequestContext): Promise<{ header: ResponseHeader; member: Member; members: Member[] }> {
    this.checkRequireLeader(ctx);
    const urls = normalisePeerUrls(peerUrls);
    const members = this.membership.list();
    for (const url of urls) {
      if (members.some((m) => m.peerUrls.includes(url))) throw new EtcdError('PeerURLExist');
    }
    if (isLearner) {
      if (members.filter((m) => m.isLearner).length >= this.config.maxLearners) throw new EtcdError('TooManyLearners');
    } else if (this.config.strictReconfigCheck) {
      // A new voter raises the quorum: the members already started must be able to reach it
      // (etcd's one exception: a second member for a one-member cluster, the restore path).
      const voters = members.filter((m) => !m.isLearner);
      const started = voters.filter((m) => m.name !== '').length;
      const onlyOneStarted = started === 1 && voters.length === 1;
      if (!onlyOneStarted && started < quorumOf(voters.length + 1)) throw new EtcdError('MemberNotEnoughStarted');
      if (!this.connectedToAllVoters()) throw new EtcdError('Unhealthy');
    }
    const member: Member = {
      id: computeMemberId(urls, this.config.initialClusterToken, Math.floor(Date.now() / 1000)),
      name: '', peerUrls: urls, clientUrls: [], isLearner,
    };
    const type = isLearner ? ConfChangeType.AddLearnerNode : ConfChangeType.AddNode;
    const applied = await this.proposeConfChange(type, member);
    return { header: this.header(applied.revision), member, members: applied.value as Member[] };
  }

  async memberRemove(id: bigint, ctx?: RequestContext): Promise<{ header: ResponseHeader; members: Member[] }> {
    this.checkRequireLeader(ctx);
    const member = this.membership.get(id);
    if (!member) throw new EtcdError('MemberNotFound');
    if (this.config.strictReconfigCheck && !member.isLearner) {
      // Removing a voter must leave enough started voters for the smaller quorum.
      const voters = this.membership.list().filter((m) => !m.isLearner);
      const startedAfter = voters.filter((m) => m.name !== '' && m.id !== id).length;
      if (startedAfter < quorumOf(voters.length - 1)) throw new EtcdError('MemberNotEnoughStarted');
    }
    const applied = await this.proposeConfChange(ConfChangeType.RemoveNode, member);
    return { header: this.header(applied.revision), members: applied.value as Member[] };
  }

  async memberUpdate(id: bigint, peerUrls: string[], ctx?: RequestContext): Promise<{ header: ResponseHeader; members: Member[] }> {
    this.checkRequireLeader(ctx);
    const member = this.membership.get(id);
    if (!member) throw new EtcdError('MemberNotFound');
    const urls = normalisePeerUrls(peerUrls);
    for (const other of this.membership.list()) {
      if (other.id !== id && other.peerUrls.some((url) => urls.includes(url))) throw new EtcdError('PeerURLExist');
    }
    const applied = await this.proposeConfChange(ConfChangeType.UpdateNode, { ...member, peerUrls: urls });
    return { header: this.header(applied.revision), members: applied.value as Member[] };
  }

  async memberPromote(id: bigint, ctx?: RequestContext): Promise<{ header: ResponseHeader; members: Member[] }> {
    this.checkRequireLeader(ctx);
    const member = this.membership.get(id);
    if (!member) throw new EtcdError('MemberNotFound');
    if (!member.isLearner) throw new EtcdError('MemberNotLearner');
    if (!this.isLeader()) throw new EtcdError('NotLeader');
    // etcd promotes a learner only once its log has reached 90% of the leader's.
    const progress = this.raftNode.rawNode.status().progress;
    const leaderMatch = progress.get(this.memberId)?.match ?? 0;
    const learnerMatch = progress.get(id)?.match ?? 0;
    if (learnerMatch < leaderMatch * 0.9) throw new EtcdError('LearnerNotReady');
    const applied = await this.proposeConfChange(ConfChangeType.AddNode, { ...member, isLearner: false });
    return { header: this.header(applied.revision), members: applied.value as Member[] };
  }

  private async proposeConfChange(type: number, member: Member): Promise<Applied> {
    if (this.stopped) throw new EtcdError('Stopped');
    const requestId = this.nextRequestId();
    const result = this.waits.register(requestId, this.requestTimeoutMs);
    try {
      this.raftNode.proposeConfChange({ type, nodeId: member.id, context: encodeConfChangeContext({ requestId, member }) });
    } catch (error) {
      this.waits.fail(requestId, error instanceof RaftError ? new EtcdError('NoLeader') : error);
    }
    return result;
  }

  /** etcd adds a voter only when the leader has been connected to every voter for a while. */
  private connectedToAllVoters(): boolean {
    return this.peerHealth.connectedToAll(this.membership.voterIds().filter((id) => id !== this.memberId));
  }

  private onMembershipChanged(cc: ConfChange, member: Member): void {
    this.peerHealth.onMembershipChanged(cc, member);
    if (cc.type === ConfChangeType.RemoveNode && cc.nodeId === this.memberId) {
      this.logger.warn({ 'member-id': this.memberId.toString(16) }, 'this member was removed from the cluster; shutting down');
      this.removedFromCluster = true;
      setImmediate(() => void this.stop().finally(() => this.onRemoved?.()));
    }
  }

  // ---- Maintenance ----

  async status(): Promise<StatusResult> {
    const status = this.raftNode.rawNode.status();
    const errors: string[] = [];
    if (this.softState.lead === 0n) errors.push(new EtcdError('NoLeader').message);
    for (const alarm of this.alarms.list()) errors.push(`memberID:${alarm.memberId} alarm:${alarmName(alarm.alarm)} `);
    const dbSize = await this.dbSize.measure();
    return {
      header: this.header(),
      version: this.config.etcdVersion,
      dbSize,
      leader: this.softState.lead,
      raftIndex: status.commit,
      raftTerm: status.term,
      raftAppliedIndex: this.applier.appliedIndex,
      errors,
      dbSizeInUse: dbSize,
      isLearner: this.membership.get(this.memberId)?.isLearner ?? false,
    };
  }

  async hash(): Promise<{ header: ResponseHeader; hash: number }> {
    let hash = 0;
    for await (const [key, value] of this.backend.iterate({ gte: Buffer.from('a'), lt: Buffer.from('s') })) {
      hash = zlib.crc32(value, zlib.crc32(key, hash));
    }
    return { header: this.header(), hash };
  }

  async hashKv(revision: number): Promise<{ header: ResponseHeader; hash: number; compactRevision: number; hashRevision: number }> {
    const result = await this.mvcc.hashKv(revision);
    return { header: this.header(), ...result };
  }

  async alarm(action: number, memberId: bigint, alarm: number): Promise<{ header: ResponseHeader; alarms: AlarmMember[] }> {
    const { value, revision } = await this.propose({ requestId: 0n, alarm: { action, memberId, alarm } });
    return { header: this.header(revision), alarms: value as AlarmMember[] };
  }

  async defragment(): Promise<{ header: ResponseHeader }> {
    await this.backend.compactRange(Buffer.alloc(0), Buffer.from([0xff, 0xff, 0xff, 0xff]));
    await this.dbSize.measure();
    return { header: this.header() };
  }

  async *snapshot(): AsyncIterable<{ header: ResponseHeader; remainingBytes: number; blob: Buffer }> {
    for await (const chunk of streamBackendSnapshot(this.backend, this.memberDir)) {
      yield { header: this.header(), ...chunk };
    }
  }

  async moveLeader(targetId: bigint): Promise<{ header: ResponseHeader }> {
    if (!this.isLeader()) throw new EtcdError('NotLeader');
    const target = this.membership.get(targetId);
    if (!target || target.isLearner) throw new EtcdError('BadLeaderTransferee');
    // The only voter of a one-member cluster is the leader already: the transfer is complete.
    if (targetId === this.memberId) return { header: this.header() };
    throw new EtcdError('BadLeaderTransferee');
  }

  isServing(): boolean {
    return !this.stopped && this.softState.lead !== 0n;
  }

  /** For /health and the dashboard. */
  get leaderId(): bigint {
    return this.softState.lead;
  }

  get activeAlarms(): AlarmMember[] {
    return this.alarms.list();
  }

  get currentRevision(): number {
    return this.mvcc.currentRevision;
  }

  get members(): Member[] {
    return [...this.membership.list()].sort((a, b) => compareIds(a.id, b.id));
  }
}

const memberIdKey = Buffer.from('s/member-id');

function uint64Bytes(value: bigint): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(value);
  return out;
}

/** Votes needed among `voters` members. */
function quorumOf(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/** Peer URLs as etcd stores them: parsed, http(s) only, printed without a trailing slash. */
function normalisePeerUrls(peerUrls: string[]): string[] {
  if (peerUrls.length === 0) throw new EtcdError('MemberBadURLs');
  return peerUrls.map((text) => {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new EtcdError('MemberBadURLs');
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.port === '' || (url.pathname !== '/' && url.pathname !== '')) {
      throw new EtcdError('MemberBadURLs');
    }
    return `${url.protocol}//${url.host}`;
  });
}

function alarmName(alarm: number): string {
  return alarm === AlarmType.NOSPACE ? 'NOSPACE' : alarm === AlarmType.CORRUPT ? 'CORRUPT' : 'NONE';
}

function isReadOnlyTxn(txn: TxnRequest): boolean {
  return [...txn.success, ...txn.failure].every((op) => 'range' in op || ('txn' in op && isReadOnlyTxn(op.txn)));
}

function isSerializableTxn(txn: TxnRequest): boolean {
  return [...txn.success, ...txn.failure].every((op) =>
    ('range' in op && op.range.serializable) || ('txn' in op && isSerializableTxn(op.txn)));
}

function txnPutBytes(txn: TxnRequest): number {
  let bytes = 0;
  for (const op of [...txn.success, ...txn.failure]) {
    if ('put' in op) bytes += op.put.key.length + op.put.value.length;
    else if ('txn' in op) bytes += txnPutBytes(op.txn);
  }
  return bytes;
}
