// etcd's Prometheus metrics for /metrics, with etcd's names and help texts. Two sources:
// - pulled at scrape time from EtcdServerApi (leader, raft indexes, db size, key count, revision),
//   so they are exactly what the server reports at that moment;
// - pushed by whoever observes the event: the gateway counts handled calls, and the gRPC layer
//   counts them in arrays (grpcHandledCounts) read at scrape time; the server's raft driver
//   reports through ServerMetricsRecorder; the client listener reports which path each HTTP/2
//   connection took. A pushed metric is created on its first report, so a hook nobody wired never
//   shows up as a made-up zero.
import { readFileSync } from 'node:fs';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from 'pino';
import type { EtcdServerApi, MvccMetrics, PeerNetworkStats } from '../../server/server-api.js';
import { flowSlot, GrpcHandledCounts, grpcStatusCodeCount, type MethodHandledCounts } from '../grpc/handled-counts.js';

// What the server reports is declared on the server's side (the server never imports this layer).
import type { ServerMetricsRecorder } from '../../server/server-metrics.js';

export type { ServerMetricsRecorder };

const grpcCodeNames = [
  'OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists', 'PermissionDenied',
  'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable',
  'DataLoss', 'Unauthenticated',
];

/**
 * How often the monitor behind nodejs_eventloop_lag_* (prom-client's default metrics) samples the
 * event loop. Each sample is a timer that wakes the main thread; at prom-client's default of 10 ms
 * an idle one-member server woke 110 times a second and used 1.15% of a core (etcd 3.4: 0.5%), a
 * three-member cluster 1.5–1.7% per member (etcd: 0.9–1.1%); sampling once a second, 0.6–0.8% and
 * 0.7–1.3%. That still gives each 15 s scrape its lag percentiles.
 */
export const eventLoopMonitorResolutionMs = 1000;

/** etcd's disk latency buckets: 1 ms doubling to about 8 s. */
const diskDurationBucketsSeconds = Array.from({ length: 14 }, (_, i) => 0.001 * 2 ** i);

export interface EtcdMetricsOptions {
  /** The etcd API version we present (--etcd-version), e.g. 3.5.17. */
  etcdVersion: string;
  /** process_* and nodejs_* metrics of this process; off in tests that build many registries. */
  processMetrics?: boolean;
  /** etcd_server_quota_backend_bytes: --quota-backend-bytes as etcd shows it (its default for 0). */
  quotaBackendBytes?: number;
}

/** The process_* series (and Node's own), as etcd's Go collector gives them; the member's and the v2 proxy's /metrics. */
export function registerProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: eventLoopMonitorResolutionMs });
  // The one process_* series of etcd's Go collector that prom-client lacks.
  if (addressSpaceLimitBytes() !== undefined) {
    new Gauge({
      name: 'process_virtual_memory_max_bytes', help: 'Maximum amount of virtual memory available in bytes.', registers: [registry],
      collect() { this.set(addressSpaceLimitBytes() ?? -1); },
    });
  }
}

export class EtcdMetrics implements ServerMetricsRecorder {
  readonly registry = new Registry();
  /**
   * gRPC calls, counted by the gRPC layer (api/grpc/lean-path.ts, counting-interceptor.ts) and the
   * gateway, and read at each scrape.
   */
  readonly grpcHandledCounts = new GrpcHandledCounts();
  /** What grpcHandledCounts had at the last scrape, per method: the counters get the difference. */
  private readonly grpcHandledReported = new Map<MethodHandledCounts, Float64Array>();
  private readonly grpcFlowReported = new Map<MethodHandledCounts, Float64Array>();
  private readonly hasLeader: Gauge;
  private readonly isLeader: Gauge;
  private readonly serverId: Gauge;
  private readonly proposalsCommitted: Gauge;
  private readonly proposalsApplied: Gauge;
  private readonly dbTotalSize: Gauge;
  private readonly dbTotalSizeInUse: Gauge;
  private readonly isLearner: Gauge;
  private readonly keysTotal: Gauge;
  private readonly currentRevision: Gauge;
  private readonly healthSuccess: Counter;
  private readonly healthFailures: Counter;
  private leaderChanges?: Counter;
  private mvccSeries?: MvccSeries;
  private peerSeries?: PeerSeries;
  private proposalsPending?: Gauge;
  private pendingProposals = 0;
  private proposalsFailed?: Counter;
  private slowApplies?: Counter;
  private walFsyncDuration?: DeferredHistogram;
  private backendCommitDuration?: DeferredHistogram;

