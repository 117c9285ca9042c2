// A member serves client requests only once it is ready, as etcd does: its client URL listens from
// the start, but nothing that connects is answered (gRPC, the HTTP gateway, /health, /version,
// /metrics) until the member has joined Raft and published its attributes through the log; then
// the held requests are answered. A --listen-metrics-urls listener answers at once. Observed on
// etcd 3.4.23: member n1 of a 3-member cluster started alone accepts TCP connections on its client
// URL but never answers (curl and etcdctl time out) while its metrics URL answers /health with 503
// {"health":"false"} and /metrics with 200 (/version: 404); requests held on the client URL are
// answered once a second member starts and n1 publishes. COMPAT_SELF_CHECK=1 runs this against etcd.
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { etcdctl, type EtcdctlResult } from '../helpers/etcdctl.js';
import { etcdTsBinPath, realEtcdPath, selfCheck } from '../helpers/etcd-process.js';
import { freePort } from '../helpers/ports.js';
import { makeTempDir, registerChild } from '../helpers/process-registry.js';

/** How long a request on an unready member gets to (wrongly) be answered. */
const notAnsweredWithinMs = 1500;
const startTimeoutMs = 20_000;
const stopGraceMs = 10_000;

interface Member {
  name: string;
  clientUrl: string;
  peerUrl: string;
  metricsUrl: string;
}

interface Running {
  pid: number;
  exited: Promise<void>;
  output: () => string;
}

const running: Running[] = [];
afterAll(async () => {
  for (const member of running) {
    try { process.kill(member.pid, 'SIGTERM'); } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try { process.kill(member.pid, 'SIGKILL'); } catch { /* already gone */ }
    }, stopGraceMs);
    await member.exited;
    clearTimeout(timer);
  }
});

function launch(member: Member, initialCluster: string, dataDir: string): Running {
  const args = [
    `--name=${member.name}`, `--data-dir=${dataDir}`,
    `--listen-client-urls=${member.clientUrl}`, `--advertise-client-urls=${member.clientUrl}`,
    `--listen-peer-urls=${member.peerUrl}`, `--initial-advertise-peer-urls=${member.peerUrl}`,
    `--listen-metrics-urls=${member.metricsUrl}`,
    `--initial-cluster=${initialCluster}`, '--initial-cluster-state=new', '--initial-cluster-token=ready-gate',
  ];
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('ETCD_') && !key.startsWith('ETCDCTL_')) env[key] = value;
  }
  const child = selfCheck
    ? spawn(realEtcdPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, [etcdTsBinPath, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error('could not spawn the server');
  registerChild(child);
  let tail = '';
  const append = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-32 * 1024);
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const started = { pid: child.pid, exited, output: () => tail };
  running.push(started);
  return started;
}

async function allocate(name: string): Promise<Member> {
  return {
    name,
    clientUrl: `http://127.0.0.1:${await freePort()}`,
    peerUrl: `http://127.0.0.1:${await freePort()}`,
    metricsUrl: `http://127.0.0.1:${await freePort()}`,
  };
}

/** Resolves once a TCP connection to the URL's port succeeds (the listener is open). */
async function waitListening(url: string, member: Running): Promise<void> {
  const { hostname, port } = new URL(url);
  const deadline = Date.now() + startTimeoutMs;
  while (Date.now() < deadline) {
    const connected = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: hostname, port: Number(port) }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (connected) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`nothing listens on ${url} after ${startTimeoutMs} ms:\n${member.output()}`);
}

interface HttpAnswer {
  status: number;
  body: string;
}

/** A GET on its own connection; `undefined` when no answer came within timeoutMs (the request is then dropped). */
function httpGet(url: string, timeoutMs: number): Promise<HttpAnswer | undefined> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        clearTimeout(timer);
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
      response.on('error', reject);
    });
    const timer = setTimeout(() => {
      request.destroy();
      resolve(undefined);
    }, timeoutMs);
    request.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

function ctl(member: Member, args: string[], timeoutSeconds: number): Promise<EtcdctlResult> {
  return etcdctl(member.clientUrl, [`--dial-timeout=${timeoutSeconds}s`, `--command-timeout=${timeoutSeconds}s`, ...args],
    { timeoutMs: (timeoutSeconds * 2 + 5) * 1000 });
}

describe(`client requests wait until the member is ready (${selfCheck ? 'etcd' : 'etcd-ts'})`, () => {
  it('holds every client request of a member that cannot publish, answers metrics at once, and serves the held requests once it is ready', async () => {
    const baseDir = makeTempDir('ready-gate');
    const [n1, n2, n3] = [await allocate('n1'), await allocate('n2'), await allocate('n3')];
    const initialCluster = [n1, n2, n3].map((member) => `${member.name}=${member.peerUrl}`).join(',');
    const first = launch(n1, initialCluster, join(baseDir, 'n1.etcd'));
    await waitListening(n1.clientUrl, first);
    await waitListening(n1.metricsUrl, first);

    // Alone, n1 has no quorum: no leader, nothing published. Its client URL accepts connections
    // but answers nothing, not even what needs no quorum.
    const unready = await Promise.all(['/version', '/health', '/metrics', '/v2/keys/'].map((path) => httpGet(n1.clientUrl + path, notAnsweredWithinMs)));
    expect(unready, first.output()).toEqual([undefined, undefined, undefined, undefined]);
    const serializableGet = await ctl(n1, ['get', 'foo', '--consistency=s'], 2);
    expect(serializableGet.exitCode, serializableGet.stdout).not.toBe(0);
    expect(serializableGet.stderr).toContain('context deadline exceeded');
    const status = await ctl(n1, ['endpoint', 'status'], 2);
    expect(status.exitCode, status.stdout).not.toBe(0);

    // Its metrics URL answers at once: no leader, so not healthy.
    const health = await httpGet(`${n1.metricsUrl}/health`, 5000);
    expect(health?.status).toBe(503);
    expect(JSON.parse(health?.body ?? '{}')).toMatchObject({ health: 'false' });
    const metrics = await httpGet(`${n1.metricsUrl}/metrics`, 5000);
    expect(metrics?.status).toBe(200);
    expect(metrics?.body).toMatch(/^etcd_server_has_leader 0$/m);
    expect((await httpGet(`${n1.metricsUrl}/version`, 5000))?.status).toBe(404);

    // Requests made now are held, not failed: a second member brings quorum, n1 publishes, and
    // they are answered.
    const heldVersion = httpGet(`${n1.clientUrl}/version`, 30_000);
    const heldPut = ctl(n1, ['put', 'held', 'answered'], 30);
    await new Promise((resolve) => setTimeout(resolve, 500));
    launch(n2, initialCluster, join(baseDir, 'n2.etcd'));
    const version = await heldVersion;
    expect(version?.status, first.output()).toBe(200);
    expect(JSON.parse(version?.body ?? '{}')).toHaveProperty('etcdserver');
    const put = await heldPut;
    expect(put.exitCode, put.stderr + first.output()).toBe(0);
    expect(put.stdout.trim()).toBe('OK');

    const got = await ctl(n1, ['get', 'held', '--print-value-only'], 5);
    expect(got.stdout.trim()).toBe('answered');
    const list = await ctl(n1, ['member', 'list'], 5);
    // n1's published name and client URL are in the list (n3, never started, has neither).
    expect(list.stdout).toContain(`n1, ${n1.peerUrl}, ${n1.clientUrl}`);
    expect((await httpGet(`${n1.clientUrl}/health`, 10_000))?.status).toBe(200);
  });
});
