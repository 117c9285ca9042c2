// Owns parseConfig: etcd's command line, ETCD_* environment and --config-file turned into one typed,
// validated EtcdConfig, with etcd's defaults, precedence rules and start-up checks (and its error
// wording where clients or scripts may match on it). It does no I/O except reading the config file.
import { readFileSync } from 'node:fs';
import { ConfigError } from './config-error.js';
import { applyFeatureGates, parseFeatureGates } from './feature-gates.js';
import { isStreamLogOutput, parseLogRotationConfig } from './log-rotation-config.js';
import { rawFlagsFromYaml } from './config-file.js';
import { findFlag, flagTable, flagToEnvName, type FlagSpec } from './flag-table.js';
import { parseGoFlags } from './go-flags.js';
import { parseGoDurationMs } from './duration.js';
import type { AutoCompactionRetention, EtcdConfig, LogLevel, TlsEndpointConfig } from './types.js';
import { checkBindUrls, formatEtcdUrl, formatInitialCluster, parseInitialCluster, type ClusterMember } from './urls.js';
import { parseFlagValue, type FlagValue } from './values.js';

export interface ParseConfigResult {
  config: EtcdConfig;
  /** Things etcd would log as warnings at start-up; the caller logs them. */
  warnings: string[];
}

export interface ParseConfigOptions {
  /** Reads --config-file; tests pass their own. */
  readFile?: (path: string) => string;
}

type FlagSource = 'flag' | 'env' | 'file';

const twoGibibytes = 2 * 1024 * 1024 * 1024;
const quotaWarnAboveBytes = 8 * 1024 * 1024 * 1024;
/** etcd's maxElectionMs: longer timeouts make failover unreasonably slow. */
const electionTimeoutMsMax = 50000;
const bcryptCostMin = 4;
const bcryptCostMax = 31;

const envNameToFlag = new Map(flagTable.map((spec) => [flagToEnvName(spec.name), spec] as const));

/** Flags renamed in etcd 3.6: the old experimental name still works; setting both is ambiguous. */
const renamedFlags: ReadonlyArray<readonly [string, string]> = [
  ['watch-progress-notify-interval', 'experimental-watch-progress-notify-interval'],
  ['corrupt-check-time', 'experimental-corrupt-check-time'],
  ['compact-hash-check-time', 'experimental-compact-hash-check-time'],
  ['compaction-batch-limit', 'experimental-compaction-batch-limit'],
  ['warning-apply-duration', 'experimental-warning-apply-duration'],
  ['warning-unary-request-duration', 'experimental-warning-unary-request-duration'],
  ['bootstrap-defrag-threshold-megabytes', 'experimental-bootstrap-defrag-threshold-megabytes'],
  ['max-learners', 'experimental-max-learners'],
  ['snapshot-catchup-entries', 'experimental-snapshot-catchup-entries'],
  ['backend-bbolt-freelist-type', 'experimental-backend-bbolt-freelist-type'],
  ['log-outputs', 'log-output'],
];

function invalidValueMessage(spec: FlagSpec, text: string, source: FlagSource, reason: string): string {
  if (source === 'env') return `invalid value "${text}" for ${flagToEnvName(spec.name)}: ${reason}`;
  if (source === 'file') return `invalid value "${text}" for config file key "${spec.name}": ${reason}`;
  if (spec.kind === 'bool') return `invalid boolean value "${text}" for -${spec.name}: ${reason}`;
  return `invalid value "${text}" for flag -${spec.name}: ${reason}`;
}

/** Collects raw text per flag from env, refusing a variable that shadows a command-line flag. */
function mergeEnvironment(
  rawByFlag: Map<string, string>,
  sourceByFlag: Map<string, FlagSource>,
  env: Record<string, string | undefined>,
  warnings: string[],
): void {
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith('ETCD_') || value === undefined) continue;
    const spec = envNameToFlag.get(key);
    if (key === 'ETCD_CONFIG_FILE') continue;
    // ETCD_TS_* variables are etcd-ts's own settings (e.g. ETCD_TS_DISCOVERY_DNS_SERVERS), not flags.
    if (spec === undefined && key.startsWith('ETCD_TS_')) continue;
    if (spec === undefined) {
      warnings.push(`unrecognized environment variable ${key}=${value}`);
      continue;
    }
    if (spec.name === 'version') {
      warnings.push(`cannot set special environment variable ${key}=${value}`);
      continue;
    }
    if (sourceByFlag.get(spec.name) === 'flag') {
      throw new ConfigError(
        `conflicting environment variable "${key}" is shadowed by corresponding command-line flag (either unset environment variable or disable flag)`,
      );
    }
    // Like etcd, an empty variable does not set its flag. Unlike etcd, an empty one does not
    // conflict with the flag either: container tooling often exports empty variables.
    if (value === '') continue;
    rawByFlag.set(spec.name, value);
    sourceByFlag.set(spec.name, 'env');
  }
}