  constructor(options: EtcdMetricsOptions) {
    const registers = [this.registry];
    const gauge = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name, help, labelNames, registers });
    this.hasLeader = gauge('etcd_server_has_leader', 'Whether or not a leader exists. 1 is existence, 0 is not.');
    this.isLeader = gauge('etcd_server_is_leader', 'Whether or not this member is a leader. 1 if is, 0 otherwise.');
    this.serverId = gauge('etcd_server_id', "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.", ['server_id']);
    this.proposalsCommitted = gauge('etcd_server_proposals_committed_total', 'The total number of consensus proposals committed.');
    this.proposalsApplied = gauge('etcd_server_proposals_applied_total', 'The total number of consensus proposals applied.');
    this.dbTotalSize = gauge('etcd_mvcc_db_total_size_in_bytes', 'Total size of the underlying database physically allocated in bytes.');
    this.dbTotalSizeInUse = gauge('etcd_mvcc_db_total_size_in_use_in_bytes', 'Total size of the underlying database logically in use in bytes.');
    this.isLearner = gauge('etcd_server_is_learner', 'Whether or not this member is a learner. 1 if is, 0 otherwise.');
    if (options.quotaBackendBytes !== undefined) {
      gauge('etcd_server_quota_backend_bytes', 'Current backend storage quota size in bytes.').set(options.quotaBackendBytes);
    }
    this.keysTotal = gauge('etcd_debugging_mvcc_keys_total', 'Total number of keys.');
    this.currentRevision = gauge('etcd_debugging_mvcc_current_revision', 'The current revision of store.');
    const majorMinor = options.etcdVersion.split('.').slice(0, 2).join('.');
    gauge('etcd_server_version', "Which version is running. 1 for 'server_version' label with current version.", ['server_version'])
      .set({ server_version: options.etcdVersion }, 1);
    gauge('etcd_cluster_version', "Which version is running. 1 for 'cluster_version' label with current cluster version", ['cluster_version'])
      .set({ cluster_version: majorMinor }, 1);
    const metrics = this;
    new Counter({
      name: 'grpc_server_handled_total',
      help: 'Total number of RPCs completed on the server, regardless of success or failure.',
      labelNames: ['grpc_code', 'grpc_method', 'grpc_service', 'grpc_type'],
      registers,
      collect() {
        metrics.collectGrpcHandled(this);
      },
    });
    // grpc-prometheus's other series, listed and counted alike (etcd's Grafana dashboard reads
    // started minus handled as the streams open).
    const flowCounter = (name: string, help: string, slot: number) => new Counter({
      name, help, labelNames: ['grpc_method', 'grpc_service', 'grpc_type'], registers,
      collect() {
        metrics.collectGrpcFlow(this, slot);
      },
    });
    flowCounter('grpc_server_started_total', 'Total number of RPCs started on the server.', flowSlot.started);
    flowCounter('grpc_server_msg_received_total', 'Total number of RPC stream messages received on the server.', flowSlot.received);
    flowCounter('grpc_server_msg_sent_total', 'Total number of gRPC stream messages sent by the server.', flowSlot.sent);
    // etcd counts these in its gRPC codec: every message's protobuf bytes, all methods together.
    const bytesCounter = (name: string, help: string, slot: number) => {
      let reported = 0;
      return new Counter({
        name, help, registers,
        collect() {
          let total = 0;
          for (const counts of metrics.grpcHandledCounts.methods()) total += counts.flow[slot]!;
          this.inc(total - reported);
          reported = total;
        },
      });
    };
    bytesCounter('etcd_network_client_grpc_received_bytes_total', 'The total number of bytes received from grpc clients.', flowSlot.receivedBytes);
    bytesCounter('etcd_network_client_grpc_sent_bytes_total', 'The total number of bytes sent to grpc clients.', flowSlot.sentBytes);
    this.healthSuccess = new Counter({ name: 'etcd_server_health_success', help: 'The total number of successful health checks', registers });
    this.healthFailures = new Counter({ name: 'etcd_server_health_failures', help: 'The total number of failed health checks', registers });
    if (options.processMetrics ?? true) registerProcessMetrics(this.registry);
  }

  /**
   * Adds what the gRPC layer counted since the last scrape. A method seen for the first time has
   * all its codes listed, at 0 when none ended so, as etcd's grpc-prometheus lists them.
   */
  private collectGrpcHandled(counter: Counter): void {
    for (const counts of this.grpcHandledCounts.methods()) {
      let reported = this.grpcHandledReported.get(counts);
      const first = reported === undefined;
      if (reported === undefined) {
        reported = new Float64Array(grpcStatusCodeCount);
        this.grpcHandledReported.set(counts, reported);
      }
      for (let code = 0; code < grpcStatusCodeCount; code++) {
        const delta = counts.byCode[code]! - reported[code]!;
        if (delta === 0 && !first) continue;
        reported[code] = counts.byCode[code]!;
        counter.inc({ grpc_code: grpcCodeNames[code]!, grpc_method: counts.method, grpc_service: counts.service, grpc_type: counts.type }, delta);
      }
    }
  }

  /** Like collectGrpcHandled, for one slot of the methods' flow counts (started, received, sent). */
  private collectGrpcFlow(counter: Counter, slot: number): void {
    for (const counts of this.grpcHandledCounts.methods()) {
      let reported = this.grpcFlowReported.get(counts);
      if (reported === undefined) {
        // -1: never reported, so listed even at 0.
        reported = new Float64Array(counts.flow.length).fill(-1);
        this.grpcFlowReported.set(counts, reported);
      }
      const value = counts.flow[slot]!;
      if (value === reported[slot]) continue;
      const delta = reported[slot]! < 0 ? value : value - reported[slot]!;
      reported[slot] = value;
      counter.inc({ grpc_method: counts.method, grpc_service: counts.service, grpc_type: counts.type }, delta);
    }
  }

  healthChecked(healthy: boolean): void {
    (healthy ? this.healthSuccess : this.healthFailures).inc();
  }

  leaderChanged(): void {
    this.leaderChanges ??= new Counter({
      name: 'etcd_server_leader_changes_seen_total', help: 'The number of leader changes seen.', registers: [this.registry],
    });
    this.leaderChanges.inc();
  }

  // Two calls per write request: a plain count, read by the gauge at scrape time (prom-client's
  // inc/dec hash a label set and allocate on every call).
  proposalStarted(): void {
    this.pending();
    this.pendingProposals++;
  }

  slowApplyObserved(): void {
    this.pending();
    this.slowApplies!.inc();
  }

  proposalFinished(failed: boolean): void {
    this.pendingProposals--;
    if (!failed) return;
    this.pending();
    this.proposalsFailed!.inc();
  }

  walFsyncObserved(durationSeconds: number): void {
    this.walFsyncDuration ??= new DeferredHistogram(this.registry, 'etcd_disk_wal_fsync_duration_seconds',
      'The latency distributions of fsync called by WAL.', diskDurationBucketsSeconds);
    this.walFsyncDuration.observe(durationSeconds);
  }

  backendCommitObserved(durationSeconds: number): void {
    this.backendCommitDuration ??= new DeferredHistogram(this.registry, 'etcd_disk_backend_commit_duration_seconds',
      'The latency distributions of commit called by backend.', diskDurationBucketsSeconds);
    this.backendCommitDuration.observe(durationSeconds);
  }

  private pending(): void {
    if (this.proposalsPending !== undefined) return;
    // Listed at 0 from the first proposal on, as etcd lists it from the start (a rate over it needs the series).
    this.proposalsFailed = new Counter({
      name: 'etcd_server_proposals_failed_total', help: 'The total number of failed proposals seen.', registers: [this.registry],
    });
    this.slowApplies = new Counter({
      name: 'etcd_server_slow_apply_total', help: 'The total number of slow apply requests (likely overloaded from slow disk).', registers: [this.registry],
    });
    const metrics = this;
    this.proposalsPending = new Gauge({
      name: 'etcd_server_proposals_pending', help: 'The current number of pending proposals to commit.', registers: [this.registry],
      collect() { this.set(metrics.pendingProposals); },
    });
  }

  /** Reads the server's current state into the pulled gauges; a failed read leaves them unset. */
  async refreshFrom(server: EtcdServerApi, logger: Logger): Promise<void> {
    const mvcc = server.mvccMetrics?.();
    if (mvcc !== undefined) {
      this.mvccSeries ??= new MvccSeries(this.registry);
      this.mvccSeries.set(mvcc);
    }
    try {
      const status = await server.status({ internal: true });
      this.hasLeader.set(status.leader !== 0n ? 1 : 0);
      this.isLeader.set(status.leader !== 0n && status.leader === status.header.memberId ? 1 : 0);
      this.serverId.reset();
      this.serverId.set({ server_id: status.header.memberId.toString(16) }, 1);
      this.proposalsCommitted.set(status.raftIndex);
      this.proposalsApplied.set(status.raftAppliedIndex);
      this.dbTotalSize.set(status.dbSize);
      this.dbTotalSizeInUse.set(status.dbSizeInUse);
      this.isLearner.set(status.isLearner ? 1 : 0);
      const peers = server.peerNetworkMetrics?.();
      if (peers !== undefined && peers.length > 0) {
        this.peerSeries ??= new PeerSeries(this.registry);
        this.peerSeries.set(status.header.memberId, peers);
      }
    } catch (error) {
      logger.debug({ err: error }, 'metrics: status unavailable');
      for (const metric of [this.hasLeader, this.isLeader, this.serverId, this.proposalsCommitted, this.proposalsApplied, this.dbTotalSize, this.dbTotalSizeInUse, this.isLearner]) metric.reset();
    }
    try {
      // Serializable: a scrape must not need a leader or a raft round.
      const everything = Buffer.from([0]);
      const { header, result } = await server.range({
        key: everything, rangeEnd: everything, limit: 0, revision: 0, sortOrder: 0, sortTarget: 0, serializable: true,
        keysOnly: false, countOnly: true, minModRevision: 0, maxModRevision: 0, minCreateRevision: 0, maxCreateRevision: 0,
      }, { internal: true });
      this.keysTotal.set(result.count);
      this.currentRevision.set(header.revision);
    } catch (error) {
      logger.debug({ err: error }, 'metrics: key count unavailable');
      this.keysTotal.reset();
      this.currentRevision.reset();
    }
  }
}

