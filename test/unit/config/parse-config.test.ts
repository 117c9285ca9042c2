// Tests parseConfig against etcd's documented and observed behaviour: defaults, Go flag syntax,
// ETCD_* variables, conflicts, validation messages and the config file.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, flagTable, flagToEnvName, formatEtcdUrl } from '../../../src/config/index.js';

const hrefs = (urls: URL[]) => urls.map(formatEtcdUrl);
const parse = (argv: string[], env: Record<string, string | undefined> = {}) => parseConfig(argv, env);
const errorOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('defaults', () => {
  it('match etcd 3.5 with no flags', () => {
    const { config, warnings } = parse([]);
    expect(warnings).toEqual([]);
    expect(config.command).toBe('serve');
    expect(config.name).toBe('default');
    expect(config.dataDir).toBe('default.etcd');
    expect(hrefs(config.listenClientUrls)).toEqual(['http://localhost:2379']);
    expect(hrefs(config.advertiseClientUrls)).toEqual(['http://localhost:2379']);
    expect(hrefs(config.listenPeerUrls)).toEqual(['http://localhost:2380']);
    expect(hrefs(config.initialAdvertisePeerUrls)).toEqual(['http://localhost:2380']);
    expect(config.initialCluster).toEqual([{ name: 'default', peerUrls: ['http://localhost:2380'] }]);
    expect(config.initialClusterState).toBe('new');
    expect(config.initialClusterToken).toBe('etcd-cluster');
    expect(config.snapshotCount).toBe(100000);
    expect(config.heartbeatIntervalMs).toBe(100);
    expect(config.electionTimeoutMs).toBe(1000);
    expect(config.quotaBackendBytes).toBe(2 * 1024 ** 3);
    expect(config.maxTxnOps).toBe(128);
    expect(config.maxRequestBytes).toBe(1572864);
    expect(config.maxConcurrentStreams).toBe(4294967295);
    expect(config.autoCompactionMode).toBe('periodic');
    expect(config.autoCompactionRetention).toEqual({ mode: 'periodic', periodMs: 0 });
    expect(config.preVote).toBe(true);
    expect(config.strictReconfigCheck).toBe(true);
    expect(config.watchProgressNotifyIntervalMs).toBe(600_000);
    expect(config.grpcKeepAliveIntervalMs).toBe(7_200_000);
    expect(config.logLevel).toBe('info');
    expect(config.logOutputs).toEqual(['default']);
    expect(config.auth).toEqual({ tokenSpec: 'simple', tokenTtlSeconds: 300, bcryptCost: 10 });
    expect(config.etcdVersion).toBe('3.5.17');
    expect(config.cors).toEqual(['*']);
    expect(config.flagsSet).toEqual([]);
    expect(config.unimplementedFlagsSet).toEqual([]);
  });

  it('derives data dir and a one-member initial cluster from --name, as etcd does', () => {
    const { config } = parse(['--name', 'n1', '--initial-advertise-peer-urls', 'http://127.0.0.1:12380', '--listen-peer-urls', 'http://127.0.0.1:12380']);
    expect(config.dataDir).toBe('n1.etcd');
    expect(config.initialCluster).toEqual([{ name: 'n1', peerUrls: ['http://127.0.0.1:12380'] }]);
  });

  it('types every flag of the table from its default text', () => {
    const { config } = parse([]);
    for (const spec of flagTable) expect(config.flagValues.has(spec.name), spec.name).toBe(true);
  });
});

