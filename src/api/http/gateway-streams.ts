// The gateway's streaming paths, written as grpc-gateway v1 writes them: the request body is the
// one request message, each response is a line `{"result":{...}}`, and nothing (not even the
// status line) goes out before the first response. A failure after that ends the stream with an
// `{"error":{grpc_code,http_code,message,http_status}}` chunk.
// - /v3/watch stays open until the client goes away, as etcd keeps a watch whose sender half-closed.
// - /v3/lease/keepalive answers its one request and ends.
// - /v3/maintenance/snapshot pulls the next chunk only once the socket took the previous one.
// - /v3/election/observe writes each leader change until the client goes away, taking the next
//   change only once the socket took the previous one; its errors are UNKNOWN, as etcd's.
// Backpressure: a watch whose socket buffer is full is told so (send returns false) and resumed on
// 'drain'; nothing here queues responses of its own.
import type { ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { Logger } from 'pino';
import type protobuf from 'protobufjs';
import type { ServerElections } from '../../concurrency/index.js';
import type { EtcdServerApi, RequestContext } from '../../server/server-api.js';
import type { WatchStream } from '../../watch/types.js';
import { leaderRequestFromWire, leaderResponseToWire } from '../grpc/translate/election.js';
import { leaseIdFromWire, leaseKeepAliveResponseToWire } from '../grpc/translate/lease.js';
import { snapshotChunkToWire } from '../grpc/translate/maintenance.js';
import { watchRequestFromWire, watchResponseToWire } from '../grpc/translate/watch.js';
import { concurrencyFailure } from './gateway-concurrency-routes.js';
import { httpStatusFromGrpcCode, streamErrorChunk, toGatewayStatus, type GatewayStatus } from './gateway-errors.js';
import { messageToJson } from './proto-json.js';

export interface StreamContext {
  server: EtcdServerApi;
  elections: ServerElections;
  logger: Logger;
  response: ServerResponse;
  /** The decoded request message (proto field names). */
  request: Record<string, unknown>;
  requestContext: RequestContext;
  responseType: protobuf.Type;
  headers: Record<string, string>;
  failedPreconditionStatus: 400 | 412;
  /** Called once when the stream ends, with the gRPC code it ended with (metrics). */
  onEnd: (code: number) => void;
}

/** Resolves when the socket takes writes again or the response is gone; leaves no listener behind. */
async function drainedOrClosed(response: ServerResponse): Promise<void> {
  const abort = new AbortController();
  try {
    await Promise.race([once(response, 'drain', { signal: abort.signal }), once(response, 'close', { signal: abort.signal })]);
  } finally {
    abort.abort();
  }
}

/** Writes result lines and the final error, starting the response on the first write. */
class ResultWriter {
  private started = false;
  private ended = false;

  constructor(private readonly context: StreamContext) {}

  get closed(): boolean {
    return this.ended || this.context.response.destroyed;
  }

  private start(status: number): void {
    if (this.started) return;
    this.started = true;
    this.context.response.writeHead(status, { ...this.context.headers, 'Content-Type': 'application/json' });
  }

  /** Returns false when the socket buffer is full: wait for 'drain' before writing more. */
  writeResult(wire: Record<string, unknown>): boolean {
    if (this.closed) return false;
    this.start(200);
    const line = JSON.stringify({ result: messageToJson(this.context.responseType, wire) });
    return this.context.response.write(`${line}\n`);
  }

  fail(status: GatewayStatus): void {
    if (this.closed) return;
    this.start(httpStatusFromGrpcCode(status.code, this.context.failedPreconditionStatus));
    this.ended = true;
    this.context.response.end(JSON.stringify(streamErrorChunk(status, this.context.failedPreconditionStatus)));
    this.context.onEnd(status.code);
  }

  end(): void {
    if (this.closed) return;
    this.ended = true;
    this.start(200);
    this.context.response.end();
    this.context.onEnd(0);
  }
}

export function serveWatch(context: StreamContext): void {
  const writer = new ResultWriter(context);
  const { server, response } = context;
  let stream: WatchStream | undefined;
  const close = (): void => {
    stream?.close();
    stream = undefined;
  };
  response.on('close', () => {
    if (stream) context.onEnd(1);
    close();
  });
  response.on('drain', () => stream?.resume());
  try {
    stream = server.openWatchStream(
      (watchResponse) => writer.writeResult(watchResponseToWire(watchResponse, server.responseHeader(watchResponse.revision)) as unknown as Record<string, unknown>),
      context.requestContext,
    );
    const request = context.request;
    // A WatchRequest with no member set is no command: etcd's watch server ignores it and the
    // stream stays open with nothing to say.
    if (request.create_request == null && request.cancel_request == null && request.progress_request == null) return;
    const command = watchRequestFromWire(request);
    if ('create' in command) stream.create(command.create);
    else if ('cancel' in command) stream.cancel(command.cancel.watchId);
    else stream.progress();
  } catch (error) {
    close();
    writer.fail(toGatewayStatus(error, context.logger, 'Watch'));
  }
}

export async function serveLeaseKeepAlive(context: StreamContext): Promise<void> {
  const writer = new ResultWriter(context);
  try {
    const result = await context.server.leaseKeepAlive(leaseIdFromWire(context.request), context.requestContext);
    writer.writeResult(leaseKeepAliveResponseToWire(result) as unknown as Record<string, unknown>);
    writer.end();
  } catch (error) {
    writer.fail(toGatewayStatus(error, context.logger, 'LeaseKeepAlive'));
  }
}

export async function serveSnapshot(context: StreamContext): Promise<void> {
  const writer = new ResultWriter(context);
  const { response } = context;
  const chunks = context.server.snapshot(context.requestContext)[Symbol.asyncIterator]();
  let finished = false;
  try {
    while (!writer.closed) {
      const next = await chunks.next();
      if (next.done) { finished = true; break; }
      if (!writer.writeResult(snapshotChunkToWire(next.value) as unknown as Record<string, unknown>) && !writer.closed) {
        await drainedOrClosed(response);
      }
    }
    if (finished) writer.end();
    else context.onEnd(1);
  } catch (error) {
    finished = true;
    writer.fail(toGatewayStatus(error, context.logger, 'Snapshot'));
  } finally {
    // Lets the producer release its consistent view when the client went away early.
    if (!finished) await chunks.return?.();
  }
}

export async function serveElectionObserve(context: StreamContext): Promise<void> {
  const writer = new ResultWriter(context);
  const { response } = context;
  const abort = new AbortController();
  const onClose = (): void => abort.abort();
  response.once('close', onClose);
  try {
    const { name } = leaderRequestFromWire(context.request);
    for await (const observation of context.elections.observe(name, abort.signal, context.requestContext)) {
      if (!writer.writeResult(leaderResponseToWire(observation) as unknown as Record<string, unknown>) && !writer.closed) {
        await drainedOrClosed(response);
      }
      if (writer.closed) break;
    }
    if (abort.signal.aborted || writer.closed) context.onEnd(1);
    else writer.end();
  } catch (error) {
    // A client that went away has nobody left to tell.
    if (abort.signal.aborted) context.onEnd(1);
    else writer.fail(toGatewayStatus(concurrencyFailure(error), context.logger, 'Observe'));
  } finally {
    response.off('close', onClose);
  }
}
