// The etcd-ts process: parse etcd's flags and ETCD_* variables, start the member (or etcd 3.4's v2
// proxy), serve the client API on every --listen-client-urls, and stop cleanly on SIGINT/SIGTERM.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { parseConfig } from './config/index.js';
import { ConfigError } from './config/config-error.js';
import type { EtcdConfig } from './config/types.js';
import { createLogger } from './logging.js';
import { tuneHeapGrowth } from './heap-tuning.js';
import { startIdleScavenges } from './idle-scavenge.js';
import { createGrpcServer } from './api/grpc/server.js';
import { createGrpcConnectionHandler } from './api/grpc/lean-path.js';
import { checkV2ApiAllowed, checkV2Content } from './api/http/v2/deprecation.js';
import { ClientListeners, http1HandlerFor } from './api/listener/index.js';
import { closeHttpApp, createHttpApp, createMetricsHttpApp, EtcdMetrics } from './api/http/index.js';
import { registerAuthService } from './api/grpc/index.js';
import { EtcdServer } from './server/etcd-server.js';
import { helpText, versionText } from './config/index.js';
import { formatEtcdUrl } from './config/urls.js';
import { maxConcurrentStreamsDefault } from './config/flag-table.js';
import { grpcKeepaliveOptions } from './api/grpc/keepalive-config.js';
import { resolveInitialCluster } from './discovery/resolve.js';
import { DiscoveryError } from './discovery/errors.js';
import { startProxy } from './proxy/proxy-mode.js';
import { loadTlsForUrls } from './tls/index.js';
import type { MemberTls } from './tls/member-tls.js';
import { setProcessPeerTls } from './transport/peer-http.js';
import { gatewayCommand } from './gateway/gateway-command.js';
import { snapshotCommand } from './snapshot-command.js';
import { sdNotify } from './systemd-notify.js';
import { requestSchedulerSlice, schedulerSliceUs } from './scheduler-slice.js';

const GRPC_SHUTDOWN_GRACE_MS = 1000;

