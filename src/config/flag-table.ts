// Owns the list of every etcd server flag etcd-ts accepts (etcd 3.4, 3.5 and the 3.6 names), with
// its kind, etcd's default and whether etcd-ts acts on it. Parsing, `--help`, the README flag table
// and the docker tests are all generated from this one list, so they cannot disagree.

export type FlagKind =
  | 'string'
  | 'bool'
  | 'int'
  | 'uint'
  | 'float'
  | 'duration'
  | 'urls'
  | 'strings'
  /** --cors: "*" or URLs by etcd's rules, kept as written (an Origin header is matched against them). */
  | 'origins'
  | 'choice'
  | 'ignored';

/**
 * core: in etcd-ts's scope, the server is built to honour it.
 * later: accepted and recorded, the feature is not built yet (the server warns when it is set).
 * no-effect: describes a part of etcd that etcd-ts does not have (bbolt, WAL files, Go runtime).
 * removed: a pre-3.0 flag etcd itself ignores with a warning.
 */
export type FlagSupport = 'core' | 'later' | 'no-effect' | 'removed';

export type FlagSection =
  | 'Member'
  | 'Clustering'
  | 'Security'
  | 'Auth'
  | 'Profiling and Monitoring'
  | 'Logging'
  | 'Distributed tracing'
  | 'v2 Proxy'
  | 'Experimental feature'
  | 'Unsafe feature'
  | 'etcd-ts'
  | 'Ignored';

export interface FlagSpec {
  readonly name: string;
  readonly kind: FlagKind;
  /** etcd's default, in the flag's own text form; it goes through the same parser as user input. */
  readonly defaultText: string;
  readonly support: FlagSupport;
  /** First etcd release with this flag name; 'etcd-ts' for our own additions. */
  readonly since: '3.4' | '3.5' | '3.6' | 'etcd-ts' | 'legacy';
  readonly section: FlagSection;
  readonly help: string;
  readonly choices?: readonly string[];
}

function flag(
  section: FlagSection,
  name: string,
  kind: FlagKind,
  defaultText: string,
  support: FlagSupport,
  since: FlagSpec['since'],
  help: string,
  choices?: readonly string[],
): FlagSpec {
  return choices === undefined
    ? { name, kind, defaultText, support, since, section, help }
    : { name, kind, defaultText, support, since, section, help, choices };
}

const M: FlagSection = 'Member';
const C: FlagSection = 'Clustering';
const S: FlagSection = 'Security';
const A: FlagSection = 'Auth';
const P: FlagSection = 'Profiling and Monitoring';
const L: FlagSection = 'Logging';
const T: FlagSection = 'Distributed tracing';
const X: FlagSection = 'v2 Proxy';
const E: FlagSection = 'Experimental feature';
const U: FlagSection = 'Unsafe feature';
const O: FlagSection = 'etcd-ts';

/** 2^32 - 1, etcd's default for --max-concurrent-streams (math.MaxUint32). */
export const maxConcurrentStreamsDefault = 4294967295;

