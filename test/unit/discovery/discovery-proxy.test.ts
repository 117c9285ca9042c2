// --discovery-proxy: the v2 discovery client's requests through a forward proxy on 127.0.0.1, as
// Go's http.Transport sends them (absolute-form requests for a plain-HTTP service, a CONNECT tunnel
// for an HTTPS one, the proxy URL's credentials as Proxy-Authorization), etcd's reading of the
// flag's value, and the redirects etcd's v2 client follows. The service is our own v2 API.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { discoveryRedirectsMax, parseDiscoveryProxy } from '../../../src/discovery/http-client.js';
import { resolveInitialCluster } from '../../../src/discovery/resolve.js';
import { urlsMapString } from '../../../src/discovery/errors.js';
import { V2DiscoveryClient } from '../../../src/discovery/v2-discovery.js';
import { computeMemberId } from '../../../src/server/membership.js';
import { makeTempDir } from '../../helpers/index.js';
import { makeTestCa, type TestCa } from '../../helpers/test-ca.js';
import { startDiscoveryService, type DiscoveryService } from './discovery-service.js';

interface Seen { method: string; target: string; proxyAuthorization?: string }

interface Served { port: number; close: () => Promise<void> }

/** Listens on 127.0.0.1 and closes with every connection it accepted. */
async function serve(server: http.Server | https.Server): Promise<Served> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

/** Relays a request to 127.0.0.1:port, as a reverse proxy would. */
function relay(request: http.IncomingMessage, response: http.ServerResponse, port: number, path: string): void {
  const headers = { ...request.headers };
  delete headers['proxy-authorization'];
  const upstream = http.request({ host: '127.0.0.1', port, path, method: request.method, headers }, (answer) => {
    response.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(response);
  });
  upstream.on('error', () => response.writeHead(502).end());
  request.pipe(upstream);
}

