// etcd 3.4's v2 proxy (--proxy on|readonly, and --discovery-fallback=proxy), real processes on
// 127.0.0.1: an etcd-ts proxy in front of an etcd-ts member and of a real etcd 3.4 member, and the
// real etcd's proxy in front of an etcd-ts member (which must answer etcd's GET /members on its
// peer URL). Requests go through with curl-like fetches: v2 keys, a long poll, the v3 JSON gateway;
// readonly refuses writes with 501; a member gone gives etcd's 502 and then 503; the proxy's own
// /v2/config/local/proxy and /metrics; the cluster file that a restarted proxy starts from; and a
// second member of a discovery cluster of one falls back to being its proxy.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  cleanupAll, etcdTsBinPath, freePort, makeTempDir, realEtcdPath, startEtcdTs, startRealEtcd, type EtcdProcess,
} from '../helpers/index.js';
import { registerChild } from '../helpers/process-registry.js';

afterAll(async () => { await cleanupAll(); });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Proxy {
  url: string;
  dataDir: string;
  output(): string;
  stop(): Promise<void>;
}

/** Starts a v2 proxy (etcd-ts, or the real etcd with `kind: 'etcd'`); resolves once it lists an endpoint. */
async function startProxy(args: string[], options: { kind?: 'etcd' | 'etcd-ts'; dataDir?: string; expectEndpoints?: boolean } = {}): Promise<Proxy> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dataDir = options.dataDir ?? join(makeTempDir('v2-proxy'), 'proxy.etcd');
  const allArgs = [`--data-dir=${dataDir}`, `--listen-client-urls=${url}`, ...args];
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('ETCD_')) env[key] = value;
  const child = options.kind === 'etcd'
    ? spawn(realEtcdPath, allArgs, { stdio: ['ignore', 'pipe', 'pipe'], env })
    : spawn(process.execPath, [etcdTsBinPath, ...allArgs], { stdio: ['ignore', 'pipe', 'pipe'], env });
  registerChild(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`proxy did not start:\n${output}`);
    try {
      const answer = await fetch(`${url}/v2/config/local/proxy`);
      const { endpoints } = await answer.json() as { endpoints: string[] };
      if (options.expectEndpoints === false || endpoints.length > 0) break;
    } catch { /* not listening yet */ }
    await sleep(100);
  }
  return {
    url, dataDir, output: () => output,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function v2Put(base: string, key: string, value: string): Promise<Response> {
  return fetch(`${base}/v2/keys/${key}`, { method: 'PUT', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `value=${value}` });
}

async function v2Get(base: string, key: string): Promise<{ status: number; value?: string }> {
  const answer = await fetch(`${base}/v2/keys/${key}`);
  const body = await answer.json() as { node?: { value?: string } };
  return { status: answer.status, value: body.node?.value };
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

describe('v2 proxy (etcd-ts)', () => {
  it('passes v2 keys, a long poll and the v3 JSON gateway to its member; keeps the cluster file; readonly refuses writes', async () => {
    const member = await startEtcdTs({ extraArgs: ['--enable-v2'] });
    const proxy = await startProxy(['--proxy=on', `--initial-cluster=n1=${member.peerUrl}`, '--proxy-refresh-interval=500']);
    try {
      const config = await (await fetch(`${proxy.url}/v2/config/local/proxy`)).json();
      expect(config).toEqual({ endpoints: [member.clientUrl] });

      const put = await v2Put(proxy.url, 'svc/a', 'one');
      expect(put.status).toBe(201);
      expect(await v2Get(proxy.url, 'svc/a')).toEqual({ status: 200, value: 'one' });
      expect(await v2Get(member.clientUrl, 'svc/a')).toEqual({ status: 200, value: 'one' });
      // etcd's v2 errors pass unchanged.
      const missing = await fetch(`${proxy.url}/v2/keys/svc/none`);
      expect(missing.status).toBe(404);
      expect((await missing.json() as { errorCode: number }).errorCode).toBe(100);

      // A long poll answers through the proxy when the key changes.
      const waiting = fetch(`${proxy.url}/v2/keys/svc/a?wait=true`).then(async (r) => (await r.json()) as { action: string; node: { value: string } });
      await sleep(300);
      await v2Put(member.clientUrl, 'svc/a', 'two');
      const event = await waiting;
      expect([event.action, event.node.value]).toEqual(['set', 'two']);

      // The v3 JSON gateway, as a curl script would use it.
      const v3put = await fetch(`${proxy.url}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: b64('k3'), value: b64('v3') }) });
      expect(v3put.status).toBe(200);
      const range = await (await fetch(`${proxy.url}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: b64('k3') }) })).json() as { kvs: Array<{ value: string }> };
      expect(Buffer.from(range.kvs[0]!.value, 'base64').toString()).toBe('v3');

      const metrics = await (await fetch(`${proxy.url}/metrics`)).text();
      expect(metrics).toMatch(/etcd_proxy_requests_total\{method="PUT"\} [1-9]/);
      expect(metrics).toMatch(/etcd_proxy_handled_total\{method="GET",code="200"\} [1-9]/);

      const clusterFile = join(proxy.dataDir, 'proxy', 'cluster');
      expect(JSON.parse(readFileSync(clusterFile, 'utf8'))).toEqual({ PeerURLs: [member.peerUrl] });
      expect(existsSync(join(proxy.dataDir, 'member'))).toBe(false);
      await proxy.stop();

      // Started again in the same data dir, readonly, with a wrong initial cluster: the cluster file wins.
      const again = await startProxy(['--proxy=readonly', '--initial-cluster=n1=http://127.0.0.1:1'], { dataDir: proxy.dataDir });
      try {
        expect(again.output()).toContain('proxy using peer URLS from cluster file');
        expect(await v2Get(again.url, 'svc/a')).toEqual({ status: 200, value: 'two' });
        const refused = await v2Put(again.url, 'svc/b', 'x');
        expect(refused.status).toBe(501);
        expect(await refused.text()).toBe('');
        expect((await v2Get(member.clientUrl, 'svc/b')).status).toBe(404);
      } finally {
        await again.stop();
      }
    } finally {
      await proxy.stop().catch(() => undefined);
      await member.stop();
    }
  }, 90_000);

  it('answers 502 when its member is gone, then 503 while the endpoint waits out --proxy-failure-wait', async () => {
    const member = await startEtcdTs({ extraArgs: ['--enable-v2'] });
    const proxy = await startProxy(['--proxy=on', `--initial-cluster=n1=${member.peerUrl}`, '--proxy-failure-wait=60000', '--proxy-refresh-interval=60000']);
    try {
      await member.stop();
      const failed = await fetch(`${proxy.url}/v2/keys/a`);
      expect(failed.status).toBe(502);
      expect(await failed.json()).toEqual({ message: 'httpproxy: unable to get response from 1 endpoint(s)' });
      const none = await fetch(`${proxy.url}/v2/keys/a`);
      expect(none.status).toBe(503);
      expect(await none.json()).toEqual({ message: 'httpproxy: zero endpoints currently available' });
      expect(await (await fetch(`${proxy.url}/v2/config/local/proxy`)).json()).toEqual({ endpoints: [] });
      const metrics = await (await fetch(`${proxy.url}/metrics`)).text();
      expect(metrics).toMatch(/etcd_proxy_dropped_total\{method="GET",proxying_error="zero_endpoints"\} 1/);
    } finally {
      await proxy.stop();
    }
  }, 60_000);

  it('a second member of a discovery cluster of one falls back to being its proxy, and stays one when restarted', async () => {
    const service = await startEtcdTs({ extraArgs: ['--enable-v2'] });
    const token = await (await fetch(`${service.clientUrl}/new?size=1`)).text();
    const dir = makeTempDir('v2-proxy-discovery');
    const member = await startMemberWithDiscovery('m1', dir, token);
    const peerPort = await freePort();
    const proxyArgs = [`--name=m2`, `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`, `--listen-peer-urls=http://127.0.0.1:${peerPort}`, `--discovery=${token}`];
    const proxy = await startProxy(proxyArgs, { dataDir: join(dir, 'm2') });
    try {
      expect(proxy.output()).toContain('discovery cluster is full, falling back to proxy');
      expect(await (await fetch(`${proxy.url}/v2/config/local/proxy`)).json()).toEqual({ endpoints: [member.clientUrl] });
      expect((await v2Put(proxy.url, 'registered', 'yes')).status).toBe(201);
      expect(await v2Get(member.clientUrl, 'registered')).toEqual({ status: 200, value: 'yes' });
      await proxy.stop();
      const again = await startProxy(proxyArgs, { dataDir: join(dir, 'm2') });
      try {
        expect(again.output()).toContain('server has been already initialized');
        expect(again.output()).toContain('discovery token ignored since the proxy has already been initialized; valid cluster file found');
        expect(await v2Get(again.url, 'registered')).toEqual({ status: 200, value: 'yes' });
      } finally {
        await again.stop();
      }
    } finally {
      await proxy.stop().catch(() => undefined);
      await member.stop();
      await service.stop();
    }
  }, 90_000);
});

