// EtcdServer wires one member together: storage, the Raft core and its driver, apply, mvcc, leases,
// watches and membership. It implements what the API layers may ask (EtcdServerApi): a write becomes
// an InternalRequest with a unique id, is proposed to Raft and answered with what apply produced for
// that id; a linearizable read waits for a read index to be applied; a serializable read is served
// at once from local state. It owns no KV logic of its own: that lives in mvcc, lease and apply.
// The Cluster, Lease, Maintenance and Auth services live in their own *-operations.ts modules, each
// over a small host interface the server provides; the server delegates to them.
// With auth enabled every client call is checked first (auth/AuthGate) and a proposed request
// carries the identity it was checked for, so apply can judge it again if the auth store changed.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { AuthGate } from '../auth/auth-gate.js';
import { AuthStore } from '../auth/auth-store.js';
import { deleteRangeAccess, putAccess, rangeAccess, txnAccess } from '../auth/request-access.js';
import { TokenProvider } from '../auth/token-provider.js';
import type { RequestAuth } from '../auth/types.js';
import { EtcdError, type EtcdErrorName, etcdErrors, isEtcdError } from '../errors.js';
import { Lessor } from '../lease/lessor.js';
import { MvccStore } from '../mvcc/store.js';
import type {
  DeleteRangeRequest, DeleteRangeResult, MvccEvent, PutRequest, PutResult, RangeRequest, RangeResult,
  TxnRequest, TxnResult,
} from '../mvcc/types.js';
import { validateDeleteRange, validatePut, validateRange, validateTxn } from '../mvcc/validate.js';
import { RawNode } from '../raft/raw-node.js';
import { MemoryStorage } from '../raft/storage.js';
import type { SnapshotMetadata, SoftState } from '../raft/types.js';
import { RaftError } from '../raft/types.js';
import { Backend, type BatchOp } from '../storage/backend.js';
import { WatchHub } from '../watch/watch-hub.js';
import type { WatchStream, WatchStreamResponse } from '../watch/types.js';
import { ByteArena } from '../byte-arena.js';
import { AlarmStore } from './alarms.js';
import { APPLIED_INDEX_KEY, Applier, type AppliedRequest, type ApplyListener } from './apply.js';
import { AutoCompactor, type AutoCompactionRetention } from './auto-compactor.js';
import { streamBackendSnapshot } from './backend-snapshot.js';
import { DbSizeMeter } from './db-size.js';
import { Membership, encodeMember } from './membership.js';
import { PeerLinks } from './peer-links.js';
import { KeepAliveForwarder } from './keep-alive-forwarder.js';
import { MEMBER_ID_KEY, RESTORE_MARKER_KEY, installBackendSnapshot } from './snapshot-install.js';
import { type ReplicatedState, loadReplicatedState } from './replicated-state.js';
import { forceNewCluster } from './force-new-cluster.js';
import { refuseEtcdDataDir } from './foreign-data-dir.js';
import { describeRequest } from './request-description.js';
import {
  checkCompactionHashesAsLeader, checkHashKvAsLeader, checkInitialHashKv, type CompactionHashCheckHost, type CorruptionCheckHost, type PeerHash,
} from './corruption-check.js';
import { fetchClusterMembership } from './join-cluster.js';
import { PeerTransport, peerConnectionTimings } from '../transport/peer-transport.js';
import { type MemberLinks, RaftNode, SingleMemberTransport } from './raft-node.js';
import { commitCoveringApplied, RaftWal, WAL_DIR_NAME, type PersistedRaftState } from './raft-wal.js';
import { ReadIndexRounds } from './read-index.js';
import { AuthOperations } from './auth-operations.js';
import { ClusterOperations } from './cluster-operations.js';
import { LeaseOperations } from './lease-operations.js';
import { MaintenanceOperations } from './maintenance-operations.js';
import { encodeInternalRequest, exactEncodedBytes } from './request-codec.js';
import { RequestIdCounter, requestOriginOf } from './request-ids.js';
import type { InternalRequest } from './requests.js';
import {
  AlarmAction, AlarmType, type AlarmMember, type Completion, type EtcdServerApi, type LeaseTimeToLiveResult, type Member,
  type RequestContext, type ResponseHeader, type StatusResult, type MvccMetrics, type PeerNetworkStats,
} from './server-api.js';
import { advanceInitialElectionTicks } from './election-tick-advance.js';
import type { ServerMetricsRecorder } from './server-metrics.js';
import { type Applied, AppliedIndexWaits, RequestWaits, type SettledCallback } from './wait.js';

/** etcd 3.5's default --raft-read-timeout and --raft-write-timeout. */
const peerConnectionTimeoutMsDefault = 5000;

export interface EtcdServerConfig {
  name: string;
  dataDir: string;
  /** --wal-dir: where the Raft log lives; '' means `<data-dir>/member/raft-wal`. */
  walDir: string;
  initialCluster: Array<{ name: string; peerUrls: string[] }>;
  initialClusterState: 'new' | 'existing';
  initialClusterToken: string;
  /** --force-new-cluster: a restart drops the other members (force-new-cluster.ts). */
  forceNewCluster?: boolean;
  /** --experimental-initial-corrupt-check: a restart compares its data with the peers' first (corruption-check.ts). */
  initialCorruptCheck?: boolean;
  /**
   * Called with the recovered store of a restarted member before Raft starts; a throw stops the
   * start (--v2-deprecation's check of v2 content).
   */
  checkRecoveredState?: (mvcc: MvccStore) => Promise<void>;
  /** --corrupt-check-time: how often the leader compares the members' data; 0 for never. */
  corruptCheckIntervalMs?: number;
  /** --experimental-compact-hash-check-enabled: how often the leader compares the members' compaction hashes; 0 for never. */
  compactHashCheckIntervalMs?: number;
  /** --warning-apply-duration: a request applied slower than this is logged (default 100 ms, as etcd). */
  warningApplyDurationMs?: number;
  /**
   * --compaction-batch-limit and --experimental-compaction-sleep-interval: a compaction purges old
   * revisions this many records at a time with this pause between (etcd: 1000 and 10 ms; 0 takes
   * etcd's default for either).
   */
  compactionBatchLimit?: number;
  compactionSleepIntervalMs?: number;
  /** --experimental-stop-grpc-service-on-defrag: the gRPC health service says NOT_SERVING while a defragmentation runs. */
  stopGrpcServiceOnDefrag?: boolean;
  advertiseClientUrls: string[];
  /** Where to serve peers; empty for a one-member server with no peer listener (tests). */
  listenPeerUrls: URL[];
  initialAdvertisePeerUrls: string[];
  heartbeatIntervalMs: number;
  electionTimeoutMs: number;
  /** --raft-read-timeout / --raft-write-timeout (default 5 s each, 0 for none). */
  peerReadTimeoutMs?: number;
  peerWriteTimeoutMs?: number;
  snapshotCount: number;
  snapshotCatchupEntries: number;
  quotaBackendBytes: number;
  maxTxnOps: number;
  maxRequestBytes: number;
  preVote: boolean;
  /** --initial-election-tick-advance: fast-forward the election clock once peers are heard. */
  initialElectionTickAdvance: boolean;
  strictReconfigCheck: boolean;
  maxLearners: number;
  autoCompaction: AutoCompactionRetention;
  watchProgressNotifyIntervalMs: number;
  unsafeNoFsync: boolean;
  /** The etcd version Status and /version report. */
  etcdVersion: string;
  metrics?: ServerMetricsRecorder;
  /** --auth-token, --auth-token-ttl, --bcrypt-cost; etcd's defaults when absent. */
  auth?: { tokenSpec: string; tokenTtlSeconds: number; bcryptCost: number };
}