function typeAllFlags(
  rawByFlag: Map<string, string>,
  sourceByFlag: Map<string, FlagSource>,
): Map<string, FlagValue> {
  const values = new Map<string, FlagValue>();
  for (const spec of flagTable) {
    const raw = rawByFlag.get(spec.name);
    const text = raw ?? spec.defaultText;
    try {
      values.set(spec.name, parseFlagValue(spec, text));
    } catch (error) {
      const source = sourceByFlag.get(spec.name) ?? 'flag';
      throw new ConfigError(invalidValueMessage(spec, text, source, (error as Error).message));
    }
  }
  return values;
}

function parseAutoCompactionRetention(mode: 'periodic' | 'revision', retention: string): AutoCompactionRetention {
  // etcd: a non-negative integer is hours (periodic) or revisions (revision); otherwise a Go duration.
  if (/^\+?\d+$/.test(retention)) {
    const amount = Number(retention);
    return mode === 'revision' ? { mode, revisions: amount } : { mode, periodMs: amount * 3_600_000 };
  }
  if (mode === 'revision') {
    throw new ConfigError(`error parsing CompactionRetention: "${retention}" is not a revision count`);
  }
  let periodMs: number;
  try {
    periodMs = parseGoDurationMs(retention);
  } catch (error) {
    throw new ConfigError(`error parsing CompactionRetention: ${(error as Error).message}`);
  }
  if (periodMs < 0) throw new ConfigError(`error parsing CompactionRetention: negative retention "${retention}"`);
  return { mode, periodMs };
}

function sameUrlSets(left: readonly string[], right: readonly string[]): boolean {
  const a = [...new Set(left)].sort();
  const b = [...new Set(right)].sort();
  return a.length === b.length && a.every((url, i) => url === b[i]);
}

function validateInitialCluster(config: EtcdConfig): void {
  // A v2 proxy is no member of the cluster it fronts: it only needs the members' peer URLs.
  if (config.proxy.mode !== 'off') return;
  const members = config.initialCluster;
  if (members.length === 0) {
    if (config.discovery.url === '' && config.discovery.srvDomain === '' && config.discovery.token === '') {
      throw new ConfigError('initial cluster unset and no discovery URL found');
    }
    return;
  }
  const own = members.find((member) => member.name === config.name);
  if (own === undefined) {
    throw new ConfigError(`couldn't find local name "${config.name}" in the initial cluster configuration`);
  }
  const allUrls = members.flatMap((member) => member.peerUrls);
  if (new Set(allUrls).size !== allUrls.length) {
    throw new ConfigError(`initial cluster ${formatInitialCluster(members)} has duplicate url`);
  }
  if (config.initialClusterState !== 'new') return;
  const advertised = config.initialAdvertisePeerUrls.map(formatEtcdUrl);
  if (sameUrlSets(advertised, own.peerUrls)) return;
  const missingFromAdvertise = own.peerUrls.filter((url) => !advertised.includes(url));
  if (missingFromAdvertise.length > 0) {
    throw new ConfigError(
      `--initial-cluster has ${missingFromAdvertise.map((url) => `${config.name}=${url}`).join(',')} but missing from --initial-advertise-peer-urls=${[...advertised].sort().join(',')}`,
    );
  }
  const missingFromCluster = advertised.filter((url) => !own.peerUrls.includes(url));
  throw new ConfigError(
    `--initial-advertise-peer-urls has ${missingFromCluster.join(',')} but missing from --initial-cluster=${formatInitialCluster([{ name: config.name, peerUrls: advertised }])}`,
  );
}

