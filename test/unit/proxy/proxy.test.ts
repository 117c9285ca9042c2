// The v2 proxy's parts in-process: the director's endpoint list (shuffle, failure wait, refresh),
// the request handling against plain upstream HTTP servers on 127.0.0.1 (headers, retries on the
// next endpoint, etcd's 502/503 answers, readonly, the config endpoint), asking peers for the
// member list, the cluster file, and our peer URL's GET /members answer in etcd's JSON.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ProxyDirector } from '../../../src/proxy/director.js';
import { createReverseProxy } from '../../../src/proxy/reverse-proxy.js';
import { ProxyMetrics } from '../../../src/proxy/proxy-metrics.js';
import { clusterFromPeers } from '../../../src/proxy/cluster-members.js';
import { readClusterFile, writeClusterFile } from '../../../src/proxy/cluster-file.js';
import { etcdPeerMembersJson } from '../../../src/server/etcd-server.js';

const servers: http.Server[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function serve(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A port nothing listens on: bound, then closed. */
async function closedPortUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

const silent = () => undefined;

async function proxyFor(urls: string[], options: { readonly?: boolean; failureWaitMs?: number } = {}) {
  const director = new ProxyDirector({ fetchUrls: async () => urls, failureWaitMs: options.failureWaitMs ?? 60_000, refreshIntervalMs: 60_000, random: () => 0.999, log: silent });
  await director.refresh();
  const metrics = new ProxyMetrics({ processMetrics: false });
  const handler = createReverseProxy({
    director, metrics, readonly: options.readonly ?? false, dialTimeoutMs: 1000, writeTimeoutMs: 5000, readTimeoutMs: 0, requestBytesMax: 1 << 20, log: silent,
  });
  return { url: await serve(handler), director, metrics };
}

describe('ProxyDirector', () => {
  it('shuffles at each fetch, passes over a failed endpoint for the failure wait, and a fetch starts all afresh', async () => {
    vi.useFakeTimers();
    const rolls = [0.0, 0.0];
    const director = new ProxyDirector({
      fetchUrls: async () => ['http://a:1', 'http://b:2', 'http://c:3'], failureWaitMs: 5000, refreshIntervalMs: 30_000,
      random: () => rolls.shift() ?? 0.999, log: silent,
    });
    await director.refresh();
    // etcd's loop, j := rand.Intn(i + 1) from i = 0: i=0 keeps a; i=1, j=0 swaps a and b; i=2, j=2 keeps c.
    expect(director.endpoints().map((e) => e.url.host)).toEqual(['b:2', 'a:1', 'c:3']);
    const [first] = director.endpoints();
    director.markFailed(first!);
    expect(director.endpoints().map((e) => e.url.host)).toEqual(['a:1', 'c:3']);
    await vi.advanceTimersByTimeAsync(4999);
    expect(director.endpoints()).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(director.endpoints()).toHaveLength(3);
    director.markFailed(director.endpoints()[0]!);
    await director.refresh();
    expect(director.endpoints()).toHaveLength(3);
    director.stop();
  });

  it('fetches every second while it has no endpoint (interval at or above 30 s), else at the interval', async () => {
    vi.useFakeTimers();
    let answer: string[] = [];
    const fetchUrls = vi.fn(async () => answer);
    const director = new ProxyDirector({ fetchUrls, failureWaitMs: 5000, refreshIntervalMs: 30_000, log: silent });
    await director.start();
    expect(fetchUrls).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(fetchUrls).toHaveBeenCalledTimes(2);
    answer = ['http://a:1'];
    await vi.advanceTimersByTimeAsync(1000);
    expect(fetchUrls).toHaveBeenCalledTimes(3);
    await vi.advanceTimersByTimeAsync(29_000);
    expect(fetchUrls).toHaveBeenCalledTimes(3);
    await vi.advanceTimersByTimeAsync(1000);
    expect(fetchUrls).toHaveBeenCalledTimes(4);
    director.stop();
  });
});

describe('reverse proxy', () => {
  it('forwards method, path, query, body and headers (less the hop-by-hop ones), extends X-Forwarded-For, and streams the answer back', async () => {
    const upstream = await serve((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (c: Buffer) => chunks.push(c));
      request.on('end', () => {
        response.writeHead(201, { 'x-etcd-index': '7', 'content-type': 'application/json', 'keep-alive': 'timeout=99' });
        response.end(JSON.stringify({ method: request.method, url: request.url, body: Buffer.concat(chunks).toString(), headers: request.headers }));
      });
    });
    const { url } = await proxyFor([upstream]);
    const answer = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
      const request = http.request(`${url}/v2/keys/a?prevExist=false`, {
        method: 'PUT', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '10.0.0.1', 'proxy-authorization': 'secret', te: 'trailers', 'x-custom': 'kept' },
      }, (response) => {
        let body = '';
        response.on('data', (c: Buffer) => { body += c.toString(); });
        response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body }));
      });
      request.on('error', reject);
      request.end('value=1');
    });
    expect(answer.status).toBe(201);
    expect(answer.headers['x-etcd-index']).toBe('7');
    // The proxy's own server may say keep-alive for its connection; the member's value is not passed on.
    expect(answer.headers['keep-alive']).not.toBe('timeout=99');
    const seen = JSON.parse(answer.body) as { method: string; url: string; body: string; headers: Record<string, string> };
    expect([seen.method, seen.url, seen.body]).toEqual(['PUT', '/v2/keys/a?prevExist=false', 'value=1']);
    expect(seen.headers['x-custom']).toBe('kept');
    expect(seen.headers['x-forwarded-for']).toBe('10.0.0.1, 127.0.0.1');
    expect(seen.headers['proxy-authorization']).toBeUndefined();
    expect(seen.headers.te).toBeUndefined();
  });

  it('sends the request to the next endpoint when one cannot be reached, and passes that one over afterwards', async () => {
    const bodies: string[] = [];
    const upstream = await serve((request, response) => {
      let body = '';
      request.on('data', (c: Buffer) => { body += c.toString(); });
      request.on('end', () => { bodies.push(body); response.end('ok'); });
    });
    const dead = await closedPortUrl();
    // random() near 1 keeps the order as fetched: the dead endpoint first.
    const { url, director, metrics } = await proxyFor([dead, upstream]);
    const answer = await fetch(`${url}/v2/keys/x`, { method: 'POST', body: 'value=v' });
    expect([answer.status, await answer.text()]).toEqual([200, 'ok']);
    expect(bodies).toEqual(['value=v']);
    expect(director.endpoints().map((e) => e.url.origin)).toEqual([upstream]);
    expect(await metrics.registry.getSingleMetricAsString('etcd_proxy_dropped_total')).toContain('etcd_proxy_dropped_total{method="POST",proxying_error="failed_sending_request"} 1');
  });

  it("answers etcd's 502 when no endpoint answers, 503 when none is available, and 501 for a write when readonly", async () => {
    const { url } = await proxyFor([await closedPortUrl(), await closedPortUrl()]);
    const failed = await fetch(`${url}/v2/keys/x`);
    expect([failed.status, failed.headers.get('content-type'), await failed.json()]).toEqual([502, 'application/json', { message: 'httpproxy: unable to get response from 2 endpoint(s)' }]);
    const none = await fetch(`${url}/v2/keys/x`);
    expect([none.status, await none.json()]).toEqual([503, { message: 'httpproxy: zero endpoints currently available' }]);

    const upstream = await serve((_request, response) => response.end('read'));
    const readonly = await proxyFor([upstream], { readonly: true });
    const write = await fetch(`${readonly.url}/v2/keys/x`, { method: 'PUT', body: 'value=1' });
    expect([write.status, await write.text()]).toEqual([501, '']);
    expect(await (await fetch(`${readonly.url}/v2/keys/x`)).text()).toBe('read');
  });

  it('serves GET /v2/config/local/proxy itself, and only GET', async () => {
    const { url } = await proxyFor(['http://127.0.0.1:2379', 'https://10.0.0.2:2379']);
    const config = await fetch(`${url}/v2/config/local/proxy`);
    expect(await config.json()).toEqual({ endpoints: ['http://127.0.0.1:2379', 'https://10.0.0.2:2379'] });
    const post = await fetch(`${url}/v2/config/local/proxy`, { method: 'POST' });
    expect([post.status, post.headers.get('allow'), await post.text()]).toEqual([405, 'GET', 'Method Not Allowed\n']);
  });
});

