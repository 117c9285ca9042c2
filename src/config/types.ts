// Owns EtcdConfig: the typed result of etcd's flags, ETCD_* variables or config file. Durations are
// in milliseconds and sizes in bytes (the field names say so); URLs are parsed URL objects.
import type { ClusterMember } from './urls.js';
import type { LogRotationSettings } from './log-rotation-config.js';
import type { FlagValue } from './values.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'dpanic' | 'panic' | 'fatal';

/** Retention 0 (periodMs 0 or revisions 0) means auto compaction is off, as in etcd. */
export type AutoCompactionRetention =
  | { mode: 'periodic'; periodMs: number }
  | { mode: 'revision'; revisions: number };

export interface TlsEndpointConfig {
  certFile: string;
  keyFile: string;
  /** Certificate this member presents when it is itself the client (etcd 3.5 --client-cert-file). */
  clientCertFile: string;
  clientKeyFile: string;
  clientCertAuth: boolean;
  trustedCaFile: string;
  autoTls: boolean;
  crlFile: string;
  allowedHostnames: string[];
  /** Peer side only in etcd; always empty for the client side. */
  allowedCns: string[];
}

export interface TlsConfig {
  client: TlsEndpointConfig;
  peer: TlsEndpointConfig;
  cipherSuites: string[];
  minVersion: 'TLS1.2' | 'TLS1.3';
  maxVersion: '' | 'TLS1.2' | 'TLS1.3';
  selfSignedCertValidityYears: number;
  peerSkipClientSanVerification: boolean;
}

export interface DiscoveryConfig {
  /** v2 discovery URL (--discovery); '' when unset. */
  url: string;
  fallback: 'exit' | 'proxy';
  proxyUrl: string;
  srvDomain: string;
  srvName: string;
  /** v3 discovery (etcd 3.6). */
  token: string;
  endpoints: string[];
}

export interface EtcdConfig {
  /** What the process should do: run the server, or print help or the version and exit. */
  command: 'serve' | 'help' | 'version';
  /** etcd-ts only: the etcd version string Status and /version report. */
  etcdVersion: string;
  configFile: string;

  name: string;
  dataDir: string;
  walDir: string;
  snapshotCount: number;
  snapshotCatchupEntries: number;
  heartbeatIntervalMs: number;
  electionTimeoutMs: number;
  initialElectionTickAdvance: boolean;
  /** --raft-read-timeout and --raft-write-timeout: limits on each peer connection (0: none). */
  raftReadTimeoutMs: number;
  raftWriteTimeoutMs: number;
  maxSnapshots: number;
  maxWals: number;
  /** Already resolved: etcd's 0 means the 2 GiB default; a negative flag (no quota) is MAX_SAFE_INTEGER. */
  quotaBackendBytes: number;
  /** What etcd_server_quota_backend_bytes shows: the flag as given, its default for 0 (a negative value switches the quota off). */
  quotaBackendBytesShown: number;
  maxTxnOps: number;
  maxRequestBytes: number;
  maxConcurrentStreams: number;
  maxLearners: number;
  enableGrpcGateway: boolean;
  grpcKeepAliveMinTimeMs: number;
  grpcKeepAliveIntervalMs: number;
  grpcKeepAliveTimeoutMs: number;

  listenPeerUrls: URL[];
  listenClientUrls: URL[];
  listenClientHttpUrls: URL[];
  listenMetricsUrls: URL[];
  advertiseClientUrls: URL[];
  initialAdvertisePeerUrls: URL[];
  /** Empty when a discovery method bootstraps the cluster instead. */
  initialCluster: ClusterMember[];
  initialClusterState: 'new' | 'existing';
  initialClusterToken: string;
  discovery: DiscoveryConfig;
  /** etcd 3.4's v2 proxy (--proxy and its timings, in ms; readTimeoutMs 0: none). */
  proxy: {
    mode: 'off' | 'readonly' | 'on';
    failureWaitMs: number;
    refreshIntervalMs: number;
    dialTimeoutMs: number;
    writeTimeoutMs: number;
    readTimeoutMs: number;
  };
  strictReconfigCheck: boolean;
  preVote: boolean;
  forceNewCluster: boolean;

  autoCompactionMode: 'periodic' | 'revision';
  autoCompactionRetention: AutoCompactionRetention;
  watchProgressNotifyIntervalMs: number;

  enableV2: boolean;
  v2Deprecation: 'not-yet' | 'write-only' | 'write-only-drop-data' | 'gone';

  tls: TlsConfig;
  cors: string[];
  hostWhitelist: string[];

  auth: { tokenSpec: string; tokenTtlSeconds: number; bcryptCost: number };

  logger: 'zap' | 'capnslog';
  logLevel: LogLevel;
  logOutputs: string[];
  /** --enable-log-rotation's settings (--log-rotation-config-json) for the one file output; undefined when off. */
  logRotation: LogRotationSettings | undefined;
  logFormat: 'json' | 'console';
  metrics: 'basic' | 'extensive';
  unsafeNoFsync: boolean;

  experimental: {
    leaseCheckpoint: boolean;
    leaseCheckpointPersist: boolean;
    initialCorruptCheck: boolean;
    corruptCheckIntervalMs: number;
    compactHashCheck: boolean;
    compactHashCheckIntervalMs: number;
    compactionBatchLimit: number;
    compactionSleepIntervalMs: number;
    /** How long start-up waits for the member to be ready before it tells systemd it is anyway (etcd 3.5's startEtcd). */
    waitClusterReadyTimeoutMs: number;
    warningApplyDurationMs: number;
    warningUnaryRequestDurationMs: number;
    stopGrpcServiceOnDefrag: boolean;
    featureGates: Record<string, boolean>;
  };

  /** Every flag's typed value by flag name (defaults included), for flags without a field above. */
  flagValues: ReadonlyMap<string, FlagValue>;
  /** Names of the flags the user set (command line, environment or config file). */
  flagsSet: string[];
  /** Flags that were set whose feature etcd-ts accepts but does not implement yet: warn at start. */
  unimplementedFlagsSet: string[];
}