describe('Go flag syntax', () => {
  it('accepts --flag=value, --flag value, -flag value and single-dash =', () => {
    const { config } = parse(['--name=a', '-data-dir', '/tmp/x', '--snapshot-count', '7', '-heartbeat-interval=50']);
    expect(config.name).toBe('a');
    expect(config.dataDir).toBe('/tmp/x');
    expect(config.snapshotCount).toBe(7);
    expect(config.heartbeatIntervalMs).toBe(50);
  });

  it('reads a bare boolean as true and does not swallow the next argument', () => {
    const { config } = parse(['--enable-v2', '--name', 'x', '--pre-vote=false', '--initial-cluster', 'x=http://localhost:2380']);
    expect(config.enableV2).toBe(true);
    expect(config.preVote).toBe(false);
    expect(config.name).toBe('x');
  });

  it('accepts Go boolean spellings and refuses others with Go wording', () => {
    expect(parse(['--enable-v2=T']).config.enableV2).toBe(true);
    expect(parse(['--enable-v2=0']).config.enableV2).toBe(false);
    expect(errorOf(() => parse(['--enable-v2=maybe']))).toBe('invalid boolean value "maybe" for -enable-v2: parse error');
  });

  it('takes a value starting with "-" as the value, like Go', () => {
    expect(parse(['--initial-cluster-token', '-odd-token']).config.initialClusterToken).toBe('-odd-token');
  });

  it('names an unknown flag', () => {
    expect(errorOf(() => parse(['--bogus-flag']))).toBe('flag provided but not defined: -bogus-flag');
  });

  it('refuses a missing value, bad integers and positional arguments', () => {
    expect(errorOf(() => parse(['--name']))).toBe('flag needs an argument: -name');
    expect(errorOf(() => parse(['--snapshot-count=abc']))).toBe('invalid value "abc" for flag -snapshot-count: parse error');
    expect(errorOf(() => parse(['--max-txn-ops=-1']))).toContain('-max-txn-ops');
    expect(errorOf(() => parse(['foo']))).toBe("'foo' is not a valid flag");
    expect(errorOf(() => parse(['---name=x']))).toBe('bad flag syntax: ---name=x');
  });

  it('treats -h/--help as a request for help and --version as one for the version', () => {
    expect(parse(['-h']).config.command).toBe('help');
    expect(parse(['--help']).config.command).toBe('help');
    expect(parse(['--version']).config.command).toBe('version');
    expect(parse(['--version=false']).config.command).toBe('serve');
    expect(errorOf(() => parse(['--version=maybe']))).toBe('invalid boolean value "maybe" for -version: parse error');
  });

  it('parses choice flags and rejects values outside the choices', () => {
    expect(parse(['--initial-cluster-state=existing']).config.initialClusterState).toBe('existing');
    expect(errorOf(() => parse(['--initial-cluster-state', 'foo']))).toContain('invalid value "foo" for flag -initial-cluster-state');
    expect(errorOf(() => parse(['--log-level', 'loud']))).toContain('-log-level');
  });

  it('accepts the legacy flags etcd ignores, with etcd\'s warning', () => {
    const { warnings } = parse(['-v', '--peer-heartbeat-interval=5']);
    expect(warnings).toContain('flag "-v" is no longer supported - ignoring.');
    expect(warnings).toContain('flag "-peer-heartbeat-interval" is no longer supported - ignoring.');
  });

  it('hex and underscores in integers, as Go base-0 parsing allows', () => {
    expect(parse(['--max-request-bytes=0x100']).config.maxRequestBytes).toBe(256);
    expect(parse(['--snapshot-count=1_000']).config.snapshotCount).toBe(1000);
  });
});