async function startMemberWithDiscovery(name: string, dir: string, discoveryUrl: string): Promise<EtcdProcess> {
  const clientPort = await freePort();
  const peerPort = await freePort();
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  return startEtcdTs({
    name, clientPort, peerPort, clientUrlOverride: clientUrl, startTimeoutMs: 45_000,
    argsOverride: [
      `--name=${name}`, `--data-dir=${dir}/${name}`, `--listen-client-urls=${clientUrl}`, `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`, `--initial-advertise-peer-urls=${peerUrl}`, `--discovery=${discoveryUrl}`, '--enable-v2',
    ],
  });
}

/** A proxy of `kind` in front of `member`: a write through it lands on the member. Stops both. */
async function expectWriteThroughProxy(member: EtcdProcess, kind: 'etcd' | 'etcd-ts'): Promise<void> {
  const proxy = await startProxy(['--proxy=on', `--initial-cluster=n1=${member.peerUrl}`], { kind });
  try {
    expect(await (await fetch(`${proxy.url}/v2/config/local/proxy`)).json()).toEqual({ endpoints: [member.clientUrl] });
    expect((await v2Put(proxy.url, `through-${kind}-proxy`, 'v')).status).toBe(201);
    expect(await v2Get(member.clientUrl, `through-${kind}-proxy`)).toEqual({ status: 200, value: 'v' });
  } finally {
    await proxy.stop();
    await member.stop();
  }
}

describe('v2 proxy beside a real etcd 3.4', () => {
  it('an etcd-ts proxy in front of a real etcd member', async () => {
    await expectWriteThroughProxy(await startRealEtcd({ extraArgs: ['--enable-v2'] }), 'etcd-ts');
  }, 60_000);

  it("the real etcd's proxy in front of an etcd-ts member (etcd's GET /members on our peer URL)", async () => {
    const member = await startEtcdTs({ extraArgs: ['--enable-v2'] });
    const members = await fetch(`${member.peerUrl}/members`);
    expect(members.headers.get('content-type')).toBe('application/json');
    expect(members.headers.get('x-etcd-cluster-id')).toMatch(/^[0-9a-f]+$/);
    const list = await members.json() as Array<{ name: string; peerURLs: string[]; clientURLs: string[] }>;
    expect(list.map((m) => [m.name, m.peerURLs, m.clientURLs])).toEqual([['n1', [member.peerUrl], [member.clientUrl]]]);
    await expectWriteThroughProxy(member, 'etcd');
  }, 60_000);
});
