// Owns the v2 proxy's request handling, as etcd 3.4's httpproxy does it: the client's request is
// read whole, its hop-by-hop headers dropped and X-Forwarded-For extended, then sent to the
// available endpoints in turn until one answers; that answer (status, headers but the hop-by-hop
// ones, body streamed, so long polls and watch streams pass) goes back. An endpoint that could not
// be sent to is passed over for the failure wait. `--proxy readonly` answers anything but GET with
// 501. Also served here: GET /v2/config/local/proxy (the endpoints) and /metrics.
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { AccessControl } from '../api/http/access-control.js';
import { BodyTooLargeError, readBody } from '../transport/http-io.js';
import { endpointString, type ProxyDirector, type ProxyEndpoint } from './director.js';
import type { ProxyMetrics } from './proxy-metrics.js';

export interface ReverseProxyOptions {
  director: ProxyDirector;
  metrics: ProxyMetrics;
  readonly: boolean;
  /** --cors, as etcd wraps its proxy with it: headers on every answer, OPTIONS answered 200. */
  accessControl?: AccessControl;
  /** --proxy-dial-timeout, --proxy-write-timeout, --proxy-read-timeout (0: none), in ms. */
  dialTimeoutMs: number;
  writeTimeoutMs: number;
  readTimeoutMs: number;
  /** For https endpoints: the client TLS files (etcd falls back to the peer ones). */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; insecure?: boolean };
  /** A request body beyond this is refused with 413 (etcd's proxy reads any size). */
  requestBytesMax: number;
  log: (message: string, fields?: Record<string, unknown>) => void;
}

/** Headers that belong to one connection, never forwarded (etcd's singleHopHeaders). */
const singleHopHeaders = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailers', 'transfer-encoding', 'upgrade']);

/** etcd's MaxIdleConnsPerHost for the proxy's transport. */
const idleSocketsPerHostMax = 128;