const AUTH_DEFAULTS = { tokenSpec: 'simple', tokenTtlSeconds: 300, bcryptCost: 10 };
/** etcd's answer to a watch on keys the user may not read. */
const WATCH_PERMISSION_DENIED = new EtcdError('PermissionDenied').message;

/** etcd: committed minus applied above this ⇒ "too many requests". */
const APPLY_GAP_MAX = 5000;
const PENDING_PROPOSALS_MAX = 100_000;
const DB_SIZE_REFRESH_INTERVAL_MS = 1000;
/** A removed member lingers this long so the answers of its last cycle reach their clients. */
const REMOVED_MEMBER_STOP_DELAY_MS = 100;
/** How often publishing looks again for a leader, or retries a proposal that failed. */
const PUBLISH_RETRY_MS = 20;
/** How long a leader waits to have applied what a follower may have answered (etcd's applyTimeout). */
const APPLIED_WAIT_TIMEOUT_MS = 1000;

export class EtcdServer implements EtcdServerApi {
  private readonly waits: RequestWaits;
  /** Holds the bytes of the entries this member proposes while the in-memory log keeps them. */
  private readonly entryArena = new ByteArena();
  private readonly appliedWaits = new AppliedIndexWaits();
  private readonly readRounds: ReadIndexRounds;
  private readonly requestTimeoutMs: number;
  private readonly dbSize: DbSizeMeter;
  private readonly autoCompactor: AutoCompactor;
  private readonly requestIds = new RequestIdCounter();
  /** The top 16 bits of this member's request ids (request-ids.ts). */
  private readonly requestOrigin: number;
  private softState: SoftState = { lead: 0n, role: 'follower' };
  private snapshotIndex: number;
  private stopped = false;
  private corruptionCheckTimer?: NodeJS.Timeout;
  private compactHashCheckTimer?: NodeJS.Timeout;
  private published = false;
  /** Set when this member's own removal was applied: it stops and never serves again. */
  removedFromCluster = false;
  /** Called after the server stopped because it was removed from the cluster. */
  onRemoved?: () => void;

  // The replicated state. Replaced as a whole when a snapshot from the leader is installed.
  private membership: Membership;
  private mvcc: MvccStore;
  private lessor: Lessor;
  private alarms: AlarmStore;
  private authStore: AuthStore;
  private readonly gate: AuthGate;
  /** The Auth service (etcdserverpb.Auth) of this member. */
  readonly auth: AuthOperations;
  private readonly cluster: ClusterOperations;
  private readonly leases: LeaseOperations;
  private readonly maintenance: MaintenanceOperations;

  private constructor(
    private readonly config: EtcdServerConfig,
    private readonly logger: Logger,
    private readonly backend: Backend,
    readonly memberId: bigint,
    state: ReplicatedState,
    private readonly watchHub: WatchHub,
    private readonly applier: Applier,
    private readonly memoryStorage: MemoryStorage,
    private readonly raftNode: RaftNode,
    private readonly memberDir: string,
    private readonly links: MemberLinks,
  ) {
    ({ membership: this.membership, mvcc: this.mvcc, lessor: this.lessor, alarms: this.alarms, auth: this.authStore } = state);
    const authConfig = config.auth ?? AUTH_DEFAULTS;
    this.gate = new AuthGate(() => this.authStore, TokenProvider.fromSpec(authConfig.tokenSpec, authConfig.tokenTtlSeconds));
    this.auth = new AuthOperations({
      authStore: () => this.authStore,
      gate: this.gate,
      propose: (request) => this.propose(request),
      linearizableRead: () => this.linearizableRead(),
      header: (revision) => this.header(revision),
      identify: (ctx) => this.identify(ctx),
      appliedIndex: () => this.applier.appliedIndex,
      bcryptCost: authConfig.bcryptCost,
    });
    this.requestTimeoutMs = 5000 + 2 * config.electionTimeoutMs;
    const metrics = config.metrics;
    this.requestOrigin = requestOriginOf(memberId);
    this.waits = new RequestWaits(
      PENDING_PROPOSALS_MAX,
      this.requestTimeoutMs,
      metrics && ((failed) => metrics.proposalFinished(failed)),
      (error) => this.logger.error({ err: error }, 'a request\'s completion callback threw'),
    );
    this.cluster = new ClusterOperations({
      memberId,
      logger,
      config,
      membership: () => this.membership,
      links,
      waits: this.waits,
      requestTimeoutMs: this.requestTimeoutMs,
      isStopped: () => this.stopped,
      nextRequestId: () => this.requestIds.next(),
      requestOrigin: this.requestOrigin,
      proposeRaftConfChange: (cc) => this.raftNode.proposeConfChange(cc),
      raftStatus: () => this.raftNode.rawNode.status(),
      isLeader: () => this.isLeader(),
      askLeader: (path, request) => this.askLeader(path, request),
      linearizableRead: () => this.linearizableRead(),
      header: (revision) => this.header(revision),
      checkRequireLeader: (ctx) => this.checkRequireLeader(ctx),
      identify: (ctx) => this.identify(ctx),
      requireAdmin: (ctx) => this.requireAdmin(ctx),
      markRemovedFromCluster: () => { this.removedFromCluster = true; },
    });
    this.leases = new LeaseOperations({
      logger,
      gate: this.gate,
      lessor: () => this.lessor,
      isStopped: () => this.stopped,
      isLeader: () => this.isLeader(),
      propose: (request) => this.propose(request),
      askLeader: (path, request) => this.askLeader(path, request),
      forwardKeepAlive: (id) => this.keepAliveForwarder.renew(id),
      waitAppliedVisible: () => this.waitAppliedVisible(),
      linearizableRead: () => this.linearizableRead(),
      header: (revision) => this.header(revision),
      checkRequireLeader: (ctx) => this.checkRequireLeader(ctx),
      identify: (ctx) => this.identify(ctx),
      checkQuota: (costBytes) => this.checkQuota(costBytes),
    });
    this.readRounds = new ReadIndexRounds((context) => this.raftNode.readIndex(context), this.requestTimeoutMs, memberId);
    this.dbSize = new DbSizeMeter(join(memberDir, 'db'), DB_SIZE_REFRESH_INTERVAL_MS);
    this.snapshotIndex = memoryStorage.snapshot().metadata.index;
    this.autoCompactor = new AutoCompactor(config.autoCompaction, {
      isLeader: () => this.isLeader(),
      currentRevision: () => this.mvcc.currentRevision,
      compactRevision: () => this.mvcc.compactRevision,
      compact: async (revision) => {
        await this.proposeCompaction(revision, false, undefined);
      },
    }, logger.child({ component: 'auto-compactor' }));
    this.maintenance = new MaintenanceOperations({
      memberId,
      logger,
      config,
      backend,
      memberDir,
      dbSize: this.dbSize,
      requestTimeoutMs: this.requestTimeoutMs,
      membership: () => this.membership,
      mvcc: () => this.mvcc,
      alarms: () => this.alarms,
      leaderId: () => this.softState.lead,
      appliedIndex: () => this.applier.appliedIndex,
      raftStatus: () => this.raftNode.rawNode.status(),
      transferLeader: (targetId) => this.raftNode.transferLeader(targetId),
      isLeader: () => this.isLeader(),
      propose: (request) => this.propose(request),
      header: (revision) => this.header(revision),
      requireAdmin: (ctx) => this.requireAdmin(ctx),
    });
  }