describe('environment variables', () => {
  it('maps every flag to ETCD_<UPPER_SNAKE>', () => {
    expect(flagToEnvName('initial-cluster-state')).toBe('ETCD_INITIAL_CLUSTER_STATE');
    const { config } = parse([], {
      ETCD_NAME: 'envname',
      ETCD_INITIAL_CLUSTER: 'envname=http://localhost:2380',
      ETCD_SNAPSHOT_COUNT: '42',
      ETCD_ENABLE_V2: 'true',
      ETCD_AUTO_COMPACTION_RETENTION: '1h30m',
      PATH: '/usr/bin',
    });
    expect(config.name).toBe('envname');
    expect(config.snapshotCount).toBe(42);
    expect(config.enableV2).toBe(true);
    expect(config.autoCompactionRetention).toEqual({ mode: 'periodic', periodMs: 5_400_000 });
    expect(config.flagsSet.sort()).toEqual(['auto-compaction-retention', 'enable-v2', 'initial-cluster', 'name', 'snapshot-count']);
  });

  it('refuses a variable shadowed by its command-line flag, in etcd\'s words', () => {
    expect(errorOf(() => parse(['--name', 'y'], { ETCD_NAME: 'x' }))).toBe(
      'conflicting environment variable "ETCD_NAME" is shadowed by corresponding command-line flag (either unset environment variable or disable flag)',
    );
  });

  it('warns about an unknown ETCD_ variable and ignores other variables', () => {
    const { warnings } = parse([], { ETCD_FOOBAR: '1', HOME: '/root', ETCD_TS_DISCOVERY_DNS_SERVERS: '127.0.0.1:53' });
    // ETCD_TS_* are etcd-ts's own settings, not etcd flags: no warning for them.
    expect(warnings).toEqual(['unrecognized environment variable ETCD_FOOBAR=1']);
  });

  it('names the variable when its value does not parse', () => {
    expect(errorOf(() => parse([], { ETCD_SNAPSHOT_COUNT: 'abc' }))).toBe('invalid value "abc" for ETCD_SNAPSHOT_COUNT: parse error');
  });

  it('does not let ETCD_VERSION turn the server into a version print', () => {
    const { config, warnings } = parse([], { ETCD_VERSION: '1' });
    expect(config.command).toBe('serve');
    expect(warnings[0]).toContain('cannot set special environment variable ETCD_VERSION');
  });
});

