// The HTTP side of the real server (bin/etcd-ts, or etcd 3.4 with COMPAT_SELF_CHECK=1) with plain
// HTTP requests as curl sends them: put/range/txn, a watch held open, lease grant + keepalive,
// /health, /version and /metrics, all on the same client port that serves gRPC.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { etcdctl, selfCheck, spawnWatch, startServerUnderTest, type EtcdProcess } from '../../helpers/index.js';
import { openStream } from './harness.js';

let server: EtcdProcess;

const b64 = (text: string) => Buffer.from(text).toString('base64');

async function post(path: string, body: unknown): Promise<{ status: number; json: Record<string, any> }> {
  const response = await fetch(`${server.clientUrl}${path}`, {
    method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, json: await response.json() as Record<string, any> };
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe(`HTTP on the client port (${selfCheck ? 'real etcd' : 'etcd-ts'})`, () => {
  beforeAll(async () => {
    server = await startServerUnderTest({ name: 'http-e2e' });
  });

  afterAll(async () => {
    await server?.stop();
  });

  test('put, range and txn answer etcd-shaped JSON, and etcdctl sees the same data', async () => {
    const put = await post('/v3/kv/put', { key: b64('svc/a'), value: b64('10.0.0.1') });
    expect(put.status).toBe(200);
    const revision = Number(put.json.header.revision);
    expect(revision).toBeGreaterThan(1);
    expect(put.json.header.cluster_id).toMatch(/^\d+$/);

    const range = await post('/v3/kv/range', { key: b64('svc/'), range_end: b64('svc0') });
    expect(range.json.count).toBe('1');
    expect(range.json.kvs).toEqual([{ key: b64('svc/a'), create_revision: String(revision), mod_revision: String(revision), version: '1', value: b64('10.0.0.1') }]);
    expect((await etcdctl(server.clientUrl, ['get', 'svc/a', '--print-value-only'])).stdout).toBe('10.0.0.1\n');

    const txn = await post('/v3/kv/txn', {
      compare: [{ key: b64('svc/a'), target: 'VALUE', result: 'EQUAL', value: b64('10.0.0.1') }],
      success: [{ requestPut: { key: b64('svc/a'), value: b64('10.0.0.2') } }],
    });
    expect(txn.json.succeeded).toBe(true);
    expect(txn.json.responses).toEqual([{ response_put: { header: { revision: String(revision + 1) } } }]);
    const missing = await post('/v3/kv/range', { key: b64('nothing-here') });
    expect(Object.keys(missing.json)).toEqual(['header']);
  });

  test("errors carry etcd's message, gRPC code and HTTP status", async () => {
    expect(await post('/v3/kv/put', { key: '' })).toEqual({
      status: 400, json: { error: 'etcdserver: key is not provided', message: 'etcdserver: key is not provided', code: 3 },
    });
    expect((await post('/v3/kv/range', { key: b64('a'), revision: '100000' })).json.code).toBe(11);
  });

  test('a watch stream stays open and delivers put and delete events as result lines', async () => {
    const stream = openStream(server.clientPort, '/v3/watch', JSON.stringify({ create_request: { key: b64('w/'), range_end: b64('w0'), prev_kv: true } }));
    try {
      await until(() => stream.lines.length === 1);
      expect(JSON.parse(stream.lines[0]!).result.created).toBe(true);
      await post('/v3/kv/put', { key: b64('w/1'), value: b64('one') });
      await post('/v3/kv/deleterange', { key: b64('w/1') });
      await until(() => stream.lines.length === 3);
      const put = JSON.parse(stream.lines[1]!).result.events;
      const deleted = JSON.parse(stream.lines[2]!).result.events;
      expect(put).toMatchObject([{ kv: { key: b64('w/1'), value: b64('one'), version: '1' } }]);
      expect(put[0].type).toBeUndefined();
      expect(deleted).toMatchObject([{ type: 'DELETE', kv: { key: b64('w/1') }, prev_kv: { value: b64('one') } }]);
    } finally {
      stream.abort();
    }
  });

  test('lease grant, keepalive and a key that goes with its revoked lease', async () => {
    const grant = await post('/v3/lease/grant', { TTL: 30 });
    const id = grant.json.ID as string;
    expect(grant.json.TTL).toBe('30');
    expect(id).toMatch(/^\d+$/);
    const keepAlive = await fetch(`${server.clientUrl}/v3/lease/keepalive`, { method: 'POST', body: JSON.stringify({ ID: id }) });
    const lines = (await keepAlive.text()).trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!).result).toMatchObject({ ID: id, TTL: '30' });
    await post('/v3/kv/put', { key: b64('leased'), value: b64('x'), lease: id });
    expect((await post('/v3/kv/lease/timetolive', { ID: id, keys: true })).json.keys).toEqual([b64('leased')]);
    expect((await post('/v3/lease/revoke', { ID: id })).status).toBe(200);
    expect((await post('/v3/kv/range', { key: b64('leased') })).json.kvs).toBeUndefined();
  });

  test('/health, /version and /metrics', async () => {
    const health = await fetch(`${server.clientUrl}/health`);
    expect(health.status).toBe(200);
    expect((await health.json() as { health: string }).health).toBe('true');
    const version = await (await fetch(`${server.clientUrl}/version`)).json() as { etcdserver: string; etcdcluster: string };
    expect(version.etcdserver).toMatch(/^3\.\d+\.\d+/);
    expect(version.etcdcluster).toMatch(/^3\.\d+\.0$/);

    const metrics = await (await fetch(`${server.clientUrl}/metrics`)).text();
    const sample = (name: string): number => {
      const line = metrics.split('\n').find((candidate) => candidate.startsWith(`${name} `));
      if (!line) throw new Error(`${name} missing from /metrics`);
      return Number(line.slice(name.length + 1));
    };
    expect(sample('etcd_server_has_leader')).toBe(1);
    const keys = await post('/v3/kv/range', { key: b64('\0'), range_end: b64('\0'), count_only: true });
    expect(sample('etcd_debugging_mvcc_keys_total')).toBe(Number(keys.json.count ?? 0));
    expect(sample('etcd_debugging_mvcc_current_revision')).toBe(Number(keys.json.header.revision));
    expect(sample('etcd_mvcc_db_total_size_in_bytes')).toBeGreaterThan(0);
    expect(sample('etcd_server_proposals_applied_total')).toBeGreaterThan(0);
    expect(sample('etcd_server_is_learner')).toBe(0);
    expect(sample('etcd_server_quota_backend_bytes')).toBe(2 * 1024 ** 3); // the default for --quota-backend-bytes 0
    expect(metrics).toMatch(/^grpc_server_handled_total\{.*grpc_method="Put".*\} \d+$/m);
  });

  test("grpc-prometheus's series count native gRPC calls by method (and code), every method listed from the start", async () => {
    /** series/service/method[/code] → count, whatever the order of the labels. */
    const grpcSeries = async (): Promise<Map<string, number>> => {
      const text = await (await fetch(`${server.clientUrl}/metrics`)).text();
      const counts = new Map<string, number>();
      for (const line of text.split('\n')) {
        const series = /^grpc_server_(handled|started|msg_received|msg_sent)_total\{/.exec(line)?.[1];
        if (series === undefined) continue;
        const label = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(line)?.[1];
        const code = series === 'handled' ? `/${label('grpc_code')}` : '';
        counts.set(`${series}/${label('grpc_service')}/${label('grpc_method')}${code}`, Number(line.slice(line.lastIndexOf(' ') + 1)));
      }
      return counts;
    };
    const before = await grpcSeries();
    // Listed before any call of theirs, at 0 for a code nothing ended with.
    expect(before.get('handled/etcdserverpb.Maintenance/Defragment/DataLoss')).toBe(0);
    expect(before.get('handled/etcdserverpb.Lease/LeaseRevoke/NotFound')).toBe(0);
    expect(before.get('started/etcdserverpb.Maintenance/Snapshot')).toBe(0);
    expect(before.get('msg_sent/etcdserverpb.Watch/Watch')).toBeDefined();
    expect((await etcdctl(server.clientUrl, ['put', 'handled/a', 'x'])).exitCode).toBe(0);
    expect((await etcdctl(server.clientUrl, ['lease', 'revoke', '1234'])).exitCode).not.toBe(0); // an unknown lease: NotFound
    // Snapshot is a server stream: relayed to grpc-js, and counted by its interceptor.
    const snapshotDir = mkdtempSync(join(tmpdir(), 'etcd-ts-metrics-'));
    try {
      expect((await etcdctl(server.clientUrl, ['snapshot', 'save', join(snapshotDir, 'snapshot.db')])).exitCode).toBe(0);
    } finally {
      rmSync(snapshotDir, { recursive: true, force: true });
    }
    // Watch is a bidi stream on our HTTP/2 path: its create request in, created and the event out.
    const got = await etcdctl(server.clientUrl, ['get', 'handled/a', '-w', 'json']);
    const putRevision = (JSON.parse(got.stdout) as { kvs: Array<{ mod_revision: number }> }).kvs[0]!.mod_revision;
    const watch = spawnWatch(server.clientUrl, [`--rev=${putRevision}`, 'handled/a']);
    try {
      await watch.waitForLines(3);
    } finally {
      await watch.stop();
    }
    const after = await grpcSeries();
    const delta = (key: string) => after.get(key)! - (before.get(key) ?? 0);
    expect([delta('started/etcdserverpb.Watch/Watch'), delta('msg_received/etcdserverpb.Watch/Watch')]).toEqual([1, 1]);
    expect(delta('msg_sent/etcdserverpb.Watch/Watch')).toBe(2);
    expect(delta('handled/etcdserverpb.KV/Put/OK')).toBe(1);
    expect([delta('started/etcdserverpb.KV/Put'), delta('msg_received/etcdserverpb.KV/Put'), delta('msg_sent/etcdserverpb.KV/Put')]).toEqual([1, 1, 1]);
    expect(after.get('handled/etcdserverpb.Lease/LeaseRevoke/NotFound')).toBe(1);
    // A failed unary call sends no message.
    expect([delta('started/etcdserverpb.Lease/LeaseRevoke'), delta('msg_sent/etcdserverpb.Lease/LeaseRevoke')]).toEqual([1, 0]);
    expect(delta('handled/etcdserverpb.Maintenance/Snapshot/OK')).toBe(1);
    expect([delta('started/etcdserverpb.Maintenance/Snapshot'), delta('msg_received/etcdserverpb.Maintenance/Snapshot')]).toEqual([1, 1]);
    expect(delta('msg_sent/etcdserverpb.Maintenance/Snapshot')).toBeGreaterThanOrEqual(1);
  });

  test("etcd_network_client_grpc_*_bytes_total count protobuf message bytes, as etcd's codec counts them", async () => {
    const scrape = async (): Promise<(name: string) => number> => {
      const text = await (await fetch(`${server.clientUrl}/metrics`)).text();
      return (name) => Number(text.split('\n').find((line) => line.startsWith(`${name} `))?.slice(name.length + 1) ?? NaN);
    };
    const received = 'etcd_network_client_grpc_received_bytes_total';
    const sent = 'etcd_network_client_grpc_sent_bytes_total';
    const before = await scrape();
    expect((await etcdctl(server.clientUrl, ['put', 'bytes/k', 'v'])).exitCode).toBe(0);
    const afterPut = await scrape();
    // PutRequest{key: "bytes/k", value: "v"}: two tags, two lengths, 7 + 1 bytes.
    expect(afterPut(received) - before(received)).toBe(12);
    // PutResponse: a header of cluster id, member id, revision and term.
    expect(afterPut(sent) - before(sent)).toBeGreaterThan(10);
    const snapshotDir = mkdtempSync(join(tmpdir(), 'etcd-ts-bytes-'));
    try {
      const file = join(snapshotDir, 'snapshot.db');
      expect((await etcdctl(server.clientUrl, ['snapshot', 'save', file])).exitCode).toBe(0);
      const afterSnapshot = await scrape();
      // A relayed server stream: its blobs carry the whole file.
      expect(afterSnapshot(sent) - afterPut(sent)).toBeGreaterThanOrEqual(statSync(file).size);
    } finally {
      rmSync(snapshotDir, { recursive: true, force: true });
    }
  });

  // Last in this file: it compacts the store.
  test("etcd_debugging_mvcc's watch series and compact revision; etcd_server_proposals_failed_total listed", async () => {
    const scrape = async (): Promise<(name: string) => number> => {
      const text = await (await fetch(`${server.clientUrl}/metrics`)).text();
      return (name) => {
        const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
        if (!line) throw new Error(`${name} missing from /metrics`);
        return Number(line.slice(name.length + 1));
      };
    };
    const revisionOf = async (key: string): Promise<number> => {
      const got = await etcdctl(server.clientUrl, ['get', key, '-w', 'json']);
      return (JSON.parse(got.stdout) as { kvs: Array<{ mod_revision: number }> }).kvs[0]!.mod_revision;
    };
    const before = await scrape();
    expect(before('etcd_server_proposals_failed_total')).toBeGreaterThanOrEqual(0);
    const series = ['watch_stream_total', 'watcher_total', 'slow_watcher_total', 'events_total'].map((name) => `etcd_debugging_mvcc_${name}`);
    const [streams0, watchers0, , events0] = series.map(before);

    expect((await etcdctl(server.clientUrl, ['put', 'mvcc-metrics/a', '1'])).exitCode).toBe(0);
    const first = await revisionOf('mvcc-metrics/a');
    expect((await etcdctl(server.clientUrl, ['put', 'mvcc-metrics/a', '2'])).exitCode).toBe(0);
    // From an old revision: the watcher catches up from history, then gets events live.
    const watch = spawnWatch(server.clientUrl, [`--rev=${first}`, 'mvcc-metrics/a']);
    try {
      await watch.waitForLines(6);
      expect((await etcdctl(server.clientUrl, ['put', 'mvcc-metrics/a', '3'])).exitCode).toBe(0);
      await watch.waitForLines(9);
      const during = await scrape();
      expect(series.map(during)).toEqual([streams0! + 1, watchers0! + 1, 0, events0! + 3]);
    } finally {
      await watch.stop();
    }
    let after = await scrape();
    for (let attempt = 0; attempt < 50 && after('etcd_debugging_mvcc_watcher_total') !== watchers0; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = await scrape();
    }
    expect([after('etcd_debugging_mvcc_watch_stream_total'), after('etcd_debugging_mvcc_watcher_total')]).toEqual([streams0, watchers0]);

    const head = await revisionOf('mvcc-metrics/a');
    expect((await etcdctl(server.clientUrl, ['compaction', String(head)])).exitCode).toBe(0);
    expect((await scrape())('etcd_debugging_mvcc_compact_revision')).toBe(head);
  });

});