export function createReverseProxy(options: ReverseProxyOptions): (request: http.IncomingMessage, response: http.ServerResponse) => void {
  const httpAgent = new http.Agent({ keepAlive: true, maxFreeSockets: idleSocketsPerHostMax });
  const httpsAgent = new https.Agent({
    keepAlive: true, maxFreeSockets: idleSocketsPerHostMax, ca: options.tls?.ca, cert: options.tls?.cert, key: options.tls?.key,
    rejectUnauthorized: options.tls?.insecure !== true,
  });

  const proxied = (request: http.IncomingMessage, response: http.ServerResponse): void => {
    if (options.accessControl) {
      const origin = request.headers.origin;
      for (const [name, value] of Object.entries(options.accessControl.corsHeaders(Array.isArray(origin) ? origin[0] : origin))) response.setHeader(name, value);
      if (request.method === 'OPTIONS') {
        response.writeHead(200, { 'content-length': '0' });
        response.end();
        return;
      }
    }
    const path = new URL(request.url ?? '/', 'http://proxy').pathname;
    if (path === '/v2/config/local/proxy') {
      if (request.method !== 'GET') {
        response.writeHead(405, { allow: 'GET', 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' });
        response.end('Method Not Allowed\n');
        return;
      }
      response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      response.end(`${JSON.stringify({ endpoints: options.director.endpoints().map(endpointString) })}\n`);
      return;
    }
    forward(request, response).catch((error: unknown) => {
      // Never an unhandled rejection: one request's failure must not stop the proxy.
      options.log('failed to proxy a request', { error: (error as Error).message });
      response.destroy();
    });
  };

  const forward = async (request: http.IncomingMessage, response: http.ServerResponse): Promise<void> => {
    const method = request.method ?? 'GET';
    options.metrics.requestIn(method);
    const startedMs = performance.now();
    let body: Buffer;
    try {
      body = await readBody(request, options.requestBytesMax);
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        writeHttpError(response, 413, `httpproxy: request body larger than ${options.requestBytesMax} bytes`);
        return;
      }
      const message = `failed to read request body: ${(error as Error).message}`;
      options.log(message);
      writeHttpError(response, 500, `httpproxy: ${message}`);
      return;
    }
    const headers = forwardedHeaders(request);
    const endpoints = options.director.endpoints();
    if (endpoints.length === 0) {
      options.metrics.requestDropped(method, 'zero_endpoints');
      options.log('zero endpoints currently available');
      writeHttpError(response, 503, 'httpproxy: zero endpoints currently available');
      return;
    }
    let clientGone = false;
    let current: http.ClientRequest | undefined;
    response.on('close', () => {
      if (response.writableFinished) return;
      clientGone = true;
      current?.destroy();
    });
    for (const endpoint of endpoints) {
      if (clientGone) return;
      let upstream: http.IncomingMessage;
      try {
        upstream = await send(endpoint, method, request.url ?? '/', headers, body, (r) => { current = r; });
      } catch (error) {
        if (clientGone) {
          options.log('client closed request prematurely', { client: request.socket.remoteAddress });
          return;
        }
        options.metrics.requestDropped(method, 'failed_sending_request');
        options.log(`failed to direct request to ${endpointString(endpoint)}: ${(error as Error).message}`);
        options.director.markFailed(endpoint);
        continue;
      }
      if (clientGone) {
        upstream.destroy();
        return;
      }
      options.metrics.requestHandled(method, upstream.statusCode ?? 502, startedMs);
      response.writeHead(upstream.statusCode ?? 502, withoutSingleHop(upstream.rawHeaders));
      response.flushHeaders();
      upstream.on('error', () => response.destroy());
      upstream.pipe(response);
      return;
    }
    const message = `unable to get response from ${endpoints.length} endpoint(s)`;
    options.metrics.requestDropped(method, 'failed_getting_response');
    options.log(message);
    writeHttpError(response, 502, `httpproxy: ${message}`);
  };

  /** One attempt: resolves with the endpoint's answer once its headers are in. */
  const send = (
    endpoint: ProxyEndpoint, method: string, path: string, headers: string[], body: Buffer, started: (request: http.ClientRequest) => void,
  ): Promise<http.IncomingMessage> => new Promise((resolve, reject) => {
    const secure = endpoint.url.protocol === 'https:';
    const outgoing = (secure ? https : http).request({
      protocol: endpoint.url.protocol, hostname: endpoint.url.hostname.replace(/^\[|\]$/g, ''), port: endpoint.url.port || (secure ? 443 : 80),
      method, path, headers: [...headers, 'content-length', String(body.length)], agent: secure ? httpsAgent : httpAgent,
      setHost: false,
    });
    started(outgoing);
    let dialTimer: NodeJS.Timeout | undefined;
    let writeTimer: NodeJS.Timeout | undefined;
    const clearTimers = () => {
      clearTimeout(dialTimer);
      clearTimeout(writeTimer);
    };
    outgoing.on('socket', (socket: Socket) => {
      if (socket.connecting && options.dialTimeoutMs > 0) {
        dialTimer = setTimeout(() => outgoing.destroy(new Error(`dial timeout after ${options.dialTimeoutMs} ms`)), options.dialTimeoutMs);
        socket.once('connect', () => clearTimeout(dialTimer));
      }
      if (options.readTimeoutMs > 0) socket.setTimeout(options.readTimeoutMs, () => outgoing.destroy(new Error('read timeout')));
    });
    outgoing.on('response', (upstream) => {
      clearTimers();
      // Keep-alive sockets carry the read timeout only while a request is theirs.
      if (options.readTimeoutMs > 0) upstream.on('end', () => upstream.socket?.setTimeout(0));
      resolve(upstream);
    });
    outgoing.on('error', (error) => {
      clearTimers();
      reject(error);
    });
    if (options.writeTimeoutMs > 0) {
      writeTimer = setTimeout(() => outgoing.destroy(new Error(`write timeout after ${options.writeTimeoutMs} ms`)), options.writeTimeoutMs);
      outgoing.on('finish', () => clearTimeout(writeTimer));
    }
    outgoing.end(body);
  });

  if (!options.readonly) return proxied;
  return (request, response) => {
    if (request.method !== 'GET') {
      response.writeHead(501, { 'content-length': '0' });
      response.end();
      return;
    }
    proxied(request, response);
  };
}

/** The client's headers as name/value pairs, less the hop-by-hop ones and the length (set per attempt), plus X-Forwarded-For. */
function forwardedHeaders(request: http.IncomingMessage): string[] {
  const headers: string[] = [];
  const forwardedFor: string[] = [];
  const raw = request.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (singleHopHeaders.has(name) || name === 'content-length') continue;
    if (name === 'x-forwarded-for') {
      forwardedFor.push(raw[i + 1]!);
      continue;
    }
    headers.push(raw[i]!, raw[i + 1]!);
  }
  const address = request.socket.remoteAddress;
  if (address !== undefined) {
    const client = address.startsWith('::ffff:') ? address.slice(7) : address;
    headers.push('X-Forwarded-For', [...forwardedFor, client].join(', '));
  } else if (forwardedFor.length > 0) {
    headers.push('X-Forwarded-For', forwardedFor.join(', '));
  }
  return headers;
}

function withoutSingleHop(rawHeaders: string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (!singleHopHeaders.has(rawHeaders[i]!.toLowerCase())) kept.push(rawHeaders[i]!, rawHeaders[i + 1]!);
  }
  return kept;
}

/** etcd's httptypes.HTTPError: a JSON body {"message": ...}. */
function writeHttpError(response: http.ServerResponse, status: number, message: string): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify({ message }));
}