function validate(config: EtcdConfig, isSet: (name: string) => boolean): void {
  try {
    checkBindUrls(config.listenPeerUrls);
    checkBindUrls(config.listenClientUrls);
    checkBindUrls(config.listenClientHttpUrls);
    checkBindUrls(config.listenMetricsUrls);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  for (const [flagName, urls] of [
    ['--initial-advertise-peer-urls', config.initialAdvertisePeerUrls],
    ['--advertise-client-urls', config.advertiseClientUrls],
  ] as const) {
    const empty = urls.find((url) => url.hostname === '' && url.protocol !== 'unix:' && url.protocol !== 'unixs:');
    if (empty !== undefined) {
      throw new ConfigError(
        `${flagName} "${urls.map(formatEtcdUrl).join(',')}" must be "host:port" (unexpected empty host (${formatEtcdUrl(empty)}))`,
      );
    }
  }
  const bootstrapMethods = [config.discovery.url !== '', config.initialCluster.length > 0, config.discovery.srvDomain !== ''];
  if (bootstrapMethods.filter(Boolean).length > 1) {
    throw new ConfigError(
      'multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery" or "discovery-srv"',
    );
  }
  if (config.heartbeatIntervalMs <= 0) {
    throw new ConfigError(`--heartbeat-interval must be >0 (set to ${config.heartbeatIntervalMs}ms)`);
  }
  if (config.electionTimeoutMs <= 0) {
    throw new ConfigError(`--election-timeout must be >0 (set to ${config.electionTimeoutMs}ms)`);
  }
  if (5 * config.heartbeatIntervalMs > config.electionTimeoutMs) {
    throw new ConfigError(
      `--election-timeout[${config.electionTimeoutMs}ms] should be at least as 5 times as --heartbeat-interval[${config.heartbeatIntervalMs}ms]`,
    );
  }
  if (config.electionTimeoutMs > electionTimeoutMsMax) {
    throw new ConfigError(
      `--election-timeout[${config.electionTimeoutMs}ms] is too long, and should be set less than ${electionTimeoutMsMax}ms`,
    );
  }
  if (config.listenClientUrls.length > 0 && config.advertiseClientUrls.length === 0) {
    throw new ConfigError('--advertise-client-urls is required when --listen-client-urls is set explicitly');
  }
  if (config.experimental.leaseCheckpointPersist && !config.experimental.leaseCheckpoint) {
    throw new ConfigError('setting experimental-enable-lease-checkpoint-persist requires experimental-enable-lease-checkpoint');
  }
  if (config.auth.bcryptCost < bcryptCostMin || config.auth.bcryptCost > bcryptCostMax) {
    throw new ConfigError(`--bcrypt-cost ${config.auth.bcryptCost} is out of range [${bcryptCostMin}, ${bcryptCostMax}]`);
  }
  if (config.logOutputs.length === 0) {
    throw new ConfigError("--log-outputs must name at least one output ('default', 'stderr', 'stdout' or a file)");
  }
  if (config.logOutputs.includes('default') && config.logOutputs.length > 1) {
    throw new ConfigError('multi logoutput for "default" is not supported yet');
  }
  if (config.logRotation !== undefined) {
    // etcd's rule: rotation needs one file among the outputs, and takes no more than one.
    const files = config.logOutputs.filter((output) => !isStreamLogOutput(output)).length;
    if ((config.logOutputs.length === 1 && files === 0) || files > 1) {
      throw new ConfigError('--log-outputs requires a single file path when --log-rotate-config-json is defined');
    }
  }
  if (config.tls.maxVersion !== '' && config.tls.maxVersion < config.tls.minVersion) {
    throw new ConfigError(`--tls-max-version ${config.tls.maxVersion} is lower than --tls-min-version ${config.tls.minVersion}`);
  }
  if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(config.etcdVersion)) {
    throw new ConfigError(`--etcd-version "${config.etcdVersion}" must be a version like 3.5.17`);
  }
  validateInitialCluster(config);
}

