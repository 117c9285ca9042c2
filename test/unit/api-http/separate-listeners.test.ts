// --listen-client-http-urls and --listen-metrics-urls with real processes on 127.0.0.1: HTTP moves
// off the client URL (which keeps gRPC only, as etcd 3.5.10+/3.6), and a metrics listener serves
// /metrics and the health probes and nothing else. The metrics part also runs against etcd 3.4
// with COMPAT_SELF_CHECK=1 (3.4 has no --listen-client-http-urls).
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { etcdctl, freePort, selfCheck, startEtcdTs, startServerUnderTest, type EtcdProcess } from '../../helpers/index.js';

const b64 = (text: string) => Buffer.from(text).toString('base64');

/** What an HTTP/1.1 GET gets from a port: the status line, or 'closed' when the server drops it. */
function rawGet(port: number, path: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    const timer = setTimeout(() => { socket.destroy(); resolve('timeout'); }, 5000);
    socket.on('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
    socket.on('data', (data) => { received += data.toString(); });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(received === '' ? 'closed' : received.split('\r\n')[0]!);
    });
  });
}

describe.skipIf(selfCheck)('--listen-client-http-urls (etcd-ts)', () => {
  let server: EtcdProcess;
  let httpPort: number;

  beforeAll(async () => {
    httpPort = await freePort();
    server = await startEtcdTs({ name: 'split', extraArgs: [`--listen-client-http-urls=http://127.0.0.1:${httpPort}`] });
  });
  afterAll(async () => {
    await server?.stop();
  });

  test('the client URL serves gRPC (etcdctl) and closes HTTP/1 connections', async () => {
    const put = await etcdctl(server.clientUrl, ['put', 'split/k', 'v']);
    expect(put.exitCode, put.stderr).toBe(0);
    expect(await rawGet(server.clientPort, '/health')).toBe('closed');
  });

  test('the HTTP URL serves the gateway, /health, /metrics and WebSocket, and no gRPC', async () => {
    const base = `http://127.0.0.1:${httpPort}`;
    const range = await fetch(`${base}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: b64('split/k') }) });
    expect(range.status).toBe(200);
    expect(((await range.json()) as { kvs: Array<{ value: string }> }).kvs[0]!.value).toBe(b64('v'));
    expect((await fetch(`${base}/health`)).status).toBe(200);
    expect(await (await fetch(`${base}/metrics`)).text()).toContain('etcd_server_has_leader 1');

    const socket = new WebSocket(`ws://127.0.0.1:${httpPort}/v3/kv/range`);
    const message = new Promise<string>((resolve) => socket.once('message', (data) => resolve(data.toString())));
    socket.once('open', () => socket.send(JSON.stringify({ key: b64('split/k') })));
    expect(JSON.parse(await message).kvs[0].value).toBe(b64('v'));

    const grpcOnHttpUrl = await etcdctl(base, ['--dial-timeout=1s', '--command-timeout=2s', 'get', 'split/k'], { timeoutMs: 10_000 });
    expect(grpcOnHttpUrl.exitCode).not.toBe(0);
  });
});

describe(`--listen-metrics-urls (${selfCheck ? 'real etcd' : 'etcd-ts'})`, () => {
  let server: EtcdProcess;
  let metricsPort: number;

  beforeAll(async () => {
    metricsPort = await freePort();
    server = await startServerUnderTest({ name: 'metrics', extraArgs: [`--listen-metrics-urls=http://127.0.0.1:${metricsPort}`] });
  });
  afterAll(async () => {
    await server?.stop();
  });

  test('/metrics and /health answer on the metrics URL; the gateway does not', async () => {
    const base = `http://127.0.0.1:${metricsPort}`;
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toMatch(/^etcd_server_has_leader 1$/m);
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { health: string }).health).toBe('true');
    const gateway = await fetch(`${base}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: b64('x') }) });
    expect(gateway.status).toBe(404);
    // The client URL still serves everything.
    expect((await fetch(`${server.clientUrl}/metrics`)).status).toBe(200);
    const put = await fetch(`${server.clientUrl}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: b64('m'), value: b64('1') }) });
    expect(put.status).toBe(200);
  });
});