/** A forward proxy: absolute-form requests and CONNECT tunnels, every one recorded. */
async function forwardProxy(options: { refuseTunnels?: boolean } = {}): Promise<Served & { seen: Seen[]; tunnelledBytes: () => number }> {
  const seen: Seen[] = [];
  let tunnelledBytes = 0;
  const server = http.createServer((request, response) => {
    seen.push({ method: request.method ?? '', target: request.url ?? '', proxyAuthorization: request.headers['proxy-authorization'] });
    const target = new URL(request.url ?? '');
    relay(request, response, Number(target.port), `${target.pathname}${target.search}`);
  });
  server.on('connect', (request: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    seen.push({ method: 'CONNECT', target: request.url ?? '', proxyAuthorization: request.headers['proxy-authorization'] });
    if (options.refuseTunnels) {
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    const colon = (request.url ?? '').lastIndexOf(':');
    const upstream = net.connect(Number(request.url!.slice(colon + 1)), request.url!.slice(0, colon), () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      client.on('data', (chunk: Buffer) => { tunnelledBytes += chunk.length; });
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  return { ...(await serve(server)), seen, tunnelledBytes: () => tunnelledBytes };
}

let service: DiscoveryService;
let ca: TestCa;
beforeAll(async () => {
  service = await startDiscoveryService();
  ca = makeTestCa();
});
afterAll(async () => {
  await service.close();
});

const newToken = (size: string): Promise<string> => service.newToken(size);

function member(url: string, name: string, peer: string, extra: { proxy?: URL; ca?: Buffer } = {}): V2DiscoveryClient {
  return new V2DiscoveryClient({ discoveryUrl: url, memberId: computeMemberId([peer], url), selfValue: urlsMapString(name, [peer]), retriesMax: 0, ...extra });
}

describe('--discovery-proxy', () => {
  it("is read as etcd reads it: a URL whose scheme begins with http, else http:// before the value", () => {
    expect(parseDiscoveryProxy('')).toBeUndefined();
    expect(parseDiscoveryProxy('proxy.example:3128')?.href).toBe('http://proxy.example:3128/');
    expect(parseDiscoveryProxy('localhost:3128')?.href).toBe('http://localhost:3128/');
    expect(parseDiscoveryProxy('10.0.0.1:8080')?.href).toBe('http://10.0.0.1:8080/');
    expect(parseDiscoveryProxy('https://proxy.example')?.href).toBe('https://proxy.example/');
    expect(parseDiscoveryProxy('http://user:pw@proxy.example:3128')?.href).toBe('http://user:pw@proxy.example:3128/');
    expect(() => parseDiscoveryProxy('proxy example:3128')).toThrow(/^invalid proxy address "proxy example:3128"/);
  });

  it('sends a plain-HTTP service its requests through the proxy, with the credentials of its URL', async () => {
    const proxy = await forwardProxy();
    try {
      const url = await newToken('2');
      const viaProxy = new URL(`http://joiner:p%40ss@127.0.0.1:${proxy.port}`);
      const clusters = await Promise.all([
        member(url, 'm1', 'http://127.0.0.1:3401', { proxy: viaProxy }).join(),
        member(url, 'm2', 'http://127.0.0.1:3402', { proxy: viaProxy }).join(),
      ]);
      expect(clusters[0]).toEqual(clusters[1]);
      expect(clusters[0]!.map((m) => m.name).sort()).toEqual(['m1', 'm2']);
      const { pathname } = new URL(url);
      // Every request of both members, written with the service's whole URL as its target.
      expect(proxy.seen.filter((s) => s.target === `http://127.0.0.1:${service.port}${pathname}/_config/size`)).toHaveLength(4);
      expect(proxy.seen.filter((s) => s.method === 'PUT')).toHaveLength(2);
      expect(proxy.seen.every((s) => s.target.startsWith(`http://127.0.0.1:${service.port}${pathname}`))).toBe(true);
      expect(new Set(proxy.seen.map((s) => s.proxyAuthorization))).toEqual(new Set([`Basic ${Buffer.from('joiner:p@ss').toString('base64')}`]));
    } finally {
      await proxy.close();
    }
  });

  it('reaches an HTTPS service through a CONNECT tunnel, TLS inside it', async () => {
    const proxy = await forwardProxy();
    const tlsService = await serve(https.createServer({ cert: readFileSync(ca.server.certFile), key: readFileSync(ca.server.keyFile) },
      (request, response) => relay(request, response, service.port, request.url ?? '/')));
    try {
      const url = (await newToken('1')).replace(`http://127.0.0.1:${service.port}`, `https://127.0.0.1:${tlsService.port}`);
      const cluster = await member(url, 'm1', 'http://127.0.0.1:3411', { proxy: new URL(`http://127.0.0.1:${proxy.port}`), ca: readFileSync(ca.caFile) }).join();
      expect(cluster).toEqual([{ name: 'm1', peerUrls: ['http://127.0.0.1:3411'] }]);
      expect(proxy.seen.length).toBeGreaterThan(0);
      expect(proxy.seen.every((s) => s.method === 'CONNECT' && s.target === `127.0.0.1:${tlsService.port}`)).toBe(true);
      // The requests went through the tunnels (a TLS handshake alone is some hundred bytes).
      expect(proxy.tunnelledBytes()).toBeGreaterThan(proxy.seen.length * 300);
      // The tunnel carries TLS: the service's certificate is checked against the CA given.
      await expect(member(url, 'm2', 'http://127.0.0.1:3412', { proxy: new URL(`http://127.0.0.1:${proxy.port}`) }).join())
        .rejects.toThrow('discovery: too many retries');
    } finally {
      await tlsService.close();
      await proxy.close();
    }
  });

  it('a proxy that refuses the tunnel, or is not there, is a failed attempt (etcd retries, then gives up)', async () => {
    const refusing = await forwardProxy({ refuseTunnels: true });
    const gone = await forwardProxy();
    await gone.close();
    try {
      const url = (await newToken('1')).replace('http://', 'https://');
      await expect(member(url, 'm1', 'http://127.0.0.1:3421', { proxy: new URL(`http://127.0.0.1:${refusing.port}`) }).join())
        .rejects.toThrow('discovery: too many retries');
      expect(refusing.seen.map((s) => s.method)).toEqual(['CONNECT']);
      await expect(member(url, 'm1', 'http://127.0.0.1:3421', { proxy: new URL(`http://127.0.0.1:${gone.port}`) }).join())
        .rejects.toThrow('discovery: too many retries');
    } finally {
      await refusing.close();
    }
  });

  it('is taken from the flag: a member resolves its cluster through the proxy given as host:port', async () => {
    const proxy = await forwardProxy();
    try {
      const url = await newToken('1');
      const { config } = parseConfig([
        '--name', 'm1', '--data-dir', makeTempDir('discovery-proxy'), '--discovery', url, '--discovery-proxy', `127.0.0.1:${proxy.port}`,
        '--initial-advertise-peer-urls', 'http://127.0.0.1:3431', '--listen-peer-urls', 'http://127.0.0.1:3431',
      ], {});
      const resolved = await resolveInitialCluster(config);
      expect(resolved.initialCluster).toEqual([{ name: 'm1', peerUrls: ['http://127.0.0.1:3431'] }]);
      expect(proxy.seen.length).toBeGreaterThanOrEqual(4);
      const bad = parseConfig(['--name', 'm2', '--data-dir', makeTempDir('discovery-proxy'), '--discovery', url, '--discovery-proxy', 'a b:1'], {}).config;
      await expect(resolveInitialCluster(bad)).rejects.toThrow(/^invalid proxy address "a b:1"/);
    } finally {
      await proxy.close();
    }
  });
});

describe('redirects', () => {
  it("are followed with the same method and body, up to etcd's limit", async () => {
    let redirected = 0;
    const redirector = await serve(http.createServer((request, response) => {
      redirected++;
      response.writeHead(307, { location: `http://127.0.0.1:${service.port}${request.url}` }).end();
    }));
    const loop = await serve(http.createServer((request, response) => response.writeHead(302, { location: request.url }).end()));
    try {
      const url = (await newToken('1')).replace(`:${service.port}/`, `:${redirector.port}/`);
      expect(await member(url, 'm1', 'http://127.0.0.1:3441').join()).toEqual([{ name: 'm1', peerUrls: ['http://127.0.0.1:3441'] }]);
      expect(redirected).toBeGreaterThanOrEqual(4); // the PUT among them: the member registered
      const looping = (await newToken('1')).replace(`:${service.port}/`, `:${loop.port}/`);
      await expect(member(looping, 'm2', 'http://127.0.0.1:3442').join()).rejects.toThrow('discovery: too many retries');
      expect(discoveryRedirectsMax).toBe(10);
    } finally {
      await loop.close();
      await redirector.close();
    }
  });
});