  static async start(config: EtcdServerConfig, logger: Logger): Promise<EtcdServer> {
    const memberDir = join(config.dataDir, 'member');
    refuseEtcdDataDir(config.dataDir, memberDir);
    mkdirSync(memberDir, { recursive: true, mode: 0o700 });
    const metrics = config.metrics;
    // The commit-duration histogram times each batch LevelDB itself writes, not the hand-over.
    const backend = await Backend.open(join(memberDir, 'db'),
      metrics === undefined ? {} : { onCommit: (seconds) => metrics.backendCommitObserved(seconds) });
    let wal: RaftWal | undefined;
    try {
      // --wal-dir puts the log on its own disk, as etcd's does; by default it sits in the member dir.
      const walDir = config.walDir === '' ? join(memberDir, WAL_DIR_NAME) : config.walDir;
      const opened = await RaftWal.open(walDir, backend, { fsync: !config.unsafeNoFsync });
      wal = opened.wal;
      return await EtcdServer.startOn(config, logger, backend, wal, opened.state, memberDir, walDir);
    } catch (error) {
      await wal?.close();
      await backend.close();
      throw error;
    }
  }

  private static async startOn(config: EtcdServerConfig, logger: Logger, backend: Backend, wal: RaftWal,
    persisted: PersistedRaftState, memberDir: string, walDir: string): Promise<EtcdServer> {
    if (await backend.get(RESTORE_MARKER_KEY)) {
      throw new Error('the data dir holds a snapshot install that was interrupted: its state is incomplete; remove the data dir and add the member again');
    }
    let membership = await Membership.load(backend);
    const restarted = membership !== undefined;
    const memoryStorage = new MemoryStorage();
    let memberId: bigint;

    if (!membership) {
      const batch: BatchOp[] = [];
      if (config.initialClusterState === 'new') {
        membership = Membership.bootstrap(config.initialCluster, config.initialClusterToken);
        const self = membership.list().find((m) => m.name === config.name);
        if (!self) throw new Error(`couldn't find local name "${config.name}" in the initial cluster configuration`);
        memberId = self.id;
        // Every member of a new cluster starts from the same Raft state: a snapshot holding the voters.
        memoryStorage.bootstrap({ voters: membership.voterIds(), learners: [] });
        const snapshot = memoryStorage.snapshot();
        await wal.save([{ snapshot: snapshot.metadata, hardState: memoryStorage.initialState().hardState, entries: [] }], true);
        batch.push({ type: 'put', key: APPLIED_INDEX_KEY, value: uint64Bytes(BigInt(snapshot.metadata.index)) });
        logger.info({ 'member-id': memberId.toString(16), 'cluster-id': membership.clusterId.toString(16) }, 'bootstrapped a new cluster');
      } else {
        // Joining: the cluster already added this member (MemberAdd); ask it who we are. The state
        // comes later as a snapshot from the leader.
        const joined = await fetchClusterMembership(config, logger);
        membership = joined.membership;
        memberId = joined.memberId;
        logger.info({ 'member-id': memberId.toString(16), 'cluster-id': membership.clusterId.toString(16) }, 'joining an existing cluster');
      }
      membership.persistAll(batch);
      batch.push({ type: 'put', key: MEMBER_ID_KEY, value: uint64Bytes(memberId) });
      await backend.write(batch, true);
    } else {
      const idBytes = await backend.get(MEMBER_ID_KEY);
      if (!idBytes) throw new Error('data dir has a cluster but no local member id: refusing to start');
      memberId = idBytes.readBigUInt64BE(0);
      if (membership.isRemoved(memberId)) throw new Error('the member has been permanently removed from the cluster');
      if (persisted.snapshot) memoryStorage.applySnapshot({ metadata: persisted.snapshot, data: new Uint8Array(0) });
      if (persisted.hardState) memoryStorage.setHardState(persisted.hardState);
      if (persisted.entries.length > 0) memoryStorage.append(persisted.entries);
    }
    if (config.listenPeerUrls.length === 0 && membership.list().length > 1) {
      throw new Error('a member of a multi-member cluster needs --listen-peer-urls');
    }

    const { state, appliedIndex } = await loadReplicatedState(backend, config);
    // Before Raft or any peer starts, as etcd checks its v2 store before it starts raft.
    if (restarted && config.checkRecoveredState !== undefined) await config.checkRecoveredState(state.mvcc);
    if (restarted && appliedIndex > 0 && !persisted.hardState && !persisted.snapshot) {
      throw new Error(`the write-ahead log in ${walDir} is empty, but the data dir has applied entries up to ${appliedIndex}: ` +
        'is --wal-dir the one this member was started with?');
    }
    if (restarted && persisted.hardState) {
      const recovered = commitCoveringApplied(persisted.hardState, appliedIndex, memoryStorage.lastIndex());
      if (recovered !== persisted.hardState) {
        logger.info({ 'logged-commit': persisted.hardState.commit, commit: recovered.commit }, 'commit index taken from the applied index');
        memoryStorage.setHardState(recovered);
      }
    }
    if (restarted && config.forceNewCluster) {
      await forceNewCluster({ memoryStorage, wal, membership, appliedIndex, memberId, logger: logger.child({ component: 'server' }) });
    }

    // The callbacks below need the server, which needs everything else: tie the knot via a holder.
    const holder: { server?: EtcdServer } = {};
    const server = () => holder.server!;
    const watchHub = new WatchHub({
      history: {
        // Read through the server: an installed snapshot replaces the store.
        get currentRevision() { return (holder.server?.mvcc ?? state.mvcc).currentRevision; },
        get compactRevision() { return (holder.server?.mvcc ?? state.mvcc).compactRevision; },
        history: (from, to, max) => server().mvcc.history(from, to, max),
      },
      maxRequestBytes: config.maxRequestBytes,
      progressNotifyIntervalMs: config.watchProgressNotifyIntervalMs,
      // Until the server exists there are no streams to end: report a leader.
      leader: { hasLeader: () => holder.server === undefined || holder.server.leaderId !== 0n, electionTimeoutMs: config.electionTimeoutMs },
    });
    const listener: ApplyListener = {
      onEvents: (revision: number, events: MvccEvent[]) => watchHub.notify(revision, events),
      applyRaftConfChange: (cc) => {
        rawNode.applyConfChange(cc);
      },
      onMembershipChanged: (cc, member) => holder.server?.cluster.onMembershipChanged(cc, member),
    };
    const slowApplyMs = config.warningApplyDurationMs ?? 100;
    const applier = new Applier({ ...state, listener }, appliedIndex, requestOriginOf(memberId), {
      thresholdMs: slowApplyMs,
      // etcd's warnOfExpensiveRequest: one warning per slow request, and etcd_server_slow_apply_total.
      report: (request, tookMs, outcome) => {
        config.metrics?.slowApplyObserved();
        logger.warn({
          took: `${tookMs.toFixed(3)}ms`, 'expected-duration': `${slowApplyMs}ms`, prefix: '', request: describeRequest(request),
          response: outcome.ok ? 'ok' : `error:${outcome.error.message}`,
        }, 'apply request took too long');
      },
    });
    const electionTicks = Math.max(2, Math.round(config.electionTimeoutMs / config.heartbeatIntervalMs));
    const rawNode = new RawNode({
      id: memberId,
      electionTick: electionTicks,
      heartbeatTick: 1,
      storage: memoryStorage,
      applied: Math.min(appliedIndex, memoryStorage.lastIndex()),
      preVote: config.preVote,
      checkQuorum: true,
      maxSizePerMsgBytes: 1024 * 1024,
      maxInflightMsgs: 512,
      random: Math.random,
      logger: logger.child({ component: 'raft' }),
    });

    let links: MemberLinks;
    let peerTransport: PeerTransport | undefined;
    if (config.listenPeerUrls.length > 0) {
      peerTransport = new PeerTransport({
        localId: memberId,
        clusterId: membership.clusterId,
        logger: logger.child({ component: 'rafthttp' }),
        onMessage: (message) => server().raftNode.step(message),
        onSnapshot: (_message, data) => server().installSnapshot(data),
        snapshotSource: () => snapshotBlobs(backend, memberDir),
        reportUnreachable: (id) => rawNode.reportUnreachable(id),
        reportSnapshot: (id, ok) => rawNode.reportSnapshot(id, ok),
        onLocalMemberRemoved: () => holder.server?.onRemovedByPeers(),
        timings: peerConnectionTimings(config.peerReadTimeoutMs ?? peerConnectionTimeoutMsDefault, config.peerWriteTimeoutMs ?? peerConnectionTimeoutMsDefault),
      });
      const peerLinks = new PeerLinks(peerTransport, memberId);
      peerLinks.syncPeers(membership.list());
      links = peerLinks;
    } else {
      links = new SingleMemberTransport();
    }

    const raftNode = new RaftNode({
      rawNode,
      memoryStorage,
      backend,
      wal,
      applier,
      transport: links,
      tickIntervalMs: config.heartbeatIntervalMs,
      unsafeNoFsync: config.unsafeNoFsync,
      logger,
      metrics: config.metrics,
      hooks: {
        onApplied: (results, index) => server().onApplied(results, index),
        onReadStates: (states) => server().readRounds.onReadStates(states),
        onSoftState: (softState) => server().onSoftState(softState),
        onFlushed: () => server().mvcc.markFlushed(server().mvcc.currentRevision),
        beforeWrite: (batch, index) => server().maybeCompactLog(batch, index),
      },
    });
    holder.server = new EtcdServer(config, logger, backend, memberId, state, watchHub, applier, memoryStorage, raftNode,
      memberDir, links);
    const self = holder.server;
    self.peerTransport = peerTransport;
    if (peerTransport) {
      self.registerPeerHandlers(peerTransport);
      await peerTransport.start(config.listenPeerUrls);
      peerTransport.connectPeers();
      if (restarted && config.initialCorruptCheck && membership.list().length > 1) {
        try {
          await checkInitialHashKv(self.corruptionCheckHost);
        } catch (error) {
          await peerTransport.stop();
          throw error;
        }
      }
    }
    await self.dbSize.measure();
    raftNode.start();
    // A single voter needs nobody's vote: campaign now rather than after an election timeout.
    if (membership.voterIds().length === 1 && membership.voterIds()[0] === memberId) rawNode.campaign();
    else if (peerTransport && config.initialElectionTickAdvance) {
      const transport = peerTransport;
      void advanceInitialElectionTicks({
        electionTicks,
        activePeers: () => transport.activePeerCount(),
        advance: (ticks) => raftNode.advanceTicks(ticks),
        isStopped: () => self.stopped,
        sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref()),
        log: (fields, message) => logger.info({ 'local-member-id': memberId.toString(16), ...fields }, message),
      });
    }
    raftNode.kick();
    self.leases.startExpiryLoop();
    self.autoCompactor.start();
    if ((config.corruptCheckIntervalMs ?? 0) > 0) self.startCorruptionChecks(config.corruptCheckIntervalMs!);
    if ((config.compactHashCheckIntervalMs ?? 0) > 0) self.startCompactHashChecks(config.compactHashCheckIntervalMs!);
    // Publishing starts with the server (etcd's Start runs publish): readers of readyNotify() wait
    // for it; a stop before it succeeds is not an error of anyone's.
    self.readyNotify().catch(() => undefined);
    return self;
  }

  private peerTransport?: PeerTransport;

  private readonly keepAliveForwarder = new KeepAliveForwarder(
    async (ids) => (await this.askLeader<{ ttls: number[] }>('/leases/keepalive', { ids: ids.map(String) })).ttls,
    () => new EtcdError('TooManyRequests'),
  );

  /** Peer RPCs: what raft messages do not carry. */
  private registerPeerHandlers(transport: PeerTransport): void {
    // A joining member learns its id and the cluster's from any member (it has no cluster id yet).
    transport.handle('/members', async () => Buffer.from(JSON.stringify({
      clusterId: this.membership.clusterId.toString(),
      members: this.membership.list().map((m) => encodeMember(m).toString('utf8')),
    })), { acceptAnyCluster: true });
    // etcd's own GET /members (its peer handler's answer), which etcd's and our v2 proxies ask.
    transport.handleGet('/members', () => ({
      headers: { 'content-type': 'application/json', 'x-etcd-cluster-id': this.membership.clusterId.toString(16) },
      body: `${etcdPeerMembersJson(this.membership.list())}\n`,
    }));
    // Keep-alives and TTL reads go to the leader, the only member that tracks expiry.
    transport.handle('/leases/keepalive', async (body) => jsonAnswer(async () => {
      const { ids } = JSON.parse(body.toString('utf8')) as { ids: string[] };
      return { ttls: await this.leases.renewForwarded(ids.map((id) => BigInt(id))) };
    }));
    transport.handle('/leases/timetolive', async (body) => jsonAnswer(async () => {
      const { id, keys } = JSON.parse(body.toString('utf8')) as { id: string; keys: boolean };
      const result = await this.leaseTimeToLive(BigInt(id), keys);
      return { ttl: result.ttl, grantedTtl: result.grantedTtl, keys: result.keys.map((k) => k.toString('base64')) };
    }));
    // A peer's corruption check: HashKV at its revision, with this member's current revision.
    transport.handle('/hashkv', async (body) => jsonAnswer(async () => {
      const { revision } = JSON.parse(body.toString('utf8')) as { revision: number };
      const { hash, compactRevision } = await this.mvcc.hashKv(revision);
      return { hash, compactRevision, revision: this.mvcc.currentRevision };
    }));
    transport.handle('/compaction-hash', async (body) => jsonAnswer(async () => {
      const { revision } = JSON.parse(body.toString('utf8')) as { revision: number };
      const found = this.mvcc.compactionHashes().find((entry) => entry.revision === revision);
      if (found === undefined) throw new Error(`no hash of a compaction at revision ${revision}`);
      return { hash: found.hash };
    }));
    transport.handle('/members/promote', async (body) => jsonAnswer(async () => {
      const { id } = JSON.parse(body.toString('utf8')) as { id: string };
      await this.cluster.promote(BigInt(id));
      return {};
    }));
  }

  /** What the corruption checks need: HashKV here and on the peers, a read barrier, the alarm. */
  private get corruptionCheckHost(): CorruptionCheckHost {
    const requestTimeoutMs = this.requestTimeoutMs;
    return {
      memberId: this.memberId,
      logger: this.logger,
      peerIds: () => this.membership.list().map((member) => member.id).filter((id) => id !== this.memberId),
      localHash: async () => {
        const { hash, hashRevision, compactRevision } = await this.mvcc.hashKv(0);
        return { hash, revision: hashRevision, compactRevision };
      },
      peerHash: async (id: bigint, revision: number): Promise<PeerHash> => {
        const answer = await this.askPeer<PeerHash['answer']>(id, '/hashkv', { revision }, requestTimeoutMs);
        return answer.ok ? { id, answer: answer.value } : { id, error: answer.error };
      },
      linearizableRead: () => this.linearizableRead(),
      isLeader: () => this.isLeader(),
      raiseCorruptAlarm: async () => {
        await this.propose({ requestId: 0, alarm: { action: AlarmAction.ACTIVATE, memberId: 0n, alarm: AlarmType.CORRUPT } });
      },
    };
  }

  /** --corrupt-check-time: the leader compares the members' HashKV every interval, as etcd's monitorKVHash. */
  private startCorruptionChecks(intervalMs: number): void {
    this.logger.info({ 'local-member-id': this.memberId.toString(16), interval: `${intervalMs}ms` }, 'enabled corruption checking');
    let running = false;
    this.corruptionCheckTimer = setInterval(() => {
      if (running || this.stopped || this.alarms.has(AlarmType.CORRUPT)) return;
      running = true;
      checkHashKvAsLeader(this.corruptionCheckHost)
        .catch((error: unknown) => this.logger.warn({ err: error }, 'failed to check hash KV'))
        .finally(() => { running = false; });
    }, intervalMs);
    this.corruptionCheckTimer.unref();
  }

  /** --experimental-compact-hash-check-enabled: the leader compares the members' compaction hashes every interval. */
  private startCompactHashChecks(intervalMs: number): void {
    this.logger.info({ 'local-member-id': this.memberId.toString(16), interval: `${intervalMs}ms` }, 'enabled compaction hash check');
    let running = false;
    let checkedRevision = 0;
    const host: CompactionHashCheckHost = {
      memberId: this.memberId,
      logger: this.logger,
      peerIds: () => this.corruptionCheckHost.peerIds(),
      isLeader: () => this.isLeader(),
      compactionHashes: () => this.mvcc.compactionHashes(),
      peerCompactionHash: async (id, revision) => {
        const answer = await this.askPeer<{ hash: number }>(id, '/compaction-hash', { revision }, this.requestTimeoutMs);
        return answer.ok ? { id, hash: answer.value.hash } : { id, error: answer.error };
      },
      raiseCorruptAlarm: () => this.corruptionCheckHost.raiseCorruptAlarm(),
    };
    this.compactHashCheckTimer = setInterval(() => {
      if (running || this.stopped || this.alarms.has(AlarmType.CORRUPT)) return;
      running = true;
      checkCompactionHashesAsLeader(host, checkedRevision)
        .then(({ revision }) => { if (revision !== undefined) checkedRevision = Math.max(checkedRevision, revision); })
        .catch((error: unknown) => this.logger.warn({ err: error }, 'failed to check compaction hashes'))
        .finally(() => { running = false; });
    }, intervalMs);
    this.compactHashCheckTimer.unref();
  }

  /** Calls `path` on a peer: its JSON answer, or why there is none (its error, or the transport's). */
  private async askPeer<T>(id: bigint, path: string, request: object, timeoutMs: number): Promise<{ ok: true; value: T } | { ok: false; error: string }> {
    if (!this.peerTransport) return { ok: false, error: 'no peer transport' };
    try {
      return decodeJsonAnswer<T>(await this.peerTransport.request(id, path, Buffer.from(JSON.stringify(request)), timeoutMs));
    } catch (error) {
      return { ok: false, error: error instanceof Error ? error.message : String(error) };
    }
  }

  /** Calls `path` on the leader and returns its JSON answer, rethrowing its etcd error. */
  private async askLeader<T>(path: string, request: object): Promise<T> {
    const leader = this.softState.lead;
    if (leader === 0n || !this.peerTransport) throw new EtcdError('NoLeader');
    let reply: Buffer;
    try {
      reply = await this.peerTransport.request(leader, path, Buffer.from(JSON.stringify(request)), this.requestTimeoutMs);
    } catch {
      throw new EtcdError('TimeoutDueToConnectionLost');
    }
    const answer = decodeJsonAnswer<T>(reply);
    if (answer.ok) return answer.value;
    if (answer.error in etcdErrors) throw new EtcdError(answer.error as EtcdErrorName);
    throw new Error(answer.error);
  }

  /**
   * A leader sent a snapshot because this member is behind its log: replace the state with it,
   * with no Raft cycle running meanwhile. A snapshot older than the state we have is not installed.
   */
  private async installSnapshot(data: AsyncIterable<Buffer>): Promise<void> {
    await this.raftNode.exclusive(async () => {
      const installed = await installBackendSnapshot(this.backend, data, this.memberDir,
        (appliedIndex) => appliedIndex > this.applier.appliedIndex);
      if (!installed) return;
      const { state, appliedIndex } = await loadReplicatedState(this.backend, this.config);
      ({ membership: this.membership, mvcc: this.mvcc, lessor: this.lessor, alarms: this.alarms, auth: this.authStore } = state);
      this.applier.replaceState(state, appliedIndex);
      this.appliedWaits.notify(appliedIndex);
      if (this.links instanceof PeerLinks) this.links.syncPeers(state.membership.list());
      this.watchHub.restored(state.mvcc.currentRevision);
      this.logger.info({ 'applied-index': appliedIndex, revision: state.mvcc.currentRevision }, 'installed a snapshot from the leader');
    });
  }

  private onRemovedByPeers(): void {
    if (this.removedFromCluster) return;
    this.logger.warn({ 'member-id': this.memberId.toString(16) }, 'the member has been permanently removed from the cluster');
    this.removedFromCluster = true;
    setImmediate(() => void this.stop().finally(() => this.onRemoved?.()));
  }

  /**
   * Settles once this member has published its attributes (name, client URLs) through the log, as
   * etcd's publish does before its ReadyNotify fires: from then on it serves clients. Started with
   * the server; it retries until it succeeds and rejects only when the server stops first.
   */
  private publishing?: Promise<void>;

  /** Resolves once the member is ready to serve clients (etcd's ReadyNotify); never times out. */
  readyNotify(): Promise<void> {
    this.publishing ??= this.publishUntilDone();
    return this.publishing;
  }

  /** Resolves once this member is leader (or knows one) and has published itself. */
  async waitReady(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error('server did not become ready in time')), timeoutMs);
    });
    try {
      await Promise.race([this.readyNotify(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async publishUntilDone(): Promise<void> {
    while (!this.published) {
      if (this.stopped) throw new EtcdError('Stopped');
      if (this.softState.lead !== 0n) {
        try {
          await this.propose({
            requestId: 0,
            memberAttributes: { memberId: this.memberId, name: this.config.name, clientUrls: this.config.advertiseClientUrls },
          });
          this.published = true;
          this.logger.info({ 'member-id': this.memberId.toString(16), name: this.config.name, 'client-urls': this.config.advertiseClientUrls },
            'published local member to cluster through raft');
          break;
        } catch (error) {
          if (this.stopped) throw new EtcdError('Stopped');
          this.logger.warn({ err: error }, 'publishing member attributes failed; retrying');
        }
      }
      await new Promise((resolve) => setTimeout(resolve, PUBLISH_RETRY_MS));
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    if (!this.removedFromCluster) await this.maintenance.transferLeadershipBeforeStop();
    this.stopped = true;
    this.leases.stopExpiryLoop();
    this.autoCompactor.stop();
    clearInterval(this.corruptionCheckTimer);
    clearInterval(this.compactHashCheckTimer);
    this.watchHub.close();
    await this.raftNode.stop();
    await this.peerTransport?.stop();
    this.waits.failAll(new EtcdError('Stopped'));
    this.readRounds.failAll(new EtcdError('Stopped'));
    await this.backend.close();
  }

  // ---- Raft driver hooks ----

  private onApplied(results: AppliedRequest[], appliedIndex: number): void {
    // The answers go out after this cycle's watch events. Apply queued those, and a watch stream
    // flushes in a microtask (lean-duplex-call.ts): answers settled in a microtask queued now reach
    // their connections after them, so a watcher hears of a put no later than its writer does
    // (etcd's watch-latency bench times from the put's answer to each watcher's event). Settled
    // right here, the answers left first: watch-latency p50 was 0.26 ms against etcd's 0.12.
    if (results.length > 0) queueMicrotask(() => this.settleApplied(results));
    this.appliedWaits.notify(appliedIndex);
    if (this.removedFromCluster && !this.stopped) {
      setTimeout(() => void this.stop().finally(() => this.onRemoved?.()), REMOVED_MEMBER_STOP_DELAY_MS);
    }
  }

  private settleApplied(results: AppliedRequest[]): void {
    for (const { requestId, outcome } of results) this.waits.settle(requestId, outcome);
  }

  private onSoftState(softState: SoftState): void {
    const wasLeader = this.softState.role === 'leader';
    if (softState.lead !== 0n && softState.lead !== this.softState.lead) this.config.metrics?.leaderChanged();
    this.softState = softState;
    const isLeader = softState.role === 'leader';
    if (isLeader && !wasLeader) {
      this.lessor.promote(this.config.electionTimeoutMs);
      this.logger.info({ 'member-id': this.memberId.toString(16), 'raft-term': this.term() }, 'became leader');
    } else if (!isLeader && wasLeader) {
      this.lessor.demote();
      this.leases.onLeadershipLost();
    }
  }

  /**
   * Log compaction: every --snapshot-count applied entries, the applied state (which lives in
   * LevelDB already) becomes the snapshot point. The in-memory log keeps --snapshot-catchup-entries
   * behind it for slow followers; the Raft driver records the marker in the write-ahead log and
   * releases the log's segments behind it once LevelDB's copy of the state is synced.
   */
  private maybeCompactLog(batch: BatchOp[], appliedIndex: number): SnapshotMetadata | undefined {
    // A snapshot from the leader moved the log's snapshot point: count from there (compacting at or
    // below it would be refused by the log: SnapOutOfDate).
    this.snapshotIndex = Math.max(this.snapshotIndex, this.memoryStorage.snapshot().metadata.index);
    if (appliedIndex - this.snapshotIndex < this.config.snapshotCount) return undefined;
    // Right after installing a leader's state, the state can be ahead of the Raft log (the state was
    // taken after the Raft snapshot index it travels with): Raft can only snapshot at an index its
    // log holds, so compaction waits until the log has caught up with the state.
    if (appliedIndex > this.memoryStorage.lastIndex()) return undefined;
    const confState = { voters: this.membership.voterIds(), learners: this.membership.learnerIds() };
    const snapshot = this.memoryStorage.createSnapshot(appliedIndex, confState, new Uint8Array(0));
    const compactIndex = Math.max(this.memoryStorage.firstIndex(), appliedIndex - this.config.snapshotCatchupEntries);
    if (compactIndex > this.memoryStorage.firstIndex()) this.memoryStorage.compact(compactIndex - 1);
    this.snapshotIndex = appliedIndex;
    return snapshot.metadata;
  }

  // ---- Proposals and reads ----

  /** Proposes the request; settles with its apply outcome. Never throws: a refusal is a rejection. */
  private propose(request: InternalRequest): Promise<Applied> {
    return new Promise<Applied>((resolve, reject) => {
      this.proposeWith(request, (settled) => (settled.ok ? resolve(settled) : reject(settled.error)));
    });
  }

  /**
   * Proposes the request; `settled` gets its apply outcome, or the refusal, once. Never throws. The
   * write path of the gRPC API answers through this: no promise, async frame or microtask per write.
   */
  private proposeWith(request: InternalRequest, settled: SettledCallback, target?: unknown): void {
    let requestId: number;
    let data: Buffer;
    try {
      if (this.stopped) throw new EtcdError('Stopped');
      if (this.raftNode.rawNode.committedIndex - this.applier.appliedIndex > APPLY_GAP_MAX) throw new EtcdError('TooManyRequests');
      requestId = this.requestIds.next();
      data = this.encodeProposal(request, requestId);
      // Counted as pending from here; the waits report its end (applied, failed or timed out).
      this.config.metrics?.proposalStarted();
      this.waits.registerCallback(requestId, true, settled, target);
    } catch (error) {
      settled({ ok: false, error }, target);
      return;
    }
    // From here the waiter alone releases the request.
    try {
      this.raftNode.propose(data);
    } catch (error) {
      this.waits.fail(requestId, error instanceof RaftError ? new EtcdError('NoLeader') : error);
    }
  }

  /** The request as a log entry's data, in the entry arena; refuses one over --max-request-bytes. */
  private encodeProposal(request: InternalRequest, requestId: number): Buffer {
    // A put is encoded in place in the arena (its size is known first); anything else is copied in.
    const exactBytes = exactEncodedBytes(request);
    if (exactBytes !== undefined) {
      if (exactBytes > this.config.maxRequestBytes) throw new EtcdError('RequestTooLarge');
      const data = this.entryArena.allocate(exactBytes);
      encodeInternalRequest(request, requestId, this.requestOrigin, data);
      return data;
    }
    const encoded = encodeInternalRequest(request, requestId, this.requestOrigin);
    if (encoded.length > this.config.maxRequestBytes) throw new EtcdError('RequestTooLarge');
    return this.entryArena.copy(encoded);
  }

  /**
   * etcd's waitAppliedIndex before a leader renews a lease, over what any member may have answered:
   * a follower that committed a grant on its own (Raft.visibleCommitIndex) may have answered it
   * before this leader heard its ack, and the client's first keep-alive, forwarded here, must find
   * the lease (the 3-member lease-keepalive bench saw "requested lease not found" without this);
   * so must a revoke a follower answered stop a renewal. Bounded as etcd's (its 1 s applyTimeout).
   */
  private async waitAppliedVisible(): Promise<void> {
    const index = this.raftNode.rawNode.visibleCommitIndex;
    if (index <= this.applier.appliedIndex) return;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), APPLIED_WAIT_TIMEOUT_MS); });
    const outcome = await Promise.race([this.appliedWaits.wait(index, this.applier.appliedIndex), timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') throw new EtcdError('TimeoutWaitAppliedIndex');
  }

  private async linearizableRead(): Promise<void> {
    // A one-voter cluster's leader confirms its leadership with nobody: Raft answers its read
    // index at once, so the round (a Ready cycle, two timers) is skipped; same index either way.
    // Only while no cycle runs: then everything applied is also in the log on disk, as a round's
    // answer (which comes after its Ready's log write) guarantees.
    const local = this.raftNode.idle ? this.raftNode.rawNode.singletonReadIndex() : undefined;
    const index = local ?? await this.readRounds.readIndex();
    await this.appliedWaits.wait(index, this.applier.appliedIndex);
  }

  private term(): number {
    return this.raftNode.rawNode.term;
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

  /** Who is asking: a token's user, else a verified client certificate's CN (as etcd), else nobody. */
  private identify(ctx?: RequestContext): RequestAuth {
    if (ctx?.internal) return this.gate.trusted();
    if ((ctx?.token === undefined || ctx.token === '') && ctx?.certCommonName) return this.gate.identifyCommonName(ctx.certCommonName);
    return this.gate.identify(ctx?.token);
  }

  /** Admin-only calls (maintenance, membership, compaction) need the root role when auth is on. */
  private requireAdmin(ctx?: RequestContext): RequestAuth {
    const auth = this.identify(ctx);
    this.gate.requireAdmin(auth);
    return auth;
  }

  private readonly leaseKeys = (leaseId: bigint): Buffer[] => this.lessor.timeToLive(leaseId)?.keys ?? [];

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
    void this.propose({ requestId: 0, alarm: { action: AlarmAction.ACTIVATE, memberId: this.memberId, alarm: AlarmType.NOSPACE } })
      .catch((error) => this.logger.warn({ err: error }, 'raising the NOSPACE alarm failed'));
    this.logger.warn({ quotaBytes: this.config.quotaBackendBytes, dbSizeBytes: this.dbSize.cachedBytes }, 'database space exceeded; NOSPACE alarm raised');
    throw new EtcdError('NoSpace');
  }

  // ---- KV ----

  async range(request: RangeRequest, ctx?: RequestContext): Promise<{ header: ResponseHeader; result: RangeResult }> {
    this.checkRequireLeader(ctx);
    this.checkCorrupt();
    validateRange(request);
    // The token is looked up after the read-index wait, as etcd does: a linearizable read sees the
    // auth changes applied before it, so a token a password change or a user deletion dropped is
    // "invalid auth token", not "revision of auth store is old" for the revision it was read at.
    if (!request.serializable) await this.linearizableRead();
    const auth = this.identify(ctx);
    this.gate.requireKeys(auth, () => rangeAccess(request));
    const result = await this.mvcc.range(request);
    return { header: this.header(), result };
  }

  put(request: PutRequest, ctx?: RequestContext): Promise<{ header: ResponseHeader; result: PutResult }> {
    return new Promise((resolve, reject) => {
      this.putWith(request, ctx, (error, response) => (error === undefined ? resolve(response!) : reject(error)));
    });
  }

  /** put(), answered through a callback (see proposeWith); `done` is called once and never throws. */
  putWith(request: PutRequest, ctx: RequestContext | undefined, done: Completion<{ header: ResponseHeader; result: PutResult }>): void {
    let auth: RequestAuth;
    try {
      auth = this.admitPut(request, ctx);
    } catch (error) {
      done(error);
      return;
    }
    this.proposeWith({ requestId: 0, put: request, auth }, this.answerPut, done);
  }

  /** put()'s checks before it is proposed; the request's auth. */
  private admitPut(request: PutRequest, ctx: RequestContext | undefined): RequestAuth {
    this.checkRequireLeader(ctx);
    validatePut(request);
    const auth = this.identify(ctx);
    this.gate.requireKeys(auth, () => putAccess(request, this.leaseKeys));
    this.checkQuota(request.key.length + request.value.length);
    return auth;
  }

  /**
   * Answers a put: its waiter's target is the caller's completion. One function for every put: a
   * put waits for its Raft cycle with up to a thousand others, and a closure per put (with its
   * context) was copied by each young-generation collection of that wait. Nothing here holds the
   * request (or the socket read its key and value are views of) until the answer.
   */
  private readonly answerPut: SettledCallback = (settled, target) => {
    const done = target as Completion<{ header: ResponseHeader; result: PutResult }>;
    if (settled.ok) done(undefined, { header: this.header(settled.revision), result: settled.value as PutResult });
    else done(settled.error);
  };

  async deleteRange(request: DeleteRangeRequest, ctx?: RequestContext): Promise<{ header: ResponseHeader; result: DeleteRangeResult }> {
    this.checkRequireLeader(ctx);
    validateDeleteRange(request);
    const auth = this.identify(ctx);
    this.gate.requireKeys(auth, () => deleteRangeAccess(request));
    const { value, revision } = await this.propose({ requestId: 0, deleteRange: request, auth });
    return { header: this.header(revision), result: value as DeleteRangeResult };
  }

  async txn(request: TxnRequest, ctx?: RequestContext): Promise<{ header: ResponseHeader; result: TxnResult }> {
    this.checkRequireLeader(ctx);
    validateTxn(request, this.config.maxTxnOps);
    if (isReadOnlyTxn(request)) {
      // etcd serves a read-only txn like a read: no log entry, no new revision. Its token is looked
      // up after the read-index wait, as range's.
      if (!isSerializableTxn(request)) await this.linearizableRead();
      this.gate.requireKeys(this.identify(ctx), () => txnAccess(request, this.leaseKeys));
      const prefetch = await this.mvcc.prefetchTxn(request);
      const batch: BatchOp[] = [];
      const { result } = this.mvcc.txn(request, prefetch, batch);
      if (batch.length !== 0) throw new Error('read-only txn produced writes');
      return { header: this.header(), result };
    }
    const auth = this.identify(ctx);
    this.gate.requireKeys(auth, () => txnAccess(request, this.leaseKeys));
    if (txnPutBytes(request) > 0) this.checkQuota(txnPutBytes(request));
    const { value, revision } = await this.propose({ requestId: 0, txn: request, auth });
    return { header: this.header(revision), result: value as TxnResult };
  }

  async compact(revision: number, physical: boolean, ctx?: RequestContext): Promise<{ header: ResponseHeader }> {
    this.checkRequireLeader(ctx);
    return this.proposeCompaction(revision, physical, this.requireAdmin(ctx));
  }

  /** `auth` undefined: the server's own compaction (auto-compaction), which no user asked for. */
  private async proposeCompaction(revision: number, physical: boolean, auth: RequestAuth | undefined): Promise<{ header: ResponseHeader }> {
    const applied = await this.propose({ requestId: 0, compaction: { revision, physical }, ...(auth ? { auth } : {}) });
    if (physical) await (applied.value as { physicalDone: Promise<void> }).physicalDone;
    return { header: this.header(applied.revision) };
  }

  // ---- Leases ----

  leaseGrant(ttlSeconds: number, id: bigint, ctx?: RequestContext): Promise<{ header: ResponseHeader; id: bigint; ttl: number }> {
    return this.leases.leaseGrant(ttlSeconds, id, ctx);
  }

  leaseRevoke(id: bigint, ctx?: RequestContext): Promise<{ header: ResponseHeader }> {
    return this.leases.leaseRevoke(id, ctx);
  }

  leaseKeepAlive(id: bigint, ctx?: RequestContext): Promise<{ header: ResponseHeader; id: bigint; ttl: number }> {
    return this.leases.leaseKeepAlive(id, ctx);
  }

  leaseTimeToLive(id: bigint, keys: boolean, ctx?: RequestContext): Promise<LeaseTimeToLiveResult> {
    return this.leases.leaseTimeToLive(id, keys, ctx);
  }

  leaseLeases(ctx?: RequestContext): Promise<{ header: ResponseHeader; leases: bigint[] }> {
    return this.leases.leaseLeases(ctx);
  }

  // ---- Watch ----

  openWatchStream(send: (response: WatchStreamResponse) => boolean, ctx?: RequestContext, onClosed?: (reason: Error) => void): WatchStream {
    this.checkRequireLeader(ctx);
    const stream = this.watchHub.openStream(send, { requireLeader: ctx?.requireLeader === true, onClosed });
    const token = ctx?.token;
    return {
      // A watch on keys the caller may not read is answered created-and-canceled, as by etcd; the
      // stream stays open for other watches.
      create: (request) => {
        if (!this.watchPermitted(token, request.key, request.rangeEnd)) {
          send({
            revision: this.mvcc.currentRevision, watchId: -1, created: true, canceled: true, compactRevision: 0,
            cancelReason: WATCH_PERMISSION_DENIED, fragment: false, events: [],
          });
          return;
        }
        stream.create(request);
      },
      cancel: (watchId) => stream.cancel(watchId),
      progress: () => stream.progress(),
      resume: () => stream.resume(),
      close: () => stream.close(),
    };
  }

  private watchPermitted(token: string | undefined, key: Buffer, rangeEnd: Buffer): boolean {
    if (!this.authStore.enabled) return true;
    try {
      this.gate.requireKeys(this.gate.identify(token), () => [{ access: 'read', key, rangeEnd }]);
      return true;
    } catch (error) {
      if (isEtcdError(error)) return false;
      throw error;
    }
  }

  // ---- Cluster ----

  memberList(linearizable: boolean, ctx?: RequestContext): Promise<{ header: ResponseHeader; members: Member[] }> {
    return this.cluster.memberList(linearizable, ctx);
  }

  memberAdd(peerUrls: string[], isLearner: boolean, ctx?: RequestContext): Promise<{ header: ResponseHeader; member: Member; members: Member[] }> {
    return this.cluster.memberAdd(peerUrls, isLearner, ctx);
  }

  memberRemove(id: bigint, ctx?: RequestContext): Promise<{ header: ResponseHeader; members: Member[] }> {
    return this.cluster.memberRemove(id, ctx);
  }

  memberUpdate(id: bigint, peerUrls: string[], ctx?: RequestContext): Promise<{ header: ResponseHeader; members: Member[] }> {
    return this.cluster.memberUpdate(id, peerUrls, ctx);
  }

  memberPromote(id: bigint, ctx?: RequestContext): Promise<{ header: ResponseHeader; members: Member[] }> {
    return this.cluster.memberPromote(id, ctx);
  }

  // ---- Maintenance ----

  status(ctx?: RequestContext): Promise<StatusResult> {
    return this.maintenance.status(ctx);
  }

  peerNetworkMetrics(): PeerNetworkStats[] {
    return this.peerTransport?.networkStats() ?? [];
  }

  mvccMetrics(): MvccMetrics {
    const hub = this.watchHub;
    return {
      compactRevision: this.mvcc.compactRevision, watchStreams: hub.streamCount, watchers: hub.watcherCount,
      slowWatchers: hub.unsyncedWatcherCount, eventsSent: hub.eventsSent,
    };
  }

  hash(ctx?: RequestContext): Promise<{ header: ResponseHeader; hash: number }> {
    return this.maintenance.hash(ctx);
  }

  hashKv(revision: number, ctx?: RequestContext): Promise<{ header: ResponseHeader; hash: number; compactRevision: number; hashRevision: number }> {
    return this.maintenance.hashKv(revision, ctx);
  }

  alarm(action: number, memberId: bigint, alarm: number, ctx?: RequestContext): Promise<{ header: ResponseHeader; alarms: AlarmMember[] }> {
    return this.maintenance.alarm(action, memberId, alarm, ctx);
  }

  defragment(ctx?: RequestContext): Promise<{ header: ResponseHeader }> {
    return this.maintenance.defragment(ctx);
  }

  snapshot(ctx?: RequestContext): AsyncIterable<{ header: ResponseHeader; remainingBytes: number; blob: Buffer }> {
    return this.maintenance.snapshot(ctx);
  }

  moveLeader(targetId: bigint, ctx?: RequestContext): Promise<{ header: ResponseHeader }> {
    return this.maintenance.moveLeader(targetId, ctx);
  }

  isServing(): boolean {
    if (this.config.stopGrpcServiceOnDefrag === true && this.maintenance.defragmenting) return false;
    return !this.stopped && this.softState.lead !== 0n;
  }

  /** Nothing in flight: no request waits for its apply and no Raft cycle is under way (idle-scavenge.ts). */
  get quiet(): boolean {
    return this.waits.size === 0 && this.raftNode.idle;
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
}

async function* snapshotBlobs(backend: Backend, scratchDir: string): AsyncGenerator<Buffer> {
  for await (const { blob } of streamBackendSnapshot(backend, scratchDir)) yield blob;
}

/** A peer RPC answer: the value, or the etcd error name so the asking member can rethrow it. */
/** A peer RPC's answer as jsonAnswer wrote it: the value, or the etcd error name (or message) it failed with. */
function decodeJsonAnswer<T>(reply: Buffer): { ok: true; value: T } | { ok: false; error: EtcdErrorName | string } {
  return JSON.parse(reply.toString('utf8')) as { ok: true; value: T } | { ok: false; error: EtcdErrorName | string };
}

async function jsonAnswer(task: () => Promise<unknown>): Promise<Buffer> {
  try {
    return Buffer.from(JSON.stringify({ ok: true, value: await task() }));
  } catch (error) {
    const name = isEtcdError(error) ? error.errorName : error instanceof Error ? error.message : String(error);
    return Buffer.from(JSON.stringify({ ok: false, error: name }));
  }
}

function uint64Bytes(value: bigint): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(value);
  return out;
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

/**
 * etcd's JSON for its members on the peer URL's GET /members: ids as JSON numbers (a uint64, so
 * written out here: JSON.stringify cannot hold one exactly), sorted by id; isLearner, name and
 * clientURLs only when set, as Go's omitempty leaves them.
 */
export function etcdPeerMembersJson(members: readonly Member[]): string {
  const parts = [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((m) => {
    let json = `{"id":${m.id.toString()},"peerURLs":${JSON.stringify(m.peerUrls)}`;
    if (m.isLearner) json += ',"isLearner":true';
    if (m.name !== '') json += `,"name":${JSON.stringify(m.name)}`;
    if (m.clientUrls.length > 0) json += `,"clientURLs":${JSON.stringify(m.clientUrls)}`;
    return `${json}}`;
  });
  return `[${parts.join(',')}]`;
}