export function parseConfig(
  argv: string[],
  env: Record<string, string | undefined>,
  options: ParseConfigOptions = {},
): ParseConfigResult {
  const warnings: string[] = [];
  const parsedArgv = parseGoFlags(argv);
  let rawByFlag = parsedArgv.rawByFlag;
  const sourceByFlag = new Map<string, FlagSource>([...rawByFlag.keys()].map((name) => [name, 'flag'] as const));

  const versionText = rawByFlag.get('version');
  let wantsVersion = false;
  if (versionText !== undefined) {
    try {
      wantsVersion = parseFlagValue(findFlag('version')!, versionText) === true;
    } catch (error) {
      throw new ConfigError(invalidValueMessage(findFlag('version')!, versionText, 'flag', (error as Error).message));
    }
  }
  const command: EtcdConfig['command'] = parsedArgv.helpRequested ? 'help' : wantsVersion ? 'version' : 'serve';

  const configFile = rawByFlag.get('config-file') ?? env['ETCD_CONFIG_FILE'] ?? '';
  if (command === 'serve' && configFile !== '') {
    const readFile = options.readFile ?? ((path: string) => readFileSync(path, 'utf8'));
    let source: string;
    try {
      source = readFile(configFile);
    } catch (error) {
      throw new ConfigError(`cannot read config file ${configFile}: ${(error as Error).message}`);
    }
    const ignored = [...rawByFlag.keys()].filter((name) => name !== 'config-file');
    const fromFile = rawFlagsFromYaml(source, configFile);
    warnings.push(
      `loaded server configuration from ${configFile}; other command line flags and environment variables are ignored`,
      ...fromFile.warnings,
    );
    if (ignored.length > 0) warnings.push(`ignored command line flags because of --config-file: ${ignored.map((n) => `--${n}`).join(' ')}`);
    rawByFlag = fromFile.rawByFlag;
    rawByFlag.set('config-file', configFile);
    sourceByFlag.clear();
    for (const name of rawByFlag.keys()) sourceByFlag.set(name, 'file');
  } else if (command === 'serve') {
    mergeEnvironment(rawByFlag, sourceByFlag, env, warnings);
  }

  const values = typeAllFlags(rawByFlag, sourceByFlag);
  const isSet = (name: string): boolean => rawByFlag.has(name);
  const value = <T extends FlagValue>(name: string): T => {
    const found = values.get(name);
    if (found === undefined) throw new Error(`flag table has no "${name}"`);
    return found as T;
  };

  for (const [newName, oldName] of renamedFlags) {
    if (isSet(newName) && isSet(oldName) && rawByFlag.get(newName) !== rawByFlag.get(oldName)) {
      throw new ConfigError(`both --${oldName} and --${newName} are set; only set --${newName}`);
    }
  }
  /** The 3.6 name wins; the old name counts only when the user set it. */
  const renamed = <T extends FlagValue>(newName: string, oldName: string): T =>
    !isSet(newName) && isSet(oldName) ? value<T>(oldName) : value<T>(newName);

  for (const spec of flagTable) {
    if (!isSet(spec.name)) continue;
    if (spec.support === 'removed') warnings.push(`flag "-${spec.name}" is no longer supported - ignoring.`);
    if (spec.support === 'no-effect') warnings.push(`flag --${spec.name} has no effect in etcd-ts: ${spec.help}`);
  }

  const name = value<string>('name');
  const listenClientUrls = value<URL[]>('listen-client-urls');
  const initialAdvertisePeerUrls = value<URL[]>('initial-advertise-peer-urls');
  // etcd drops its default advertise URL when only the listen URL is given, then refuses to start:
  // advertising localhost while listening elsewhere would send clients to the wrong place. Not when
  // it may run as a v2 proxy (--proxy, or v2 discovery with --discovery-fallback=proxy), which
  // advertises nothing: etcd keeps the default then (its mayBeProxy).
  const mayBeProxy = value<string>('proxy') !== 'off' || (value<string>('discovery') !== '' && value<string>('discovery-fallback') === 'proxy');
  const advertiseClientUrls =
    isSet('listen-client-urls') && !isSet('advertise-client-urls') && !mayBeProxy ? [] : value<URL[]>('advertise-client-urls');

  const discoveryEndpoints = value<string[]>('discovery-endpoints');
  const usesDiscovery =
    value<string>('discovery') !== '' ||
    value<string>('discovery-srv') !== '' ||
    value<string>('discovery-srv-name') !== '' ||
    discoveryEndpoints.length > 0;
  let initialCluster: ClusterMember[];
  if (usesDiscovery && !isSet('initial-cluster')) {
    initialCluster = [];
  } else if (name !== 'default' && !isSet('initial-cluster')) {
    // etcd: `etcd --name abc` alone means a one-member cluster of abc at its advertised peer URLs.
    initialCluster = [{ name, peerUrls: initialAdvertisePeerUrls.map(formatEtcdUrl) }];
  } else {
    try {
      initialCluster = parseInitialCluster(value<string>('initial-cluster'));
    } catch (error) {
      throw new ConfigError(`invalid value "${value<string>('initial-cluster')}" for flag -initial-cluster: ${(error as Error).message}`);
    }
  }

  const quotaFlagBytes = value<number>('quota-backend-bytes');
  // etcd: 0 means the default quota; a negative quota switches the quota off. "Off" is the largest
  // safe integer rather than Infinity so the value still encodes as an int64 (Status dbSizeQuota).
  const quotaBackendBytes =
    quotaFlagBytes === 0 ? twoGibibytes : quotaFlagBytes < 0 ? Number.MAX_SAFE_INTEGER : quotaFlagBytes;
  if (quotaFlagBytes > quotaWarnAboveBytes) {
    warnings.push(`quota-backend-bytes ${quotaFlagBytes} exceeds the maximum recommended quota of ${quotaWarnAboveBytes} bytes (8 GiB)`);
  }

  const autoCompactionMode = value<'periodic' | 'revision'>('auto-compaction-mode');
  const logLevel: LogLevel = value<boolean>('debug') && !isSet('log-level') ? 'debug' : value<LogLevel>('log-level');

  const tlsEndpoint = (prefix: '' | 'peer-'): TlsEndpointConfig => ({
    certFile: value(`${prefix}cert-file`),
    keyFile: value(`${prefix}key-file`),
    clientCertFile: value(`${prefix}client-cert-file`),
    clientKeyFile: value(`${prefix}client-key-file`),
    clientCertAuth: value(`${prefix}client-cert-auth`),
    trustedCaFile: value(`${prefix}trusted-ca-file`),
    autoTls: value(`${prefix}auto-tls`),
    crlFile: value(prefix === '' ? 'client-crl-file' : 'peer-crl-file'),
    allowedHostnames: value(prefix === '' ? 'client-cert-allowed-hostname' : 'peer-cert-allowed-hostname'),
    allowedCns: prefix === '' ? [] : value('peer-cert-allowed-cn'),
  });

  const config: EtcdConfig = {
    command,
    etcdVersion: value('etcd-version'),
    configFile: value('config-file'),
    name,
    dataDir: value<string>('data-dir') === '' ? `${name}.etcd` : value('data-dir'),
    walDir: value('wal-dir'),
    snapshotCount: value('snapshot-count'),
    snapshotCatchupEntries: renamed('snapshot-catchup-entries', 'experimental-snapshot-catchup-entries'),
    heartbeatIntervalMs: value('heartbeat-interval'),
    electionTimeoutMs: value('election-timeout'),
    initialElectionTickAdvance: value('initial-election-tick-advance'),
    raftReadTimeoutMs: value('raft-read-timeout'),
    raftWriteTimeoutMs: value('raft-write-timeout'),
    maxSnapshots: value('max-snapshots'),
    maxWals: value('max-wals'),
    quotaBackendBytes,
    quotaBackendBytesShown: quotaFlagBytes === 0 ? twoGibibytes : quotaFlagBytes,
    maxTxnOps: value('max-txn-ops'),
    maxRequestBytes: value('max-request-bytes'),
    maxConcurrentStreams: value('max-concurrent-streams'),
    maxLearners: renamed('max-learners', 'experimental-max-learners'),
    enableGrpcGateway: value('enable-grpc-gateway'),
    grpcKeepAliveMinTimeMs: value('grpc-keepalive-min-time'),
    grpcKeepAliveIntervalMs: value('grpc-keepalive-interval'),
    grpcKeepAliveTimeoutMs: value('grpc-keepalive-timeout'),

    listenPeerUrls: value('listen-peer-urls'),
    listenClientUrls,
    listenClientHttpUrls: value('listen-client-http-urls'),
    listenMetricsUrls: value('listen-metrics-urls'),
    advertiseClientUrls,
    initialAdvertisePeerUrls,
    initialCluster,
    initialClusterState: value('initial-cluster-state'),
    initialClusterToken: value('initial-cluster-token'),
    discovery: {
      url: value('discovery'),
      fallback: value('discovery-fallback'),
      proxyUrl: value('discovery-proxy'),
      srvDomain: value('discovery-srv'),
      srvName: value('discovery-srv-name'),
      token: value('discovery-token'),
      endpoints: discoveryEndpoints,
    },
    proxy: {
      mode: value('proxy'),
      failureWaitMs: value('proxy-failure-wait'),
      refreshIntervalMs: value('proxy-refresh-interval'),
      dialTimeoutMs: value('proxy-dial-timeout'),
      writeTimeoutMs: value('proxy-write-timeout'),
      readTimeoutMs: value('proxy-read-timeout'),
    },
    strictReconfigCheck: value('strict-reconfig-check'),
    preVote: value('pre-vote'),
    forceNewCluster: value('force-new-cluster'),

    autoCompactionMode,
    autoCompactionRetention: parseAutoCompactionRetention(autoCompactionMode, value('auto-compaction-retention')),
    watchProgressNotifyIntervalMs: renamed('watch-progress-notify-interval', 'experimental-watch-progress-notify-interval'),

    enableV2: value('enable-v2'),
    v2Deprecation: value('v2-deprecation'),

    tls: {
      client: tlsEndpoint(''),
      peer: tlsEndpoint('peer-'),
      cipherSuites: value('cipher-suites'),
      minVersion: value('tls-min-version'),
      maxVersion: value('tls-max-version'),
      selfSignedCertValidityYears: value('self-signed-cert-validity'),
      peerSkipClientSanVerification: value('experimental-peer-skip-client-san-verification'),
    },
    cors: value('cors'),
    hostWhitelist: value('host-whitelist'),

    auth: {
      tokenSpec: value('auth-token'),
      tokenTtlSeconds: value('auth-token-ttl'),
      bcryptCost: value('bcrypt-cost'),
    },

    logger: value('logger'),
    logLevel,
    logOutputs: renamed('log-outputs', 'log-output'),
    logRotation: command === 'serve' && value<boolean>('enable-log-rotation') ? parseLogRotationConfig(value('log-rotation-config-json')) : undefined,
    logFormat: value('log-format'),
    metrics: value('metrics'),
    unsafeNoFsync: value('unsafe-no-fsync'),

    experimental: {
      leaseCheckpoint: value('experimental-enable-lease-checkpoint'),
      leaseCheckpointPersist: value('experimental-enable-lease-checkpoint-persist'),
      initialCorruptCheck: value('experimental-initial-corrupt-check'),
      corruptCheckIntervalMs: renamed('corrupt-check-time', 'experimental-corrupt-check-time'),
      compactHashCheck: value('experimental-compact-hash-check-enabled'),
      compactHashCheckIntervalMs: renamed('compact-hash-check-time', 'experimental-compact-hash-check-time'),
      compactionBatchLimit: renamed('compaction-batch-limit', 'experimental-compaction-batch-limit'),
      compactionSleepIntervalMs: value('experimental-compaction-sleep-interval'),
      waitClusterReadyTimeoutMs: value('experimental-wait-cluster-ready-timeout'),
      warningApplyDurationMs: renamed('warning-apply-duration', 'experimental-warning-apply-duration'),
      warningUnaryRequestDurationMs: renamed('warning-unary-request-duration', 'experimental-warning-unary-request-duration'),
      stopGrpcServiceOnDefrag: value('experimental-stop-grpc-service-on-defrag'),
      featureGates: parseFeatureGates(value('feature-gates')),
    },

    flagValues: values,
    flagsSet: [...rawByFlag.keys()],
    unimplementedFlagsSet: flagTable
      .filter((spec) => spec.support === 'later' && isSet(spec.name))
      .map((spec) => spec.name),
  };

  warnings.push(...applyFeatureGates(config.experimental, isSet));
  if (command === 'serve') validate(config, isSet);
  return { config, warnings };
}
