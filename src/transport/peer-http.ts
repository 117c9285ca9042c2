// Owns the sockets of the peer transport: the HTTP servers on --listen-peer-urls and the client
// requests to peers, plus the headers every peer request carries (cluster id, sender, recipient).
// Everything that opens a socket goes through here, so TLS lives here too: https peer URLs are
// served and dialed with the peer certificates (--peer-cert-file…), a refused handshake or client
// certificate is logged with who and why, and the connection is closed. HTTP/1.1 on purpose: every long-lived stream, snapshot and RPC gets its own TCP
// connection, so a multi-megabyte snapshot never shares a flow-control window (as HTTP/2 streams
// would) with the heartbeats that keep the leader in office.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { NodeId } from '../raft/types.js';
import { describeTlsError, refusalReason, type OutgoingTls, type ServerTls } from '../tls/index.js';

export const HEADER_CLUSTER_ID = 'x-etcd-cluster-id';
export const HEADER_FROM = 'x-server-from';
export const HEADER_TO = 'x-raft-to';

export const STREAM_PATH_PREFIX = '/raft/stream/';
export const SNAPSHOT_PATH = '/raft/snapshot';
/** Paths under this prefix belong to the transport itself; RPC handlers may not take them. */
export const RESERVED_PATH_PREFIX = '/raft';

export function formatMemberId(id: NodeId): string {
  return id.toString(16);
}

/** Parses a hex uint64 as etcd prints member and cluster ids; undefined when malformed. */
export function parseMemberId(text: string | string[] | undefined): NodeId | undefined {
  if (typeof text !== 'string' || !/^[0-9a-fA-F]{1,16}$/.test(text)) return undefined;
  return BigInt(`0x${text}`);
}

/** Both sides of peer TLS, and where refusals are logged. */
export interface PeerTls {
  server: ServerTls;
  outgoing: OutgoingTls;
  logger: Logger;
}

/**
 * The peer TLS of this process. A process runs one member, and the transport opens sockets from
 * several places, so main sets it once before the member starts rather than threading it through
 * every caller; listenPeerHttp and PeerHttpClient also take it explicitly (tests run many members).
 */
let processPeerTls: PeerTls | undefined;

export function setProcessPeerTls(peerTls: PeerTls | undefined): void {
  processPeerTls = peerTls;
}

/** A refused dial is logged once per peer address and reason in this window, not on every retry. */
export const tlsDialFailureLogIntervalMs = 30_000;
/** Distinct (address, reason) pairs remembered for that; the map is cleared when it is full. */
export const tlsDialFailuresRememberedMax = 1024;

function missingTls(url: URL): Error {
  return new Error(`peer URL ${url.href}: TLS key/cert (--peer-cert-file, --peer-key-file or --peer-auto-tls) must be provided for an https peer URL`);
}

export interface PeerHttpServer {
  readonly url: URL;
  close(): Promise<void>;
}

/**
 * Listens on exactly the host and port of `listenUrl` (port 0 picks a free one; the returned url
 * has the real port). Long-lived streams must not be cut by Node's default request timeout.
 */
export async function listenPeerHttp(listenUrl: URL, handler: http.RequestListener, peerTls: PeerTls | undefined = processPeerTls): Promise<PeerHttpServer> {
  if (listenUrl.protocol !== 'http:' && listenUrl.protocol !== 'https:') throw new Error(`peer URL ${listenUrl.href}: scheme must be http or https`);
  const timeouts = { requestTimeout: 0, headersTimeout: 10_000, keepAliveTimeout: 5_000 };
  let server: http.Server;
  if (listenUrl.protocol === 'https:') {
    if (peerTls === undefined) throw missingTls(listenUrl);
    server = listenPeerHttps(listenUrl, handler, peerTls, timeouts);
  } else {
    server = http.createServer(timeouts, handler);
  }
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.once('close', () => sockets.delete(socket));
  });
  const host = listenUrl.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = listenUrl.port === '' ? (listenUrl.protocol === 'https:' ? 443 : 80) : Number(listenUrl.port);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const url = new URL(listenUrl.href);
  url.port = String(address.port);
  return {
    url,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      // Streams never end on their own: close() would wait for them forever.
      for (const socket of sockets) socket.destroy();
    }),
  };
}

/**
 * The https server of one peer URL. A peer whose handshake fails, or whose verified certificate
 * etcd's extra rules refuse (allowed CN, allowed hostname, SAN against its address), is logged and
 * cut before any of its requests reaches the transport.
 */