describe('validation at start', () => {
  it('election timeout at least 5 heartbeats and at most 50000 ms', () => {
    expect(errorOf(() => parse(['--election-timeout', '100']))).toBe(
      '--election-timeout[100ms] should be at least as 5 times as --heartbeat-interval[100ms]',
    );
    expect(parse(['--election-timeout', '500']).config.electionTimeoutMs).toBe(500);
    expect(errorOf(() => parse(['--election-timeout', '50001', '--heartbeat-interval', '1000']))).toContain('is too long');
    expect(errorOf(() => parse(['--heartbeat-interval', '0']))).toContain('--heartbeat-interval must be >0');
  });

  it('requires advertise-client-urls once listen-client-urls is set', () => {
    expect(errorOf(() => parse(['--listen-client-urls', 'http://127.0.0.1:23799']))).toBe(
      '--advertise-client-urls is required when --listen-client-urls is set explicitly',
    );
    const { config } = parse(['--listen-client-urls', 'http://127.0.0.1:23799', '--advertise-client-urls', 'http://127.0.0.1:23799']);
    expect(hrefs(config.listenClientUrls)).toEqual(['http://127.0.0.1:23799']);
  });

  it('lets a v2 proxy (or a member that may fall back to one) start without advertise URLs or its name in the initial cluster, as etcd does', () => {
    const proxy = parse(['--proxy', 'readonly', '--listen-client-urls', 'http://127.0.0.1:23799', '--initial-cluster', 'a=http://127.0.0.1:2380']).config;
    expect(proxy.proxy).toEqual({ mode: 'readonly', failureWaitMs: 5000, refreshIntervalMs: 30000, dialTimeoutMs: 1000, writeTimeoutMs: 5000, readTimeoutMs: 0 });
    expect(hrefs(proxy.advertiseClientUrls)).toEqual(['http://localhost:2379']);
    const fallback = parse(['--discovery', 'http://127.0.0.1:1/t', '--listen-client-urls', 'http://127.0.0.1:23799']).config;
    expect(hrefs(fallback.advertiseClientUrls)).toEqual(['http://localhost:2379']);
    expect(errorOf(() => parse(['--discovery', 'http://127.0.0.1:1/t', '--discovery-fallback', 'exit', '--listen-client-urls', 'http://127.0.0.1:23799'])))
      .toBe('--advertise-client-urls is required when --listen-client-urls is set explicitly');
  });

  it('checks URLs the way etcd does', () => {
    expect(errorOf(() => parse(['--listen-peer-urls', 'foo']))).toContain('URL scheme must be http, https, unix, or unixs: foo');
    expect(errorOf(() => parse(['--listen-peer-urls', 'http://127.0.0.1']))).toContain('does not have the form "host:port"');
    expect(errorOf(() => parse(['--listen-peer-urls', 'http://127.0.0.1:2380/x']))).toContain('must not contain a path');
    expect(errorOf(() => parse(['--listen-peer-urls', 'http://example.com:2380']))).toBe(
      'expected IP in URL for binding (http://example.com:2380)',
    );
    const { config } = parse(['--listen-peer-urls', 'http://0.0.0.0:2380,http://[::1]:2381']);
    expect(hrefs(config.listenPeerUrls)).toEqual(['http://0.0.0.0:2380', 'http://[::1]:2381']);
  });

  it('takes --cors as "*" or URLs by etcd\'s rules, and --host-whitelist as names', () => {
    expect(errorOf(() => parse(['--cors', 'http://a.example']))).toBe(
      'invalid value "http://a.example" for flag -cors: URL address does not have the form "host:port": http://a.example',
    );
    expect(parse([]).config.cors).toEqual(['*']);
    expect(parse(['--cors', 'HTTP://a.example:8080,https://b.example:443']).config.cors).toEqual(['http://a.example:8080', 'https://b.example:443']);
    expect(parse(['--host-whitelist', 'example.com,127.0.0.1']).config.hostWhitelist).toEqual(['example.com', '127.0.0.1']);
    expect(parse([]).config.hostWhitelist).toEqual(['*']);
  });

  it('parses --initial-cluster with several URLs for one name and checks our own entry', () => {
    const cluster = 'a=http://10.0.0.1:2380,a=http://10.0.0.1:2390,b=http://10.0.0.2:2380';
    const { config } = parse([
      '--name', 'a', '--initial-cluster', cluster,
      '--initial-advertise-peer-urls', 'http://10.0.0.1:2390,http://10.0.0.1:2380',
    ]);
    expect(config.initialCluster).toEqual([
      { name: 'a', peerUrls: ['http://10.0.0.1:2380', 'http://10.0.0.1:2390'] },
      { name: 'b', peerUrls: ['http://10.0.0.2:2380'] },
    ]);
    expect(errorOf(() => parse(['--name', 'c', '--initial-cluster', cluster]))).toBe(
      `couldn't find local name "c" in the initial cluster configuration`,
    );
    expect(errorOf(() => parse(['--name', 'b', '--initial-cluster', cluster]))).toBe(
      '--initial-cluster has b=http://10.0.0.2:2380 but missing from --initial-advertise-peer-urls=http://localhost:2380',
    );
    expect(errorOf(() => parse(['--initial-cluster', 'default=http://localhost:2380,x=http://localhost:2380']))).toContain('has duplicate url');
  });

  it('clears the default initial cluster when a discovery URL bootstraps, and refuses both', () => {
    const { config } = parse(['--discovery', 'https://discovery.example/abc', '--discovery-fallback', 'exit']);
    expect(config.initialCluster).toEqual([]);
    expect(config.discovery.url).toBe('https://discovery.example/abc');
    expect(errorOf(() => parse(['--discovery', 'https://d.example/x', '--initial-cluster', 'default=http://localhost:2380']))).toContain(
      'multiple discovery or bootstrap flags are set',
    );
  });
});