/** etcd's rafthttp series, labelled by peer id in hex as etcd prints member ids. */
class PeerSeries {
  private readonly sentBytes: Counter;
  private readonly receivedBytes: Counter;
  private readonly sentFailures: Counter;
  private readonly disconnects: Counter;
  private readonly activePeers: Gauge;
  private readonly roundTrips: Histogram;
  /** What each counter had at the last scrape, by counter and peer. */
  private readonly reported = new Map<Counter, Map<bigint, number>>();

  constructor(registry: Registry) {
    const registers = [registry];
    const counter = (name: string, help: string, labelNames: string[]) => new Counter({ name: `etcd_network_${name}`, help, labelNames, registers });
    this.sentBytes = counter('peer_sent_bytes_total', 'The total number of bytes sent to peers.', ['To']);
    this.receivedBytes = counter('peer_received_bytes_total', 'The total number of bytes received from peers.', ['From']);
    this.sentFailures = counter('peer_sent_failures_total', 'The total number of send failures from peers.', ['To']);
    this.disconnects = counter('disconnected_peers_total', 'The total number of disconnected peers.', ['Local', 'Remote']);
    this.activePeers = new Gauge({ name: 'etcd_network_active_peers', help: 'The current number of active peer connections.', labelNames: ['Local', 'Remote'], registers });
    this.roundTrips = new Histogram({
      name: 'etcd_network_peer_round_trip_time_seconds', help: 'Round-Trip-Time histogram between peers', labelNames: ['To'], registers,
      // etcd's: from 0.1 ms, doubling, 16 buckets (up to 3.2768 s).
      buckets: Array.from({ length: 16 }, (_, i) => 0.0001 * 2 ** i),
    });
  }