export const flagTable: readonly FlagSpec[] = [
  flag(M, 'name', 'string', 'default', 'core', '3.4', 'Human-readable name for this member.'),
  flag(M, 'data-dir', 'string', '', 'core', '3.4', "Path to the data directory (default '${name}.etcd')."),
  flag(M, 'wal-dir', 'string', '', 'core', '3.4', 'Path to the dedicated wal directory.'),
  flag(M, 'snapshot-count', 'uint', '100000', 'core', '3.4', 'Number of committed transactions to trigger a snapshot to disk.'),
  flag(M, 'snapshot-catchup-entries', 'uint', '5000', 'core', '3.6', 'Number of entries for a slow follower to catch up after compacting the raft log.'),
  flag(E, 'experimental-snapshot-catchup-entries', 'uint', '5000', 'core', '3.5', 'Old name of --snapshot-catchup-entries.'),
  flag(M, 'heartbeat-interval', 'uint', '100', 'core', '3.4', 'Time (in milliseconds) of a heartbeat interval.'),
  flag(M, 'election-timeout', 'uint', '1000', 'core', '3.4', 'Time (in milliseconds) for an election to timeout.'),
  flag(M, 'initial-election-tick-advance', 'bool', 'true', 'core', '3.4', 'Whether to fast-forward initial election ticks on boot for faster election.'),
  flag(M, 'listen-peer-urls', 'urls', 'http://localhost:2380', 'core', '3.4', 'List of URLs to listen on for peer traffic.'),
  flag(M, 'listen-client-urls', 'urls', 'http://localhost:2379', 'core', '3.4', 'List of URLs to listen on for client grpc and http traffic.'),
  flag(M, 'listen-client-http-urls', 'urls', '', 'core', '3.5', 'List of URLs to listen on for http only client traffic.'),
  flag(M, 'max-snapshots', 'uint', '5', 'no-effect', '3.4', 'Maximum number of snapshot files to retain (0 is unlimited).'),
  flag(M, 'max-wals', 'uint', '5', 'no-effect', '3.4', 'Maximum number of wal files to retain (0 is unlimited).'),
  flag(M, 'quota-backend-bytes', 'int', '0', 'core', '3.4', 'Raise alarms when backend size exceeds the given quota (0 defaults to 2 GiB).'),
  flag(M, 'backend-bbolt-freelist-type', 'string', 'map', 'no-effect', '3.6', 'bbolt freelist type (etcd-ts stores in LevelDB).'),
  flag(M, 'backend-batch-interval', 'duration', '0', 'no-effect', '3.4', 'Maximum time before committing the bbolt transaction (etcd-ts commits per raft batch).'),
  flag(M, 'backend-batch-limit', 'int', '0', 'no-effect', '3.4', 'Maximum operations before committing the bbolt transaction.'),
  flag(M, 'max-txn-ops', 'uint', '128', 'core', '3.4', 'Maximum number of operations permitted in a transaction.'),
  flag(M, 'max-request-bytes', 'uint', '1572864', 'core', '3.4', 'Maximum client request size in bytes the server will accept.'),
  flag(M, 'max-concurrent-streams', 'uint', String(maxConcurrentStreamsDefault), 'core', '3.4', 'Maximum concurrent streams that each client can open at a time.'),
  flag(M, 'enable-grpc-gateway', 'bool', 'true', 'core', '3.4', 'Enable the grpc-gateway JSON API (/v3/...).'),
  flag(M, 'grpc-keepalive-min-time', 'duration', '5s', 'core', '3.4', 'Minimum duration interval that a client should wait before pinging server.'),
  flag(M, 'grpc-keepalive-interval', 'duration', '2h', 'core', '3.4', 'Frequency duration of server-to-client ping to check if a connection is alive (0 to disable).'),
  flag(M, 'grpc-keepalive-timeout', 'duration', '20s', 'core', '3.4', 'Additional duration of wait before closing a non-responsive connection (0 to disable).'),
  flag(M, 'socket-reuse-port', 'bool', 'false', 'later', '3.5', 'Set SO_REUSEPORT on listeners.'),
  flag(M, 'socket-reuse-address', 'bool', 'false', 'no-effect', '3.5', 'Set SO_REUSEADDR on listeners (always set: by libuv here, as by Go for etcd on Linux).'),
  flag(M, 'raft-read-timeout', 'duration', '5s', 'core', '3.5', 'Read timeout set on each peer connection.'),
  flag(M, 'raft-write-timeout', 'duration', '5s', 'core', '3.5', 'Write timeout set on each peer connection.'),
  flag(M, 'max-learners', 'int', '1', 'core', '3.6', 'Maximum number of learners in the cluster.'),
  flag(E, 'experimental-max-learners', 'int', '1', 'core', '3.5', 'Old name of --max-learners.'),

  flag(C, 'initial-advertise-peer-urls', 'urls', 'http://localhost:2380', 'core', '3.4', "List of this member's peer URLs to advertise to the rest of the cluster."),
  flag(C, 'initial-cluster', 'string', 'default=http://localhost:2380', 'core', '3.4', 'Initial cluster configuration for bootstrapping (name=url,name=url).'),
  flag(C, 'initial-cluster-state', 'choice', 'new', 'core', '3.4', "Initial cluster state ('new' or 'existing').", ['new', 'existing']),
  flag(C, 'initial-cluster-token', 'string', 'etcd-cluster', 'core', '3.4', 'Initial cluster token for the etcd cluster during bootstrap.'),
  flag(C, 'advertise-client-urls', 'urls', 'http://localhost:2379', 'core', '3.4', "List of this member's client URLs to advertise to the public."),
  flag(C, 'discovery', 'string', '', 'core', '3.4', 'Discovery URL used to bootstrap the cluster (v2 discovery protocol).'),
  flag(C, 'discovery-fallback', 'choice', 'proxy', 'core', '3.4', "Expected behavior ('exit' or 'proxy') when discovery services fails.", ['exit', 'proxy']),
  flag(C, 'discovery-proxy', 'string', '', 'core', '3.4', 'HTTP proxy to use for traffic to discovery service.'),
  flag(C, 'discovery-srv', 'string', '', 'core', '3.4', 'DNS srv domain used to bootstrap the cluster.'),
  flag(C, 'discovery-srv-name', 'string', '', 'core', '3.4', 'Suffix to the dns srv name queried when bootstrapping.'),
  flag(C, 'discovery-token', 'string', '', 'core', '3.6', 'v3 discovery: token of the cluster to bootstrap.'),
  flag(C, 'discovery-endpoints', 'strings', '', 'core', '3.6', 'v3 discovery: endpoints of the discovery etcd cluster.'),
  flag(C, 'strict-reconfig-check', 'bool', 'true', 'core', '3.4', 'Reject reconfiguration requests that would cause quorum loss.'),
  flag(C, 'pre-vote', 'bool', 'true', 'core', '3.4', 'Enable to run an additional Raft election phase.'),
  flag(C, 'auto-compaction-retention', 'string', '0', 'core', '3.4', 'Auto compaction retention length. 0 means disable auto compaction.'),
  flag(C, 'auto-compaction-mode', 'choice', 'periodic', 'core', '3.4', "Interpret 'auto-compaction-retention' one of: periodic|revision (periodic: duration, bare number = hours).", ['periodic', 'revision']),
  flag(C, 'enable-v2', 'bool', 'false', 'core', '3.4', 'Accept etcd V2 client requests.'),
  flag(C, 'v2-deprecation', 'choice', 'not-yet', 'core', '3.5', 'Phase of v2store deprecation.', ['not-yet', 'write-only', 'write-only-drop-data', 'gone']),

  flag(S, 'cert-file', 'string', '', 'core', '3.4', 'Path to the client server TLS cert file.'),
  flag(S, 'key-file', 'string', '', 'core', '3.4', 'Path to the client server TLS key file.'),
  flag(S, 'client-cert-auth', 'bool', 'false', 'core', '3.4', 'Enable client cert authentication.'),
  flag(S, 'client-cert-file', 'string', '', 'no-effect', '3.5', 'Explicit client TLS cert for etcd dialing its own client port (etcd-ts serves the gateway in-process and never does).'),
  flag(S, 'client-key-file', 'string', '', 'no-effect', '3.5', 'Explicit client TLS key for etcd dialing its own client port (etcd-ts serves the gateway in-process and never does).'),
  flag(S, 'client-crl-file', 'string', '', 'core', '3.4', 'Path to the client certificate revocation list file.'),
  flag(S, 'client-cert-allowed-hostname', 'strings', '', 'core', '3.4', 'Allowed TLS hostname(s) for client cert authentication.'),
  flag(S, 'trusted-ca-file', 'string', '', 'core', '3.4', 'Path to the client server TLS trusted CA cert file.'),
  flag(S, 'auto-tls', 'bool', 'false', 'core', '3.4', 'Client TLS using generated certificates.'),
  flag(S, 'peer-cert-file', 'string', '', 'core', '3.4', 'Path to the peer server TLS cert file.'),
  flag(S, 'peer-key-file', 'string', '', 'core', '3.4', 'Path to the peer server TLS key file.'),
  flag(S, 'peer-client-cert-auth', 'bool', 'false', 'core', '3.4', 'Enable peer client cert authentication.'),
  flag(S, 'peer-trusted-ca-file', 'string', '', 'core', '3.4', 'Path to the peer server TLS trusted CA file.'),
  flag(S, 'peer-cert-allowed-cn', 'strings', '', 'core', '3.4', 'Required CN(s) for client certs connecting to the peer endpoint.'),
  flag(S, 'peer-cert-allowed-hostname', 'strings', '', 'core', '3.4', 'Allowed TLS hostname(s) for inter peer authentication.'),
  flag(S, 'peer-auto-tls', 'bool', 'false', 'core', '3.4', 'Peer TLS using self-generated certificates.'),
  flag(S, 'peer-client-cert-file', 'string', '', 'core', '3.5', 'Path to an explicit peer client TLS cert file.'),
  flag(S, 'peer-client-key-file', 'string', '', 'core', '3.5', 'Path to an explicit peer client TLS key file.'),
  flag(S, 'peer-crl-file', 'string', '', 'core', '3.4', 'Path to the peer certificate revocation list file.'),
  flag(S, 'self-signed-cert-validity', 'uint', '1', 'core', '3.5', 'Validity in years of the certificates made by --auto-tls / --peer-auto-tls.'),
  flag(S, 'cipher-suites', 'strings', '', 'core', '3.4', 'Comma-separated list of supported TLS cipher suites.'),
  flag(S, 'cors', 'origins', '*', 'core', '3.4', 'Comma-separated whitelist of origins for CORS (empty or * means allow all).'),
  flag(S, 'host-whitelist', 'strings', '*', 'core', '3.4', 'Acceptable hostnames from HTTP client requests, if server is not secure (* means allow all).'),
  flag(S, 'tls-min-version', 'choice', 'TLS1.2', 'core', '3.5', 'Minimum TLS version supported.', ['TLS1.2', 'TLS1.3']),
  flag(S, 'tls-max-version', 'choice', '', 'core', '3.5', 'Maximum TLS version supported (empty: no maximum).', ['', 'TLS1.2', 'TLS1.3']),
  flag(E, 'experimental-peer-skip-client-san-verification', 'bool', 'false', 'core', '3.4', 'Skip verification of SAN field in client certificate for peer connections.'),

  flag(A, 'auth-token', 'string', 'simple', 'core', '3.4', "Specify a v3 authentication token type and its options ('simple' or 'jwt')."),
  flag(A, 'bcrypt-cost', 'uint', '10', 'core', '3.4', 'Cost of the bcrypt algorithm for hashing auth passwords (4 to 31).'),
  flag(A, 'auth-token-ttl', 'uint', '300', 'core', '3.4', 'Time (in seconds) of the auth-token-ttl.'),

  flag(P, 'enable-pprof', 'bool', 'false', 'no-effect', '3.4', 'Go runtime profiling (use node --cpu-prof for etcd-ts).'),
  flag(P, 'metrics', 'choice', 'basic', 'core', '3.4', "Level of detail for exported metrics ('extensive' adds histograms).", ['basic', 'extensive']),
  flag(P, 'listen-metrics-urls', 'urls', '', 'core', '3.4', 'List of URLs to listen on for the /metrics and /health endpoints.'),

  flag(L, 'logger', 'choice', 'zap', 'core', '3.4', "Structured JSON logging ('zap'); 'capnslog' is accepted and logs the same way.", ['zap', 'capnslog']),
  flag(L, 'log-outputs', 'strings', 'default', 'core', '3.4', "'default', 'stderr', 'stdout' or file paths, comma separated."),
  flag(L, 'log-output', 'strings', 'default', 'core', '3.4', "Old name of --log-outputs (etcd 3.4)."),
  flag(L, 'log-level', 'choice', 'info', 'core', '3.4', 'Log level: debug, info, warn, error, panic or fatal.', ['debug', 'info', 'warn', 'error', 'dpanic', 'panic', 'fatal']),
  flag(L, 'log-format', 'choice', 'json', 'core', '3.6', "Log format: 'json' (etcd-ts always writes JSON lines).", ['json', 'console']),
  flag(L, 'debug', 'bool', 'false', 'core', '3.4', "Old way to say --log-level=debug (etcd 3.4)."),
  flag(L, 'log-package-levels', 'string', '', 'no-effect', '3.4', 'capnslog per-package levels (etcd 3.4).'),
  flag(L, 'enable-log-rotation', 'bool', 'false', 'core', '3.5', 'Enable log rotation of a single log-outputs file target.'),
  flag(L, 'log-rotation-config-json', 'string', '{"maxsize": 100, "maxage": 0, "maxbackups": 0, "localtime": false, "compress": false}', 'core', '3.5', 'Log rotation settings (JSON).'),

  flag(T, 'experimental-enable-distributed-tracing', 'bool', 'false', 'later', '3.5', 'Enable distributed tracing.'),
  flag(T, 'experimental-distributed-tracing-address', 'string', 'localhost:4317', 'later', '3.5', 'Distributed tracing collector address.'),
  flag(T, 'experimental-distributed-tracing-service-name', 'string', 'etcd', 'later', '3.5', 'Distributed tracing service name.'),
  flag(T, 'experimental-distributed-tracing-instance-id', 'string', '', 'later', '3.5', 'Distributed tracing instance ID.'),
  flag(T, 'experimental-distributed-tracing-sampling-rate', 'int', '0', 'later', '3.5', 'Samples per million spans.'),

  flag(X, 'proxy', 'choice', 'off', 'core', '3.4', "v2 proxy mode ('off', 'readonly' or 'on').", ['off', 'readonly', 'on']),
  flag(X, 'proxy-failure-wait', 'uint', '5000', 'core', '3.4', 'Time (in milliseconds) an endpoint will be held in a failed state.'),
  flag(X, 'proxy-refresh-interval', 'uint', '30000', 'core', '3.4', 'Time (in milliseconds) of the endpoints refresh interval.'),
  flag(X, 'proxy-dial-timeout', 'uint', '1000', 'core', '3.4', 'Time (in milliseconds) for a dial to timeout.'),
  flag(X, 'proxy-write-timeout', 'uint', '5000', 'core', '3.4', 'Time (in milliseconds) for a write to timeout.'),
  flag(X, 'proxy-read-timeout', 'uint', '0', 'core', '3.4', 'Time (in milliseconds) for a read to timeout.'),

  flag(E, 'experimental-initial-corrupt-check', 'bool', 'false', 'core', '3.4', 'Check data corruption before serving any client/peer traffic.'),
  flag(E, 'experimental-corrupt-check-time', 'duration', '0s', 'core', '3.4', 'Old name of --corrupt-check-time.'),
  flag(E, 'corrupt-check-time', 'duration', '0s', 'core', '3.6', 'Duration of time between cluster corruption check passes.'),
  flag(E, 'experimental-compact-hash-check-enabled', 'bool', 'false', 'core', '3.5', 'Leader periodically checks followers compaction hashes.'),
  flag(E, 'experimental-compact-hash-check-time', 'duration', '1m', 'core', '3.5', 'Old name of --compact-hash-check-time.'),
  flag(E, 'compact-hash-check-time', 'duration', '1m', 'core', '3.6', 'Duration between leader checks of followers compaction hashes.'),
  flag(E, 'experimental-enable-v2v3', 'string', '', 'no-effect', '3.4', 'Serve v2 requests through the v3 backend under a given prefix (etcd-ts always does).'),
  flag(E, 'experimental-backend-bbolt-freelist-type', 'string', 'array', 'no-effect', '3.4', 'bbolt freelist type (etcd 3.4/3.5 name).'),
  flag(E, 'experimental-enable-lease-checkpoint', 'bool', 'false', 'core', '3.4', 'Leader sends lease checkpoints so a leader change keeps remaining TTLs (always on in etcd-ts, whatever the value).'),
  flag(E, 'experimental-enable-lease-checkpoint-persist', 'bool', 'false', 'core', '3.5', 'Persist lease checkpoints so a restart keeps remaining TTLs (always on in etcd-ts, whatever the value).'),
  flag(E, 'experimental-compaction-batch-limit', 'int', '1000', 'core', '3.4', 'Old name of --compaction-batch-limit.'),
  flag(E, 'compaction-batch-limit', 'int', '1000', 'core', '3.6', 'Maximum revisions deleted in each compaction batch.'),
  flag(E, 'experimental-compaction-sleep-interval', 'duration', '10ms', 'core', '3.5', 'Sleep interval between compaction batches.'),
  flag(E, 'experimental-watch-progress-notify-interval', 'duration', '10m', 'core', '3.4', 'Old name of --watch-progress-notify-interval.'),
  flag(E, 'watch-progress-notify-interval', 'duration', '10m', 'core', '3.6', 'Duration of periodic watch progress notifications.'),
  flag(E, 'experimental-downgrade-check-time', 'duration', '5s', 'later', '3.5', 'Duration of time between two downgrade status checks.'),
  flag(E, 'experimental-memory-mlock', 'bool', 'false', 'no-effect', '3.5', 'Keep bbolt pages in RAM.'),
  flag(E, 'experimental-warning-apply-duration', 'duration', '100ms', 'core', '3.4', 'Old name of --warning-apply-duration.'),
  flag(E, 'warning-apply-duration', 'duration', '100ms', 'core', '3.6', 'A warning is logged when applying a request takes longer than this.'),
  flag(E, 'experimental-warning-unary-request-duration', 'duration', '0s', 'core', '3.5', 'Old name of --warning-unary-request-duration.'),
  flag(E, 'warning-unary-request-duration', 'duration', '300ms', 'core', '3.6', 'A warning is logged when a unary request takes longer than this.'),
  flag(E, 'experimental-txn-mode-write-with-shared-buffer', 'bool', 'true', 'no-effect', '3.5', 'bbolt buffer sharing for write transactions.'),
  flag(E, 'experimental-bootstrap-defrag-threshold-megabytes', 'uint', '0', 'no-effect', '3.5', 'Old name of --bootstrap-defrag-threshold-megabytes (etcd-ts stores in LevelDB: no free pages to count).'),
  flag(E, 'bootstrap-defrag-threshold-megabytes', 'uint', '0', 'no-effect', '3.6', 'Defragment at boot when it would free at least this many megabytes of bbolt free pages (etcd-ts stores in LevelDB, which reclaims space by its own compactions).'),
  flag(E, 'experimental-stop-grpc-service-on-defrag', 'bool', 'false', 'core', '3.5', 'Stop serving gRPC health during defragmentation.'),
  flag(E, 'experimental-wait-cluster-ready-timeout', 'duration', '5s', 'core', '3.5', 'Maximum duration to wait for the cluster to be ready.'),
  flag(E, 'feature-gates', 'string', '', 'core', '3.6', 'Comma-separated Name=true|false feature gates (e.g. LeaseCheckpoint=true).'),

  flag(U, 'force-new-cluster', 'bool', 'false', 'core', '3.4', 'Force to create a new one-member cluster.'),
  flag(U, 'unsafe-no-fsync', 'bool', 'false', 'core', '3.5', 'Disables fsync, unsafe, will cause data loss.'),

  flag(O, 'config-file', 'string', '', 'core', '3.4', 'Path to a YAML configuration file with etcd\'s keys; other flags and ETCD_* variables are then ignored.'),
  flag(O, 'version', 'bool', 'false', 'core', '3.4', 'Print the version and exit.'),
  flag(O, 'etcd-version', 'string', '3.5.17', 'core', 'etcd-ts', 'etcd-ts only: the etcd version reported by Status and /version.'),

  ...[
    'cluster-active-size',
    'cluster-remove-delay',
    'cluster-sync-interval',
    'config',
    'force',
    'max-result-buffer',
    'max-retry-attempts',
    'peer-heartbeat-interval',
    'peer-election-timeout',
    'retry-interval',
    'snapshot',
    'v',
    'vv',
  ].map((name) => flag('Ignored', name, 'ignored', '', 'removed', 'legacy', 'Pre-3.0 flag; etcd ignores it with a warning.')),
];

const flagsByName = new Map(flagTable.map((spec) => [spec.name, spec] as const));

export function findFlag(name: string): FlagSpec | undefined {
  return flagsByName.get(name);
}

/** etcd's rule (pkg/flags FlagToEnv): ETCD_ + upper-case name with '-' turned into '_'. */
export function flagToEnvName(flagName: string): string {
  return `ETCD_${flagName.toUpperCase().replaceAll('-', '_')}`;
}