describe('typed values', () => {
  it('auto compaction: bare number is hours (periodic) or revisions (revision)', () => {
    expect(parse(['--auto-compaction-retention', '2']).config.autoCompactionRetention).toEqual({ mode: 'periodic', periodMs: 7_200_000 });
    expect(parse(['--auto-compaction-retention', '5m']).config.autoCompactionRetention).toEqual({ mode: 'periodic', periodMs: 300_000 });
    expect(
      parse(['--auto-compaction-mode', 'revision', '--auto-compaction-retention', '1000']).config.autoCompactionRetention,
    ).toEqual({ mode: 'revision', revisions: 1000 });
    expect(errorOf(() => parse(['--auto-compaction-retention', '5x']))).toContain('error parsing CompactionRetention');
    expect(errorOf(() => parse(['--auto-compaction-mode', 'hourly']))).toContain('-auto-compaction-mode');
  });

  it('quota: 0 is 2 GiB, negative disables, above 8 GiB warns', () => {
    expect(parse(['--quota-backend-bytes', '1048576']).config.quotaBackendBytes).toBe(1048576);
    expect(parse(['--quota-backend-bytes', '-1']).config.quotaBackendBytes).toBe(Number.MAX_SAFE_INTEGER);
    const { warnings } = parse(['--quota-backend-bytes', String(9 * 1024 ** 3)]);
    expect(warnings.some((w) => w.includes('exceeds the maximum recommended quota'))).toBe(true);
  });

  it('groups TLS flags per side', () => {
    const { config } = parse([
      '--cert-file', 'c.pem', '--key-file', 'k.pem', '--client-cert-auth', '--trusted-ca-file', 'ca.pem',
      '--peer-cert-file', 'pc.pem', '--peer-cert-allowed-cn', 'etcd,peer', '--tls-min-version', 'TLS1.3',
    ]);
    expect(config.tls.client).toMatchObject({ certFile: 'c.pem', keyFile: 'k.pem', clientCertAuth: true, trustedCaFile: 'ca.pem' });
    expect(config.tls.peer).toMatchObject({ certFile: 'pc.pem', allowedCns: ['etcd', 'peer'], clientCertAuth: false });
    expect(config.tls.minVersion).toBe('TLS1.3');
  });

  it('lists flags that are accepted but not implemented, and warns for flags with no effect', () => {
    const { config, warnings } = parse(['--cert-file', 'c.pem', '--grpc-keepalive-timeout', '5s', '--socket-reuse-port', '--max-snapshots', '3', '--name', 'n', '--initial-cluster', 'n=http://localhost:2380']);
    expect(config.unimplementedFlagsSet.sort()).toEqual(['socket-reuse-port']);
    expect(config.grpcKeepAliveTimeoutMs).toBe(5000);
    expect(warnings.some((w) => w.startsWith('flag --max-snapshots has no effect'))).toBe(true);
  });

  it('TLS, discovery, auth, snapshot catch-up, v2 and lease checkpoint flags are implemented: no "not implemented" warning', () => {
    const implemented = [
      '--cert-file', 'c.pem', '--key-file', 'k.pem', '--client-cert-auth', '--trusted-ca-file', 'ca.pem', '--auto-tls',
      '--client-crl-file', 'crl.pem', '--client-cert-allowed-hostname', 'h', '--cipher-suites', 'TLS_AES_128_GCM_SHA256',
      '--tls-min-version', 'TLS1.2', '--tls-max-version', 'TLS1.3', '--peer-cert-file', 'pc.pem', '--peer-key-file', 'pk.pem',
      '--peer-client-cert-auth', '--peer-trusted-ca-file', 'pca.pem', '--peer-cert-allowed-cn', 'etcd',
      '--peer-cert-allowed-hostname', 'p', '--peer-auto-tls', '--peer-client-cert-file', 'pcc.pem', '--peer-client-key-file', 'pck.pem',
      '--peer-crl-file', 'pcrl.pem', '--self-signed-cert-validity', '2', '--experimental-peer-skip-client-san-verification',
      '--discovery-srv', 'example.com', '--discovery-srv-name', 'x', '--auth-token', 'simple', '--auth-token-ttl', '60',
      '--bcrypt-cost', '4', '--snapshot-catchup-entries', '100', '--enable-v2', '--experimental-enable-lease-checkpoint',
      '--experimental-enable-lease-checkpoint-persist', '--name', 'n',
    ];
    const { config, warnings } = parse(implemented);
    expect(config.unimplementedFlagsSet).toEqual([]);
    expect(warnings.filter((w) => w.includes('no effect'))).toEqual([]);
    expect(config.snapshotCatchupEntries).toBe(100);
    expect(config.discovery).toMatchObject({ srvDomain: 'example.com', srvName: 'x' });
    const v3Discovery = parse(['--discovery-endpoints', 'http://127.0.0.1:2379', '--discovery-token', 't', '--name', 'n']).config;
    expect(v3Discovery.unimplementedFlagsSet).toEqual([]);
    expect(v3Discovery.discovery).toMatchObject({ endpoints: ['http://127.0.0.1:2379'], token: 't' });
    const peerTimeouts = parse(['--raft-read-timeout', '2s', '--raft-write-timeout', '0', '--discovery-proxy', 'p:3128',
      '--experimental-compaction-batch-limit', '500', '--experimental-compaction-sleep-interval', '5ms',
      '--experimental-stop-grpc-service-on-defrag', '--experimental-compact-hash-check-enabled', '--compact-hash-check-time', '30s', '--name', 'n']);
    expect(peerTimeouts.config.unimplementedFlagsSet).toEqual([]);
    expect(peerTimeouts.config).toMatchObject({ raftReadTimeoutMs: 2000, raftWriteTimeoutMs: 0 });
    expect(peerTimeouts.config.experimental).toMatchObject({
      compactionBatchLimit: 500, compactionSleepIntervalMs: 5, stopGrpcServiceOnDefrag: true, compactHashCheck: true, compactHashCheckIntervalMs: 30_000,
    });
    // bbolt's free pages have no counterpart in LevelDB: the boot defragmentation threshold warns that it does nothing.
    expect(parse(['--experimental-bootstrap-defrag-threshold-megabytes', '10', '--name', 'n']).warnings
      .some((w) => w.startsWith('flag --experimental-bootstrap-defrag-threshold-megabytes has no effect in etcd-ts'))).toBe(true);
    expect(peerTimeouts.config.discovery.proxyUrl).toBe('p:3128');
    expect(parse(['--name', 'n']).config).toMatchObject({ raftReadTimeoutMs: 5000, raftWriteTimeoutMs: 5000 });
  });

  it('--client-cert-file warns that it has no effect: the gateway never dials the client port', () => {
    const { config, warnings } = parse(['--client-cert-file', 'c.pem', '--name', 'n', '--initial-cluster', 'n=http://localhost:2380']);
    expect(config.unimplementedFlagsSet).toEqual([]);
    expect(warnings.some((w) => w.startsWith('flag --client-cert-file has no effect in etcd-ts'))).toBe(true);
  });

  it('old experimental names still work; the 3.6 name wins; both set differently is refused', () => {
    expect(parse(['--experimental-watch-progress-notify-interval', '5s']).config.watchProgressNotifyIntervalMs).toBe(5000);
    expect(parse(['--watch-progress-notify-interval', '2s']).config.watchProgressNotifyIntervalMs).toBe(2000);
    expect(errorOf(() => parse(['--watch-progress-notify-interval', '2s', '--experimental-watch-progress-notify-interval', '5s']))).toContain(
      'only set --watch-progress-notify-interval',
    );
  });

  it('--debug means log level debug; --log-output is the old --log-outputs', () => {
    expect(parse(['--debug']).config.logLevel).toBe('debug');
    expect(parse(['--log-output', 'stdout']).config.logOutputs).toEqual(['stdout']);
    expect(errorOf(() => parse(['--log-outputs', 'default,stdout']))).toContain('multi logoutput');
  });

  it('--etcd-version is ours and must look like a version', () => {
    expect(parse(['--etcd-version', '3.4.23']).config.etcdVersion).toBe('3.4.23');
    expect(errorOf(() => parse(['--etcd-version', 'latest']))).toContain('--etcd-version');
  });

  it('feature gates parse into booleans', () => {
    expect(parse(['--feature-gates', 'LeaseCheckpoint=true,CompactHashCheck=false']).config.experimental.featureGates).toEqual({
      LeaseCheckpoint: true,
      CompactHashCheck: false,
    });
    expect(errorOf(() => parse(['--feature-gates', 'LeaseCheckpoint']))).toContain('-feature-gates');
  });

  it('feature gates set what the experimental flags they replace set; both at odds, or an unknown gate, is an error', () => {
    const gated = parse(['--feature-gates', 'LeaseCheckpoint=true,LeaseCheckpointPersist=true,StopGRPCServiceOnDefrag=true,CompactHashCheck=true,InitialCorruptCheck=true']);
    expect(gated.config.experimental).toMatchObject({
      leaseCheckpoint: true, leaseCheckpointPersist: true, stopGrpcServiceOnDefrag: true, compactHashCheck: true, initialCorruptCheck: true,
    });
    expect(gated.config.unimplementedFlagsSet).toEqual([]);
    // The same value both ways is fine; different ones are refused.
    expect(parse(['--experimental-compact-hash-check-enabled', '--feature-gates', 'CompactHashCheck=true']).config.experimental.compactHashCheck).toBe(true);
    expect(errorOf(() => parse(['--experimental-compact-hash-check-enabled', '--feature-gates', 'CompactHashCheck=false'])))
      .toContain('cannot specify --experimental-compact-hash-check-enabled=true and --feature-gates=CompactHashCheck=false at the same time');
    // etcd's own rule holds through gates too: persisting checkpoints needs checkpoints.
    expect(errorOf(() => parse(['--feature-gates', 'LeaseCheckpointPersist=true']))).toContain('experimental-enable-lease-checkpoint-persist requires');
    expect(errorOf(() => parse(['--feature-gates', 'NoSuchGate=true']))).toContain('unrecognized feature gate: NoSuchGate');
    // Gates for what etcd-ts does not build say so when turned on.
    expect(parse(['--feature-gates', 'DistributedTracing=true']).warnings).toContain('feature gate DistributedTracing has no effect in etcd-ts: distributed tracing is not implemented yet');
    expect(parse(['--feature-gates', 'DistributedTracing=false']).warnings.filter((w) => w.includes('feature gate'))).toEqual([]);
  });
});