  set(localId: bigint, peers: readonly PeerNetworkStats[]): void {
    const local = localId.toString(16);
    for (const peer of peers) {
      const remote = peer.id.toString(16);
      this.add(this.sentBytes, peer.id, peer.sentBytes, { To: remote });
      this.add(this.receivedBytes, peer.id, peer.receivedBytes, { From: remote });
      this.add(this.sentFailures, peer.id, peer.sentFailures, { To: remote });
      this.add(this.disconnects, peer.id, peer.disconnects, { Local: local, Remote: remote });
      this.activePeers.set({ Local: local, Remote: remote }, peer.active ? 1 : 0);
      for (const seconds of peer.roundTripsSeconds) this.roundTrips.observe({ To: remote }, seconds);
    }
  }

  /** Adds what `total` grew by since the last scrape (listed at 0 from the first one). */
  private add(counter: Counter, peer: bigint, total: number, labels: Record<string, string>): void {
    let byPeer = this.reported.get(counter);
    if (byPeer === undefined) {
      byPeer = new Map();
      this.reported.set(counter, byPeer);
    }
    counter.inc(labels, total - (byPeer.get(peer) ?? 0));
    byPeer.set(peer, total);
  }
}

/** etcd's etcd_debugging_mvcc_* series of the watch hub and the compaction point. */
class MvccSeries {
  private readonly compactRevision: Gauge;
  private readonly watchStreams: Gauge;
  private readonly watchers: Gauge;
  private readonly slowWatchers: Gauge;
  private readonly events: Counter;
  private eventsReported = 0;

