// /health, /livez, /readyz, /version and /metrics over a scripted server: health follows alarms,
// leader and a Range; metrics are the server's current values and the calls the gateway served.
import perfHooks from 'node:perf_hooks';
import { describe, expect, it, vi } from 'vitest';
import { EtcdMetrics, eventLoopMonitorResolutionMs } from '../../../src/api/http/metrics.js';
import { EtcdError } from '../../../src/errors.js';
import { AlarmType, type StatusResult } from '../../../src/server/server-api.js';
import { header, makeApp, ScriptedServer } from './harness.js';

function statusWith(leader: bigint, extra: Partial<StatusResult> = {}): () => StatusResult {
  return () => ({
    header: header(9), version: '3.5.17', dbSize: 20480, leader, raftIndex: 25, raftTerm: 2, raftAppliedIndex: 24,
    errors: [], dbSizeInUse: 16384, isLearner: false, ...extra,
  });
}

function healthyServer(): ScriptedServer {
  const server = new ScriptedServer();
  server.answers.status = statusWith(header(0).memberId);
  return server;
}

/**
 * Parses Prometheus text into sample name+labels ⇒ value, failing on any malformed line. prom-client
 * writes a NaN as "Nan" (an event-loop lag series before its first sample); Prometheus reads values
 * with Go's ParseFloat, which takes either.
 */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.]+(?:e[+-]?[0-9]+)?|NaN|Nan|\+Inf|-Inf)$/.exec(line);
    if (!match) throw new Error(`not Prometheus text: ${line}`);
    samples.set(match[1]!, Number(match[2]));
  }
  return samples;
}

describe('/health', () => {
  it('is true with a leader, no alarm and a working Range (linearizable)', async () => {
    const { app, server } = await makeApp(healthyServer());
    const response = await app.inject({ method: 'GET', url: '/health' });
    expect([response.statusCode, response.body]).toEqual([200, '{"health":"true","reason":""}']);
    const range = server.calls.find((call) => call.method === 'range')!;
    expect(range.args[0]).toMatchObject({ serializable: false, keysOnly: true, limit: 1 });
  });

  it('turns false with a NOSPACE alarm unless ?exclude=NOSPACE', async () => {
    const { app, server } = await makeApp(healthyServer());
    server.answers.alarm = () => ({ header: header(9), alarms: [{ memberId: 1n, alarm: AlarmType.NOSPACE }] });
    const unhealthy = await app.inject({ method: 'GET', url: '/health' });
    expect([unhealthy.statusCode, unhealthy.body]).toEqual([503, '{"health":"false","reason":"ALARM NOSPACE"}\n']);
    const excluded = await app.inject({ method: 'GET', url: '/health?exclude=NOSPACE' });
    expect(excluded.statusCode).toBe(200);
  });

  it('turns false without a leader, but ?serializable=true only needs a local read', async () => {
    const server = new ScriptedServer();
    server.answers.status = statusWith(0n);
    const { app } = await makeApp(server);
    const noLeader = await app.inject({ method: 'GET', url: '/health' });
    expect([noLeader.statusCode, noLeader.body]).toEqual([503, '{"health":"false","reason":"RAFT NO LEADER"}\n']);
    const local = await app.inject({ method: 'GET', url: '/health?serializable=true' });
    expect(local.statusCode).toBe(200);
    expect(server.calls.filter((call) => call.method === 'range').at(-1)!.args[0]).toMatchObject({ serializable: true });
  });

  it('reports a failing Range and a Range that never answers', async () => {
    const { app, server } = await makeApp(healthyServer());
    server.answers.range = () => { throw new EtcdError('Timeout'); };
    expect((await app.inject({ method: 'GET', url: '/health' })).body).toBe('{"health":"false","reason":"RANGE ERROR:etcdserver: request timed out"}\n');
    server.answers.range = () => new Promise(() => {});
    const hung = await app.inject({ method: 'GET', url: '/health' });
    expect(hung.statusCode).toBe(503);
  });

  it('answers 405 to anything but GET', async () => {
    const { app } = await makeApp(healthyServer());
    const response = await app.inject({ method: 'POST', url: '/health' });
    expect([response.statusCode, response.headers.allow]).toEqual([405, 'GET']);
  });
});

