// Owns the HTTP requests the v2 discovery client sends: straight to the service, or through
// --discovery-proxy as Go's http.Transport sends them with http.ProxyURL (etcd's discovery
// transport): a plain-HTTP service gets absolute-form requests sent to the proxy, an HTTPS one a
// CONNECT tunnel with TLS to the service inside it. Redirects are followed as etcd's v2 client
// follows them (any 3xx with a Location, same method and body, up to 10).
import http from 'node:http';
import https from 'node:https';
import { isIP, type Socket } from 'node:net';
import tls from 'node:tls';

export interface DiscoveryHttpRequest {
  method: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  /** --discovery-proxy, parsed by parseDiscoveryProxy. */
  proxy?: URL;
  /** CA certificates trusted for an HTTPS service instead of Node's roots (tests bring their own CA). */
  ca?: string | Buffer;
}

export interface DiscoveryHttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** etcd's v2 client: client.DefaultMaxRedirects. */
export const discoveryRedirectsMax = 10;

/**
 * --discovery-proxy as etcd reads it: a URL whose scheme begins with "http", or else the value
 * with "http://" put in front of it (so `proxy.example:3128` works); undefined when empty.
 */
export function parseDiscoveryProxy(value: string): URL | undefined {
  if (value === '') return undefined;
  const asGiven = urlOrUndefined(value);
  if (asGiven?.protocol.startsWith('http')) return asGiven;
  const prefixed = urlOrUndefined(`http://${value}`);
  if (prefixed === undefined) throw new Error(`invalid proxy address ${JSON.stringify(value)}: not a URL, nor a host:port`);
  return prefixed;
}

function urlOrUndefined(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

export async function discoveryRequest(url: URL, request: DiscoveryHttpRequest): Promise<DiscoveryHttpResponse> {
  let target = url;
  for (let redirects = 0; ; redirects++) {
    const response = await requestOnce(target, request);
    const location = response.headers.location;
    if (Math.floor(response.status / 100) !== 3 || location === undefined) return response;
    if (redirects === discoveryRedirectsMax) throw new Error(`discovery: stopped after ${discoveryRedirectsMax} redirects`);
    target = new URL(location, target);
  }
}

async function requestOnce(target: URL, request: DiscoveryHttpRequest): Promise<DiscoveryHttpResponse> {
  if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new Error(`discovery: unsupported protocol ${target.protocol}`);
  const headers: Record<string, string> = { ...request.headers };
  if (request.body !== undefined) headers['content-length'] = String(Buffer.byteLength(request.body));
  // A connection of its own per request (discovery sends a handful), except through a tunnel,
  // where the connection is the tunnel (createConnection is used only without an agent).
  const common = { method: request.method, headers, signal: request.signal };
  const ownConnection = { agent: false as const };
  const { proxy } = request;
  if (proxy === undefined) {
    return exchange(target.protocol === 'https:' ? https : http, {
      ...common, ...ownConnection, ...endpointOf(target), path: `${target.pathname}${target.search}`, ca: request.ca,
    }, request.body);
  }
  const proxyModule = proxyProtocolModule(proxy);
  const proxyAuthorization = proxyAuthorizationOf(proxy);
  if (target.protocol === 'http:') {
    // A proxy forwards a plain-HTTP request written with the whole URL as its target.
    if (proxyAuthorization) headers['proxy-authorization'] = proxyAuthorization;
    return exchange(proxyModule, { ...common, ...ownConnection, ...endpointOf(proxy), path: target.href, headers: { host: target.host, ...headers } }, request.body);
  }
  const endpoint = endpointOf(target);
  const tunnel = await openTunnel(proxyModule, proxy, `${target.hostname}:${endpoint.port}`, proxyAuthorization, request.signal);
  return exchange(https, {
    ...common, ...endpoint, path: `${target.pathname}${target.search}`,
    createConnection: () => tls.connect({ socket: tunnel, servername: isIP(endpoint.host) !== 0 ? undefined : endpoint.host, ca: request.ca }),
  }, request.body);
}

function proxyProtocolModule(proxy: URL): typeof http | typeof https {
  if (proxy.protocol === 'http:') return http;
  if (proxy.protocol === 'https:') return https;
  throw new Error(`discovery: unsupported proxy protocol ${proxy.protocol}`);
}

/** Host (without an IPv6 literal's brackets) and port of a URL, with its scheme's default port. */
function endpointOf(url: URL): { host: string; port: number } {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { host, port: url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80 };
}

/** Go sends the proxy URL's user and password as Basic credentials. */
function proxyAuthorizationOf(proxy: URL): string | undefined {
  if (proxy.username === '' && proxy.password === '') return undefined;
  const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return `Basic ${Buffer.from(credentials).toString('base64')}`;
}

function openTunnel(module: typeof http | typeof https, proxy: URL, authority: string, proxyAuthorization: string | undefined,
  signal: AbortSignal | undefined): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const connect = module.request({
      ...endpointOf(proxy), method: 'CONNECT', path: authority, agent: false, signal,
      headers: { host: authority, ...(proxyAuthorization ? { 'proxy-authorization': proxyAuthorization } : {}) },
    });
    connect.once('connect', (response, socket) => {
      if (response.statusCode !== 200) {
        socket.destroy();
        reject(new Error(`discovery: proxy refused the tunnel to ${authority}: ${response.statusCode} ${response.statusMessage ?? ''}`.trim()));
        return;
      }
      resolve(socket);
    });
    connect.once('error', reject);
    connect.end();
  });
}

function exchange(module: typeof http | typeof https, options: https.RequestOptions, body: string | undefined): Promise<DiscoveryHttpResponse> {
  return new Promise((resolve, reject) => {
    const outgoing = module.request(options, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString('utf8') }));
      response.once('error', reject);
    });
    outgoing.once('error', reject);
    outgoing.end(body);
  });
}
