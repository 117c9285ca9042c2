// Owns the small request/response exchange between members for what raft messages do not carry
// (lease keep-alives forwarded to the leader, promote checks, a joining member fetching the member
// list): one POST per call, the body in, the handler's bytes out, with a deadline on the caller's side.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { NodeId } from '../raft/types.js';
import { BodyTooLargeError, readBody } from './http-io.js';
import { formatMemberId, HEADER_CLUSTER_ID, HEADER_FROM, parseMemberId, type PeerHttpClient } from './peer-http.js';

export type RpcHandler = (body: Buffer, fromId: NodeId) => Promise<Buffer>;

export interface RpcHandlerOptions {
  /**
   * Serve callers whose cluster id differs from ours (a member that is joining and does not know
   * the cluster id yet sends 0). Only for read-only answers such as the member list.
   */
  acceptAnyCluster?: boolean;
}

export type PeerRequestFailure = 'timeout' | 'unreachable' | 'refused' | 'handler-failed' | 'overloaded' | 'stopped';

export class PeerRequestError extends Error {
  constructor(readonly failure: PeerRequestFailure, message: string, readonly statusCode?: number) {
    super(message);
    this.name = 'PeerRequestError';
  }
}

export interface PeerResponse {
  body: Buffer;
  /** The responder's member id and cluster id, as it stated them. */
  fromId: NodeId | undefined;
  clusterId: NodeId | undefined;
}

export interface RpcCallOptions {
  url: URL;
  localId: NodeId;
  clusterId: NodeId;
  client: PeerHttpClient;
  body: Buffer;
  timeoutMs: number;
  responseBytesMax: number;
}

export function callPeer(options: RpcCallOptions): Promise<PeerResponse> {
  return new Promise<PeerResponse>((resolve, reject) => {
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outcome();
    };
    const request = options.client.request(options.url, {
      [HEADER_CLUSTER_ID]: formatMemberId(options.clusterId),
      [HEADER_FROM]: formatMemberId(options.localId),
      'content-type': 'application/octet-stream',
      'content-length': options.body.length,
    });
    const timer = setTimeout(() => {
      settle(() => reject(new PeerRequestError('timeout', `peer request ${options.url.pathname} timed out after ${options.timeoutMs} ms`)));
      request.destroy();
    }, options.timeoutMs);
    request.on('error', (error) => settle(() => reject(new PeerRequestError('unreachable', `peer request ${options.url.pathname}: ${error.message}`))));
    let responded = false;
    // The request closes as soon as the exchange is over, which can be before its body is read.
    request.on('close', () => {
      if (!responded) settle(() => reject(new PeerRequestError('unreachable', `peer request ${options.url.pathname}: connection closed`)));
    });
    request.on('response', (response: IncomingMessage) => {
      responded = true;
      readBody(response, options.responseBytesMax).then((body) => {
        const status = response.statusCode ?? 0;
        if (status === 200) {
          settle(() => resolve({ body, fromId: parseMemberId(response.headers[HEADER_FROM]), clusterId: parseMemberId(response.headers[HEADER_CLUSTER_ID]) }));
          return;
        }
        const text = body.subarray(0, 512).toString('utf8');
        const failure: PeerRequestFailure = status === 500 ? 'handler-failed' : status === 503 ? 'overloaded' : 'refused';
        settle(() => reject(new PeerRequestError(failure, `peer request ${options.url.pathname}: HTTP ${status} ${text}`, status)));
      }, (error: Error) => settle(() => reject(new PeerRequestError('unreachable', `peer request ${options.url.pathname}: ${error.message}`))));
    });
    request.end(options.body);
  });
}

export interface RpcServeOptions {
  localId: NodeId;
  clusterId: NodeId;
  from: NodeId;
  handler: RpcHandler;
  requestBytesMax: number;
  logger: Logger;
}

export async function serveRpc(request: IncomingMessage, response: ServerResponse, options: RpcServeOptions): Promise<void> {
  const headers = { [HEADER_CLUSTER_ID]: formatMemberId(options.clusterId), [HEADER_FROM]: formatMemberId(options.localId) };
  let body: Buffer;
  try {
    body = await readBody(request, options.requestBytesMax);
  } catch (error) {
    const status = error instanceof BodyTooLargeError ? 413 : 400;
    if (!response.destroyed) response.writeHead(status, headers).end((error as Error).message);
    return;
  }
  try {
    const answer = await options.handler(body, options.from);
    if (!response.destroyed) response.writeHead(200, { ...headers, 'content-type': 'application/octet-stream' }).end(answer);
  } catch (error) {
    options.logger.warn({ path: request.url, 'remote-peer-id': formatMemberId(options.from), error: (error as Error).message }, 'peer request handler failed');
    if (!response.destroyed) response.writeHead(500, { ...headers, 'content-type': 'text/plain' }).end((error as Error).message);
  }
}