  constructor(registry: Registry) {
    const registers = [registry];
    const gauge = (name: string, help: string) => new Gauge({ name: `etcd_debugging_mvcc_${name}`, help, registers });
    this.compactRevision = gauge('compact_revision', 'The revision of the last compaction in store.');
    this.watchStreams = gauge('watch_stream_total', 'Total number of watch streams.');
    this.watchers = gauge('watcher_total', 'Total number of watchers.');
    this.slowWatchers = gauge('slow_watcher_total', 'Total number of unsynced slow watchers.');
    this.events = new Counter({ name: 'etcd_debugging_mvcc_events_total', help: 'Total number of events sent by this member.', registers });
  }

  set(mvcc: MvccMetrics): void {
    this.compactRevision.set(mvcc.compactRevision);
    this.watchStreams.set(mvcc.watchStreams);
    this.watchers.set(mvcc.watchers);
    this.slowWatchers.set(mvcc.slowWatchers);
    this.events.inc(mvcc.eventsSent - this.eventsReported);
    this.eventsReported = mvcc.eventsSent;
  }
}

/**
 * A histogram observed on the request path, fed to prom-client in batches. prom-client's observe()
 * checks and hashes a label set on every call: 8-20 us per put on each member at 100 puts/s (where
 * every put runs after an idle spell), and the WAL fsync's observation comes before a follower's
 * ack leaves. Observations wait in a small array; a full array, and every scrape, feeds them in.
 */
class DeferredHistogram {
  private readonly pending = new Float64Array(DEFERRED_OBSERVATIONS_MAX);
  private pendingCount = 0;
  private readonly histogram: Histogram;

  constructor(registry: Registry, name: string, help: string, buckets: number[]) {
    const deferred = this;
    this.histogram = new Histogram({ name, help, buckets, registers: [registry], collect() { deferred.feed(); } });
  }

  observe(value: number): void {
    this.pending[this.pendingCount++] = value;
    if (this.pendingCount === DEFERRED_OBSERVATIONS_MAX) this.feed();
  }

  private feed(): void {
    for (let i = 0; i < this.pendingCount; i++) this.histogram.observe(this.pending[i]!);
    this.pendingCount = 0;
  }
}

const DEFERRED_OBSERVATIONS_MAX = 256;

/**
 * The soft limit on this process's address space (RLIMIT_AS) from /proc/self/limits, as Go's
 * process collector reports it: 2^64 when unlimited. undefined where there is no such file.
 */
function addressSpaceLimitBytes(): number | undefined {
  let limits: string;
  try {
    limits = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return undefined;
  }
  const soft = /^Max address space\s+(\S+)/m.exec(limits)?.[1];
  if (soft === undefined) return undefined;
  return soft === 'unlimited' ? 2 ** 64 : Number(soft);
}