describe('asking the peers for the members', () => {
  it("takes the first peer that answers with a list and a cluster id, and gives every member's URLs, sorted", async () => {
    const noId = await serve((_request, response) => response.end('[{"id":1,"peerURLs":["http://p:1"]}]'));
    const good = await serve((request, response) => {
      expect([request.method, request.url]).toEqual(['GET', '/members']);
      response.writeHead(200, { 'content-type': 'application/json', 'x-etcd-cluster-id': 'cdf818194e3a8c32' });
      response.end('[{"id":10276657743932975437,"peerURLs":["http://b:2380"],"name":"b","clientURLs":["http://b:2379"]},' +
        '{"id":1,"peerURLs":["http://a:2380"],"name":"a","clientURLs":["http://a:2379","http://a:4001"]},{"id":2,"peerURLs":["http://c:2380"],"isLearner":true}]\n');
    });
    const cluster = await clusterFromPeers([await closedPortUrl(), noId, `${good}/`], { timeoutMs: 2000 });
    expect(cluster).toEqual({
      clientUrls: ['http://a:2379', 'http://a:4001', 'http://b:2379'],
      peerUrls: ['http://a:2380', 'http://b:2380', 'http://c:2380'],
    });
    await expect(clusterFromPeers([noId], { timeoutMs: 2000 })).rejects.toThrow('could not retrieve cluster information from the given URLs');
  });

  it("our peer URL's GET /members is etcd's JSON: uint64 ids exact, sorted by id, empty fields left out", () => {
    const json = etcdPeerMembersJson([
      { id: 0xfedcba9876543210n, name: 'b', peerUrls: ['http://b:2380'], clientUrls: ['http://b:2379'], isLearner: false },
      { id: 5n, name: '', peerUrls: ['http://c:2380'], clientUrls: [], isLearner: true },
    ]);
    expect(json).toBe('[{"id":5,"peerURLs":["http://c:2380"],"isLearner":true},' +
      '{"id":18364758544493064720,"peerURLs":["http://b:2380"],"name":"b","clientURLs":["http://b:2379"]}]');
  });
});

describe('cluster file', () => {
  it("writes etcd's {\"PeerURLs\":[...]} and reads it back; no file is undefined", () => {
    const dir = mkdtempSync(join(tmpdir(), 'proxy-cluster-'));
    try {
      const file = join(dir, 'cluster');
      expect(readClusterFile(file)).toBeUndefined();
      writeClusterFile(file, ['http://a:2380', 'http://b:2380']);
      expect(readClusterFile(file)).toEqual(['http://a:2380', 'http://b:2380']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