function listenPeerHttps(listenUrl: URL, handler: http.RequestListener, peerTls: PeerTls, timeouts: http.ServerOptions): https.Server {
  const { server: serverTls, logger } = peerTls;
  const verdicts = new WeakMap<Socket, Promise<string | undefined>>();
  const server = https.createServer({
    ...timeouts,
    ...serverTls.contextOptions,
    requestCert: serverTls.requireClientCert,
    rejectUnauthorized: serverTls.requireClientCert,
  }, (request, response) => {
    const verdict = verdicts.get(request.socket) ?? Promise.resolve('connection was never checked');
    void verdict.then((reason) => {
      if (reason === undefined) handler(request, response);
      else request.socket.destroy();
    });
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const verdict = refusalReason(socket, serverTls);
    verdicts.set(socket, verdict);
    void verdict.then((reason) => {
      if (reason === undefined) return;
      logger.warn({ 'local-url': listenUrl.href, 'remote-addr': remote, reason }, 'rejected peer connection: client certificate refused');
      socket.destroy();
    });
  });
  server.on('tlsClientError', (error: Error & { code?: string }, socket: TLSSocket) => {
    logger.warn({
      'local-url': listenUrl.href, 'remote-addr': `${socket.remoteAddress}:${socket.remotePort}`,
      'cert-file': serverTls.certFile, 'trusted-ca-file': serverTls.trustedCaFile, reason: describeTlsError(error),
    }, 'rejected peer connection: TLS handshake failed');
  });
  return server;
}

/** The client side: one agent per scheme per transport so stop() can destroy every socket it opened. */
export class PeerHttpClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 16 });
  private readonly httpsAgent?: https.Agent;
  private readonly requests = new Set<http.ClientRequest>();
  /** `${host} ${code}` ⇒ when that dial failure was last logged. */
  private readonly tlsFailuresLoggedAtMs = new Map<string, number>();

  constructor(private readonly peerTls: PeerTls | undefined = processPeerTls) {
    if (peerTls !== undefined) {
      const outgoing = peerTls.outgoing;
      this.httpsAgent = new https.Agent({
        keepAlive: true, maxSockets: Infinity, maxFreeSockets: 16,
        cert: outgoing.cert, key: outgoing.key, ...(outgoing.ca === undefined ? {} : { ca: outgoing.ca }),
        rejectUnauthorized: outgoing.rejectUnauthorized,
        minVersion: outgoing.minVersion, maxVersion: outgoing.maxVersion,
        ...(outgoing.ciphers === undefined ? {} : { ciphers: outgoing.ciphers }),
      });
    }
  }

  request(url: URL, headers: http.OutgoingHttpHeaders): http.ClientRequest {
    let request: http.ClientRequest;
    if (url.protocol === 'http:') {
      request = http.request(url, { method: 'POST', agent: this.agent, headers, setHost: true });
    } else if (url.protocol === 'https:') {
      if (this.httpsAgent === undefined || this.peerTls === undefined) throw missingTls(url);
      request = https.request(url, { method: 'POST', agent: this.httpsAgent, headers, setHost: true });
      request.on('error', (error) => this.logTlsDialFailure(url, error));
    } else {
      throw new Error(`peer URL ${url.href}: scheme must be http or https`);
    }
    request.on('socket', (socket: Socket) => socket.setNoDelay(true));
    this.requests.add(request);
    request.once('close', () => this.requests.delete(request));
    return request;
  }

  destroy(): void {
    for (const request of this.requests) request.destroy();
    this.requests.clear();
    this.agent.destroy();
    this.httpsAgent?.destroy();
  }

  private logTlsDialFailure(url: URL, error: Error & { code?: string }): void {
    const code = error.code ?? '';
    // Plain network failures are the stream's to report; only certificate and handshake trouble here.
    if (!/^(ERR_SSL_|ERR_TLS_|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_|HOSTNAME_MISMATCH)/.test(code)) return;
    const key = `${url.host} ${code}`;
    const nowMs = performance.now();
    const lastMs = this.tlsFailuresLoggedAtMs.get(key);
    if (lastMs !== undefined && nowMs - lastMs < tlsDialFailureLogIntervalMs) return;
    if (this.tlsFailuresLoggedAtMs.size >= tlsDialFailuresRememberedMax) this.tlsFailuresLoggedAtMs.clear();
    this.tlsFailuresLoggedAtMs.set(key, nowMs);
    this.peerTls?.logger.warn({ 'remote-url': url.origin, 'cert-file': this.peerTls.outgoing.certFile, reason: describeTlsError(error) },
      'could not connect to peer over TLS');
  }
}
