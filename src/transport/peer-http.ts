// Owns the sockets of the peer transport: the HTTP servers on --listen-peer-urls and the client
// requests to peers, plus the headers every peer request carries (cluster id, sender, recipient).
// Everything that opens a socket goes through here so that TLS (https, peer certificates) is added in
// one place. HTTP/1.1 on purpose: every long-lived stream, snapshot and RPC gets its own TCP
// connection, so a multi-megabyte snapshot never shares a flow-control window (as HTTP/2 streams
// would) with the heartbeats that keep the leader in office.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { NodeId } from '../raft/types.js';

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

export interface PeerHttpServer {
  readonly url: URL;
  close(): Promise<void>;
}

/**
 * Listens on exactly the host and port of `listenUrl` (port 0 picks a free one; the returned url
 * has the real port). Long-lived streams must not be cut by Node's default request timeout.
 */
export async function listenPeerHttp(listenUrl: URL, handler: http.RequestListener): Promise<PeerHttpServer> {
  if (listenUrl.protocol !== 'http:') throw new Error(`peer URL ${listenUrl.href}: only http is supported so far (TLS is not built yet)`);
  const server = http.createServer({ requestTimeout: 0, headersTimeout: 10_000, keepAliveTimeout: 5_000 }, handler);
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.once('close', () => sockets.delete(socket));
  });
  const host = listenUrl.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = listenUrl.port === '' ? 80 : Number(listenUrl.port);
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

/** The client side: one agent per transport so stop() can destroy every socket it opened. */
export class PeerHttpClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 16 });
  private readonly requests = new Set<http.ClientRequest>();

  request(url: URL, headers: http.OutgoingHttpHeaders): http.ClientRequest {
    if (url.protocol !== 'http:') throw new Error(`peer URL ${url.href}: only http is supported so far (TLS is not built yet)`);
    const request = http.request(url, { method: 'POST', agent: this.agent, headers, setHost: true });
    request.on('socket', (socket: Socket) => socket.setNoDelay(true));
    this.requests.add(request);
    request.once('close', () => this.requests.delete(request));
    return request;
  }

  destroy(): void {
    for (const request of this.requests) request.destroy();
    this.requests.clear();
    this.agent.destroy();
  }
}