describe('--config-file', () => {
  const yaml = `
# etcd.conf.yml style
name: 'infra1'
data-dir: /var/lib/etcd
snapshot-count: 5000
heartbeat-interval: 50
election-timeout: 500
listen-peer-urls: http://127.0.0.1:12380
listen-client-urls: http://127.0.0.1:12379
advertise-client-urls: http://127.0.0.1:12379
initial-advertise-peer-urls: http://127.0.0.1:12380
initial-cluster: infra1=http://127.0.0.1:12380
initial-cluster-state: 'new'
enable-v2: yes
log-outputs: [stderr]
experimental-watch-progress-notify-interval: 2000000000
client-transport-security:
  cert-file: /c.pem
  client-cert-auth: true
peer-transport-security:
  allowed-cn: etcd-peer
unknown-key: 1
`;

  it('reads etcd keys, nested TLS sections and ignores flags and env', () => {
    const { config, warnings } = parseConfig(['--config-file', '/etc/etcd.yml', '--name', 'ignored'], { ETCD_SNAPSHOT_COUNT: '1' }, {
      readFile: (path) => {
        expect(path).toBe('/etc/etcd.yml');
        return yaml;
      },
    });
    expect(config.name).toBe('infra1');
    expect(config.snapshotCount).toBe(5000);
    expect(config.electionTimeoutMs).toBe(500);
    expect(config.enableV2).toBe(true);
    expect(config.logOutputs).toEqual(['stderr']);
    expect(config.watchProgressNotifyIntervalMs).toBe(2000);
    expect(config.tls.client.certFile).toBe('/c.pem');
    expect(config.tls.client.clientCertAuth).toBe(true);
    expect(config.tls.peer.allowedCns).toEqual(['etcd-peer']);
    expect(config.configFile).toBe('/etc/etcd.yml');
    expect(warnings.some((w) => w.includes('unknown key "unknown-key"'))).toBe(true);
    expect(warnings.some((w) => w.includes('--name'))).toBe(true);
  });

  it('is also taken from ETCD_CONFIG_FILE and reports bad values with the key', () => {
    const readFile = () => 'snapshot-count: lots\n';
    expect(errorOf(() => parseConfig([], { ETCD_CONFIG_FILE: '/x.yml' }, { readFile }))).toBe(
      'invalid value "lots" for config file key "snapshot-count": parse error',
    );
  });

  it('reports a missing file clearly', () => {
    expect(errorOf(() => parseConfig(['--config-file', '/nonexistent/etcd-ts-test.yml'], {}))).toContain(
      'cannot read config file /nonexistent/etcd-ts-test.yml',
    );
  });
});