describe('/livez and /readyz', () => {
  it('answer ok, and list their checks with ?verbose', async () => {
    const { app } = await makeApp(healthyServer());
    expect((await app.inject({ method: 'GET', url: '/livez' })).body).toBe('ok\n');
    const verbose = await app.inject({ method: 'GET', url: '/readyz?verbose' });
    expect(verbose.body).toBe('[+]data_corruption ok\n[+]serializable_read ok\n[+]linearizable_read ok\n[+]non_learner ok\nreadyz check passed\n');
  });

  it('readyz fails on a CORRUPT alarm or a learner; a check can be excluded or asked alone', async () => {
    const { app, server } = await makeApp(healthyServer());
    server.answers.alarm = () => ({ header: header(9), alarms: [{ memberId: 1n, alarm: AlarmType.CORRUPT }] });
    const corrupt = await app.inject({ method: 'GET', url: '/readyz' });
    expect(corrupt.statusCode).toBe(503);
    expect(corrupt.body).toContain('[-]data_corruption failed: alarm activated: CORRUPT\n');
    expect((await app.inject({ method: 'GET', url: '/readyz?exclude=data_corruption' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/livez' })).statusCode).toBe(200);
    server.answers.status = statusWith(5n, { isLearner: true });
    expect((await app.inject({ method: 'GET', url: '/readyz/non_learner' })).body).toBe('[-]non_learner failed: this member is a learner\nreadyz check failed\n');
  });
});

describe('/version', () => {
  it('reports the API version we present and its cluster version', async () => {
    const { app } = await makeApp(healthyServer(), { etcdVersion: '3.4.23' });
    expect(JSON.parse((await app.inject({ method: 'GET', url: '/version' })).body)).toEqual({ etcdserver: '3.4.23', etcdcluster: '3.4.0' });
  });
});

describe('/metrics', () => {
  it("parses as Prometheus text and carries the server's current values", async () => {
    const { app, server } = await makeApp(healthyServer());
    server.answers.range = () => ({ header: header(42), result: { kvs: [], more: false, count: 17, revision: 42 } });
    const response = await app.inject({ method: 'GET', url: '/metrics' });
    expect(response.headers['content-type']).toContain('text/plain');
    const samples = parsePrometheus(response.body);
    expect(samples.get('etcd_server_has_leader')).toBe(1);
    expect(samples.get('etcd_server_is_leader')).toBe(1);
    expect(samples.get('etcd_server_proposals_committed_total')).toBe(25);
    expect(samples.get('etcd_server_proposals_applied_total')).toBe(24);
    expect(samples.get('etcd_mvcc_db_total_size_in_bytes')).toBe(20480);
    expect(samples.get('etcd_mvcc_db_total_size_in_use_in_bytes')).toBe(16384);
    expect(samples.get('etcd_debugging_mvcc_keys_total')).toBe(17);
    expect(samples.get('etcd_debugging_mvcc_current_revision')).toBe(42);
    expect(samples.get('etcd_server_version{server_version="3.5.17"}')).toBe(1);
    expect(samples.get(`etcd_server_id{server_id="${header(0).memberId.toString(16)}"}`)).toBe(1);
    // The key count is a local read over everything: no raft round per scrape.
    expect(server.calls.find((call) => call.method === 'range')!.args[0]).toMatchObject({ countOnly: true, serializable: true, key: Buffer.from([0]) });
  });

  it('follows the leader: a follower without a leader reports 0', async () => {
    const server = new ScriptedServer();
    server.answers.status = statusWith(0n);
    const { app } = await makeApp(server);
    const samples = parsePrometheus((await app.inject({ method: 'GET', url: '/metrics' })).body);
    expect(samples.get('etcd_server_has_leader')).toBe(0);
    server.answers.status = statusWith(12345n);
    const later = parsePrometheus((await app.inject({ method: 'GET', url: '/metrics' })).body);
    expect(later.get('etcd_server_has_leader')).toBe(1);
    expect(later.get('etcd_server_is_leader')).toBe(0);
  });

  it('counts the calls the gateway served by service, method and code, and health checks', async () => {
    const { app, server } = await makeApp(healthyServer());
    await app.inject({ method: 'POST', url: '/v3/kv/put', payload: '{"key":"Zm9v"}' });
    server.answers.put = () => { throw new EtcdError('EmptyKey'); };
    await app.inject({ method: 'POST', url: '/v3/kv/put', payload: '{}' });
    await app.inject({ method: 'POST', url: '/v3/kv/put', payload: '{}' });
    await app.inject({ method: 'GET', url: '/health' });
    const samples = parsePrometheus((await app.inject({ method: 'GET', url: '/metrics' })).body);
    // Labels in etcd's order (client_golang sorts them).
    const labels = (code: string) => `grpc_server_handled_total{grpc_code="${code}",grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"}`;
    expect(samples.get(labels('OK'))).toBe(1);
    expect(samples.get(labels('InvalidArgument'))).toBe(2);
    // A gateway call is a gRPC call in etcd: started, its request received, its answer sent when it succeeded.
    const put = (series: string) => samples.get(`${series}{grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"}`);
    expect(put('grpc_server_started_total')).toBe(3);
    expect(put('grpc_server_msg_received_total')).toBe(3);
    expect(put('grpc_server_msg_sent_total')).toBe(1);
    expect(samples.get('etcd_server_health_success')).toBe(1);
  });

  it('shows the server-driven metrics only once the server reports them, with what it reported', async () => {
    const { app, metrics } = await makeApp(healthyServer());
    const before = parsePrometheus((await app.inject({ method: 'GET', url: '/metrics' })).body);
    expect(before.has('etcd_server_leader_changes_seen_total')).toBe(false);
    expect(before.has('etcd_disk_wal_fsync_duration_seconds_count')).toBe(false);
    metrics.leaderChanged();
    metrics.proposalStarted();
    // A server that proposes lists its failures from the first proposal on, at 0 (etcd lists it from the start).
    const proposing = parsePrometheus((await app.inject({ method: 'GET', url: '/metrics' })).body);
    expect(proposing.get('etcd_server_proposals_failed_total')).toBe(0);
    metrics.proposalStarted();
    metrics.proposalFinished(true);
    metrics.walFsyncObserved(0.0003);
    metrics.walFsyncObserved(0.003);
    const after = parsePrometheus((await app.inject({ method: 'GET', url: '/metrics' })).body);
    expect(after.get('etcd_server_leader_changes_seen_total')).toBe(1);
    expect(after.get('etcd_server_proposals_pending')).toBe(1);
    expect(after.get('etcd_server_proposals_failed_total')).toBe(1);
    expect(after.get('etcd_disk_wal_fsync_duration_seconds_count')).toBe(2);
    expect(after.get('etcd_disk_wal_fsync_duration_seconds_bucket{le="0.001"}')).toBe(1);
    expect(after.get('etcd_disk_wal_fsync_duration_seconds_bucket{le="0.004"}')).toBe(2);
    // Observations are fed to the histogram in batches: a scrape sees every one, across batches.
    for (let i = 0; i < 600; i++) metrics.walFsyncObserved(i < 300 ? 0.0005 : 0.02);
    const later = parsePrometheus((await app.inject({ method: 'GET', url: '/metrics' })).body);
    expect(later.get('etcd_disk_wal_fsync_duration_seconds_count')).toBe(602);
    expect(later.get('etcd_disk_wal_fsync_duration_seconds_bucket{le="0.001"}')).toBe(301);
    expect(later.get('etcd_disk_wal_fsync_duration_seconds_bucket{le="0.032"}')).toBe(602);
    expect(later.get('etcd_disk_wal_fsync_duration_seconds_sum')).toBeCloseTo(0.0033 + 300 * 0.0005 + 300 * 0.02, 6);
  });

  it("lists the process's own series, as etcd does, and samples the event loop once a second", async () => {
    const monitor = vi.spyOn(perfHooks, 'monitorEventLoopDelay');
    try {
      const { app } = await makeApp(healthyServer(), { metrics: new EtcdMetrics({ etcdVersion: '3.5.17', processMetrics: true }) });
      const samples = parsePrometheus((await app.inject({ method: 'GET', url: '/metrics' })).body);
      // The series etcd's Go process collector exports and dashboards read.
      expect(samples.get('process_cpu_seconds_total')).toBeGreaterThan(0);
      expect(samples.get('process_resident_memory_bytes')).toBeGreaterThan(1024 * 1024);
      expect(samples.get('process_open_fds')).toBeGreaterThan(2);
      expect(samples.get('process_max_fds')).toBeGreaterThan(0);
      expect(samples.get('process_start_time_seconds')).toBeLessThanOrEqual(Date.now() / 1000);
      // A limit on the address space is at least what the process has mapped (2^64 when unlimited).
      expect(samples.get('process_virtual_memory_max_bytes')).toBeGreaterThanOrEqual(samples.get('process_virtual_memory_bytes')!);
      // The monitor behind nodejs_eventloop_lag_* wakes the thread at its resolution; its default of
      // 10 ms kept an idle member busy (see eventLoopMonitorResolutionMs).
      expect(monitor).toHaveBeenCalledWith({ resolution: eventLoopMonitorResolutionMs });
      expect(eventLoopMonitorResolutionMs).toBeGreaterThanOrEqual(1000);
      expect(samples.has('nodejs_eventloop_lag_p99_seconds')).toBe(true);
    } finally {
      monitor.mockRestore();
    }
  });
});