export async function main(argv: string[]): Promise<void> {
  if (argv[0] === 'gateway') {
    process.exitCode = await gatewayCommand(argv.slice(1));
    return;
  }
  if (argv[0] === 'snapshot') {
    // etcdutl's snapshot restore and status, for etcd-ts's snapshot files (etcd itself has no such subcommand).
    process.exitCode = await snapshotCommand(argv.slice(1));
    return;
  }
  tuneHeapGrowth();
  let config: EtcdConfig;
  let warnings: string[];
  let sliceUs: number;
  try {
    ({ config, warnings } = parseConfig(argv, process.env));
    sliceUs = schedulerSliceUs(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`etcd-ts: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  if (config.command === 'help') {
    process.stdout.write(helpText());
    return;
  }
  if (config.command === 'version') {
    process.stdout.write(versionText(config));
    return;
  }

  const logger = createLogger(config);
  for (const warning of warnings) logger.warn(warning);
  // main() runs on the event loop's thread: the one thread the slice is for.
  requestSchedulerSlice(sliceUs, logger);
  for (const flag of config.unimplementedFlagsSet) {
    logger.warn({ flag }, 'flag accepted for compatibility but its feature is not implemented yet; it has no effect');
  }
  try {
    await serve(config, logger);
  } catch (error) {
    logger.fatal({ err: error }, error instanceof Error ? error.message : String(error));
    // Give pino a moment to flush before exiting.
    await new Promise((resolve) => setTimeout(resolve, 50));
    process.exit(1);
  }
}

/**
 * What an existing data dir was initialised as (etcd's identifyDataDirOrDie): a `member` or a
 * `proxy` directory in it; both is an error, anything else in it is only warned about.
 */
function dataDirType(dir: string, logger: Logger): 'empty' | 'member' | 'proxy' {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'empty';
    throw error;
  }
  const member = names.includes('member');
  const proxy = names.includes('proxy');
  for (const name of names) {
    if (name !== 'member' && name !== 'proxy') logger.warn({ path: join(dir, name) }, 'found invalid file under data directory');
  }
  if (member && proxy) throw new Error('invalid datadir; both member and proxy directories exist');
  return member ? 'member' : proxy ? 'proxy' : 'empty';
}

/** On the first SIGINT or SIGTERM: `shutdown`, then exit 0. */
function stopOnSignals(logger: Logger, shutdown: () => Promise<void>): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'received signal; shutting down');
    await shutdown();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

/** Runs as etcd 3.4's v2 proxy until a signal stops it. */
async function serveProxy(config: EtcdConfig, memberTls: MemberTls, logger: Logger): Promise<void> {
  const proxy = await startProxy(config, {
    mode: config.proxy.mode === 'readonly' ? 'readonly' : 'on',
    failureWaitMs: config.proxy.failureWaitMs,
    refreshIntervalMs: config.proxy.refreshIntervalMs,
    dialTimeoutMs: config.proxy.dialTimeoutMs,
    writeTimeoutMs: config.proxy.writeTimeoutMs,
    readTimeoutMs: config.proxy.readTimeoutMs,
  }, memberTls, logger.child({ component: 'proxy' }));
  stopOnSignals(logger, () => proxy.stop());
  await sdNotify('READY=1', logger);
}

async function serve(config: EtcdConfig, logger: Logger): Promise<void> {
  // Certificates are read (or made, with auto TLS) before anything listens: a bad file stops the start.
  const memberTls = loadTlsForUrls(config, logger);
  if (memberTls.peer !== undefined) {
    setProcessPeerTls({ server: memberTls.peer.server, outgoing: memberTls.peer.outgoing, logger: logger.child({ component: 'rafthttp' }) });
  }
  // A data dir initialised as a proxy stays one; an empty one becomes one with --proxy (etcd 3.4).
  const dataDir = dataDirType(config.dataDir, logger);
  if (dataDir === 'proxy' || (dataDir === 'empty' && config.proxy.mode !== 'off')) {
    if (dataDir === 'proxy') logger.info({ 'data-dir': config.dataDir, 'dir-type': 'proxy' }, 'server has been already initialized');
    await serveProxy(config, memberTls, logger);
    return;
  }
  // --discovery / --discovery-endpoints / --discovery-srv resolve into the initial cluster first.
  let bootstrap: Awaited<ReturnType<typeof resolveInitialCluster>>;
  try {
    bootstrap = await resolveInitialCluster(config, { log: (message, fields) => logger.info(fields ?? {}, message) });
  } catch (error) {
    if (!(error instanceof DiscoveryError && error.errorName === 'FullCluster' && config.discovery.fallback === 'proxy')) throw error;
    logger.warn({ 'fallback-proxy': 'proxy', error: error.message }, 'discovery cluster is full, falling back to proxy');
    await serveProxy(config, memberTls, logger);
    return;
  }
  // One metrics registry: the server records into it, /metrics serves it.
  const metrics = new EtcdMetrics({ etcdVersion: config.etcdVersion, processMetrics: true, quotaBackendBytes: config.quotaBackendBytesShown });
  checkV2ApiAllowed(config.enableV2, config.v2Deprecation);
  const server = await EtcdServer.start({
    name: config.name,
    dataDir: config.dataDir,
    walDir: config.walDir,
    initialCluster: bootstrap.initialCluster,
    initialClusterState: config.initialClusterState,
    initialClusterToken: bootstrap.initialClusterToken,
    forceNewCluster: config.forceNewCluster,
    initialCorruptCheck: config.experimental.initialCorruptCheck,
    checkRecoveredState: (mvcc) => checkV2Content(mvcc, config.v2Deprecation, logger),
    corruptCheckIntervalMs: config.experimental.corruptCheckIntervalMs,
    compactHashCheckIntervalMs: config.experimental.compactHashCheck ? config.experimental.compactHashCheckIntervalMs : 0,
    warningApplyDurationMs: config.experimental.warningApplyDurationMs,
    compactionBatchLimit: config.experimental.compactionBatchLimit,
    compactionSleepIntervalMs: config.experimental.compactionSleepIntervalMs,
    stopGrpcServiceOnDefrag: config.experimental.stopGrpcServiceOnDefrag,
    advertiseClientUrls: config.advertiseClientUrls.map(formatEtcdUrl),
    listenPeerUrls: config.listenPeerUrls,
    initialAdvertisePeerUrls: config.initialAdvertisePeerUrls.map(formatEtcdUrl),
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    electionTimeoutMs: config.electionTimeoutMs,
    peerReadTimeoutMs: config.raftReadTimeoutMs,
    peerWriteTimeoutMs: config.raftWriteTimeoutMs,
    snapshotCount: config.snapshotCount,
    snapshotCatchupEntries: config.snapshotCatchupEntries,
    quotaBackendBytes: config.quotaBackendBytes,
    maxTxnOps: config.maxTxnOps,
    maxRequestBytes: config.maxRequestBytes,
    preVote: config.preVote,
    initialElectionTickAdvance: config.initialElectionTickAdvance,
    strictReconfigCheck: config.strictReconfigCheck,
    maxLearners: config.maxLearners,
    autoCompaction: config.autoCompactionRetention,
    watchProgressNotifyIntervalMs: config.watchProgressNotifyIntervalMs,
    unsafeNoFsync: config.unsafeNoFsync,
    etcdVersion: config.etcdVersion,
    auth: config.auth,
    metrics,
  }, logger.child({ component: 'server' }));
  startIdleScavenges(() => server.quiet);

  const grpcServer = createGrpcServer({
    server, maxRequestBytes: config.maxRequestBytes, logger: logger.child({ component: 'grpc' }), handledCounts: metrics.grpcHandledCounts,
    warningUnaryRequestMs: config.experimental.warningUnaryRequestDurationMs,
  });
  registerAuthService(grpcServer, server.auth, logger.child({ component: 'grpc' }));
  const httpApp = createHttpApp({
    server, auth: server.auth, maxRequestBytes: config.maxRequestBytes, logger, etcdVersion: config.etcdVersion, enableV2: config.enableV2, metrics,
    cors: config.cors, hostWhitelist: config.hostWhitelist,
  });
  await httpApp.ready();
  // With --listen-client-http-urls, HTTP moves there and the client URLs serve gRPC only (etcd 3.5.10+/3.6).
  const splitHttp = config.listenClientHttpUrls.length > 0;
  // As etcd: the client URLs listen from the start, but what connects is served only once the
  // member is ready (it has published itself through Raft), every request of them alike: gRPC,
  // the gateway, v2, /health, /version, /metrics. --listen-metrics-urls answers at once (below).
  const ready = server.readyNotify();
  const clientListeners = new ClientListeners({
    grpcServer,
    http2: createGrpcConnectionHandler(grpcServer, {
      logger: logger.child({ component: 'grpc' }),
      // etcd's default, math.MaxUint32, is HTTP/2's "unlimited": no setting is sent for it.
      maxConcurrentStreams: config.maxConcurrentStreams >= maxConcurrentStreamsDefault ? undefined : config.maxConcurrentStreams,
      keepalive: grpcKeepaliveOptions(config),
    }),
    logger: logger.child({ component: 'client-listener' }), http1Handler: http1HandlerFor(httpApp.server),
    protocols: splitHttp ? 'grpc-only' : 'grpc-and-http', serveAfter: ready,
  });
  const httpOnlyListeners = new ClientListeners({
    grpcServer, logger: logger.child({ component: 'client-http-listener' }), http1Handler: http1HandlerFor(httpApp.server), protocols: 'http-only', serveAfter: ready,
  });
  const metricsApp = config.listenMetricsUrls.length > 0
    ? createMetricsHttpApp({ server, maxRequestBytes: config.maxRequestBytes, logger, etcdVersion: config.etcdVersion, metrics })
    : undefined;
  await metricsApp?.ready();
  const metricsListeners = metricsApp === undefined ? undefined : new ClientListeners({
    grpcServer, logger: logger.child({ component: 'metrics-listener' }), http1Handler: http1HandlerFor(metricsApp.server), protocols: 'http-only',
  });
  const listenOn = async (listeners: ClientListeners, url: URL, what: string): Promise<void> => {
    const tls = url.protocol === 'https:' ? memberTls.client?.server : undefined;
    // Client TLS is loaded for https --listen-client-urls; an https URL elsewhere must not fall back to plain text.
    if (url.protocol === 'https:' && tls === undefined) throw new Error(`${url.href}: https needs an https --listen-client-urls with its client certificate`);
    const { port } = await listeners.listen(url.hostname.replace(/^\[|\]$/g, ''), Number(url.port || 2379), { tls });
    logger.info({ address: `${url.hostname}:${port}` }, what);
  };
  for (const url of config.listenClientUrls) await listenOn(clientListeners, url, splitHttp ? 'serving client grpc traffic' : 'serving client traffic');
  for (const url of config.listenClientHttpUrls) await listenOn(httpOnlyListeners, url, 'serving client http traffic');
  for (const url of config.listenMetricsUrls) await listenOn(metricsListeners!, url, 'serving metrics');
  server.onRemoved = () => {
    logger.warn('the member has been permanently removed from the cluster; the data-dir used by this member must be removed');
    setTimeout(() => process.exit(0), 50);
  };

  stopOnSignals(logger, async () => {
    await clientListeners.close(GRPC_SHUTDOWN_GRACE_MS);
    await httpOnlyListeners.close();
    await metricsListeners?.close();
    await closeHttpApp(httpApp);
    if (metricsApp) await closeHttpApp(metricsApp);
    // Open watch and keep-alive streams would hold a graceful shutdown forever: give them a moment.
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        grpcServer.forceShutdown();
        resolve();
      }, GRPC_SHUTDOWN_GRACE_MS);
      grpcServer.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    await server.stop();
  });
  // Clients are served once the member is ready, however long that takes (a member whose peers
  // are down keeps trying). A systemd unit of Type=notify waits for READY=1, though: as etcd 3.5
  // does, it is sent once the member is ready or --experimental-wait-cluster-ready-timeout has
  // passed, whichever comes first, so that members booting together without a quorum yet do not
  // each wait for the others' units. A server that stopped first reports that itself.
  void ready.then(() => logger.info({ 'member-id': server.memberId.toString(16) }, 'ready to serve client requests'), () => undefined);
  let readyTimer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timed-out'>((resolve) => {
    readyTimer = setTimeout(() => resolve('timed-out'), config.experimental.waitClusterReadyTimeoutMs);
  });
  const outcome = await Promise.race([ready.then(() => 'ready' as const, () => 'stopped' as const), timedOut]);
  clearTimeout(readyTimer);
  if (outcome === 'stopped') return;
  if (outcome === 'timed-out') logger.warn('startEtcd: timed out waiting for the ready notification');
  await sdNotify('READY=1', logger);
}
