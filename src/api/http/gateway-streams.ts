// The gateway's streaming paths, written as grpc-gateway v1 writes them: the request body is the
// one request message, each response is a line `{"result":{...}}`, and nothing (not even the
// status line) goes out before the first response. A failure after that ends the stream with an
// `{"error":{grpc_code,http_code,message,http_status}}` chunk.
// - /v3/watch stays open until the client goes away, as etcd keeps a watch whose sender half-closed.
// - /v3/lease/keepalive answers its one request and ends.
// - /v3/maintenance/snapshot pulls the next chunk only once the socket took the previous one.
// - /v3/election/observe writes each leader change until the client goes away, taking the next
//   change only once the socket took the previous one; its errors are UNKNOWN, as etcd's.
// The same functions serve a WebSocket (gateway-websocket.ts): the sink then sends each line as one
// text message, and `laterRequests` brings the client's further messages to the two bidi streams.
// Backpressure: a watch whose socket buffer is full is told so (send returns false) and resumed on
// 'drain'; nothing here queues responses of its own.
import type { ServerResponse } from 'node:http';
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

/** Where a stream's lines go: an HTTP response body, or a WebSocket's text messages. */
export interface StreamSink {
  /**
   * Called once before the first line: HTTP writes its status line and headers (with those already
   * set on the response: CORS, see app.ts).
   */
  start(status: number): void;
  /** Returns false when the transport buffer is full: wait for onDrain before writing more. */
  writeLine(line: string): boolean;
  /** Ends the stream, with a last chunk (the error) when given. */
  end(lastChunk?: string): void;
  /** True once the client went away or the stream was ended. */
  readonly gone: boolean;
  /** Registers a listener; returns its remover. */
  onClose(listener: () => void): () => void;
  onDrain(listener: () => void): () => void;
}

/** The sink of a plain HTTP response: newline-delimited lines in a chunked body. */
export function responseSink(response: ServerResponse): StreamSink {
  const subscribe = (event: 'close' | 'drain') => (listener: () => void): (() => void) => {
    response.on(event, listener);
    return () => response.off(event, listener);
  };
  return {
    start: (status) => response.writeHead(status, { 'Content-Type': 'application/json' }),
    writeLine: (line) => response.write(`${line}\n`),
    end: (lastChunk) => (lastChunk === undefined ? response.end() : response.end(lastChunk)),
    get gone() { return response.destroyed || response.writableEnded; },
    onClose: subscribe('close'),
    onDrain: subscribe('drain'),
  };
}

export interface StreamContext {
  server: EtcdServerApi;
  elections: ServerElections;
  logger: Logger;
  sink: StreamSink;
  /** The decoded request message (proto field names). */
  request: Record<string, unknown>;
  /**
   * Only over a WebSocket: hands each further request message of a bidi stream to `handle`, and
   * `handle(undefined)` once the client can send no more (a message that did not decode ends the
   * sending side, as grpc-gateway's CloseSend does).
   */
  laterRequests?: (handle: (request: Record<string, unknown> | undefined) => void) => void;
  requestContext: RequestContext;
  responseType: protobuf.Type;
  failedPreconditionStatus: 400 | 412;
  /** Called once when the stream ends, with the gRPC code it ended with (metrics). */
  onEnd: (code: number) => void;
}

/** Resolves when the transport takes writes again or the client is gone; leaves no listener behind. */
async function drainedOrClosed(sink: StreamSink): Promise<void> {
  if (sink.gone) return;
  const removers: Array<() => void> = [];
  try {
    await new Promise<void>((resolve) => {
      removers.push(sink.onDrain(resolve), sink.onClose(resolve));
    });
  } finally {
    for (const remove of removers) remove();
  }
}

/** Writes result lines and the final error, starting the response on the first write. */
class ResultWriter {
  private started = false;
  /** True once end() or fail() ran: the stream's end was counted already. */
  ended = false;

  constructor(private readonly context: StreamContext) {}

  get closed(): boolean {
    return this.ended || this.context.sink.gone;
  }

  private start(status: number): void {
    if (this.started) return;
    this.started = true;
    this.context.sink.start(status);
  }

  /** Returns false when the socket buffer is full: wait for 'drain' before writing more. */
  writeResult(wire: Record<string, unknown>): boolean {
    if (this.closed) return false;
    this.start(200);
    const line = JSON.stringify({ result: messageToJson(this.context.responseType, wire) });
    return this.context.sink.writeLine(line);
  }

  fail(status: GatewayStatus): void {
    if (this.closed) return;
    this.start(httpStatusFromGrpcCode(status.code, this.context.failedPreconditionStatus));
    this.ended = true;
    this.context.sink.end(JSON.stringify(streamErrorChunk(status, this.context.failedPreconditionStatus)));
    this.context.onEnd(status.code);
  }

  end(): void {
    if (this.closed) return;
    this.ended = true;
    this.start(200);
    this.context.sink.end();
    this.context.onEnd(0);
  }
}

export function serveWatch(context: StreamContext): void {
  const writer = new ResultWriter(context);
  const { server, sink } = context;
  let stream: WatchStream | undefined;
  const close = (): void => {
    stream?.close();
    stream = undefined;
  };
  sink.onClose(() => {
    if (stream) context.onEnd(1);
    close();
  });
  sink.onDrain(() => stream?.resume());
  // A WatchRequest with no member set is no command: etcd's watch server ignores it and the
  // stream stays open with nothing to say.
  const apply = (request: Record<string, unknown>): void => {
    if (!stream) return;
    if (request.create_request == null && request.cancel_request == null && request.progress_request == null) return;
    const command = watchRequestFromWire(request);
    if ('create' in command) stream.create(command.create);
    else if ('cancel' in command) stream.cancel(command.cancel.watchId);
    else stream.progress();
  };
  try {
    stream = server.openWatchStream(
      (watchResponse) => writer.writeResult(watchResponseToWire(watchResponse, server.responseHeader(watchResponse.revision)) as unknown as Record<string, unknown>),
      context.requestContext,
    );
    apply(context.request);
  } catch (error) {
    close();
    writer.fail(toGatewayStatus(error, context.logger, 'Watch'));
    return;
  }
  // The client's half-close leaves the watch open (as etcd's does): only the socket closing ends it.
  context.laterRequests?.((request) => {
    if (request === undefined) return;
    try {
      apply(request);
    } catch (error) {
      close();
      writer.fail(toGatewayStatus(error, context.logger, 'Watch'));
    }
  });
}

/**
 * Over HTTP the body holds one request: one answer, then the end. Over a WebSocket every further
 * message is answered in order until the client stops sending (closes, or sends what does not
 * decode), which ends the stream as etcd's server ends it at the client's half-close.
 */
export async function serveLeaseKeepAlive(context: StreamContext): Promise<void> {
  const writer = new ResultWriter(context);
  const pending: Array<Record<string, unknown> | undefined> = [context.request];
  let wake: (() => void) | undefined;
  if (context.laterRequests) {
    context.laterRequests((request) => {
      // Bounded by the WebSocket's own limits: a client flooding faster than renewals complete is
      // cut off rather than queued without end.
      if (pending.length >= keepAliveRequestsQueuedMax) {
        writer.fail({ code: 8, message: 'etcdserver: too many requests' });
        return;
      }
      pending.push(request);
      wake?.();
    });
  } else {
    pending.push(undefined);
  }
  const closeListener = context.sink.onClose(() => wake?.());
  try {
    while (!writer.closed) {
      if (pending.length === 0) {
        await new Promise<void>((resolve) => { wake = resolve; });
        wake = undefined;
        continue;
      }
      const request = pending.shift();
      if (request === undefined) {
        writer.end();
        return;
      }
      const result = await context.server.leaseKeepAlive(leaseIdFromWire(request), context.requestContext);
      writer.writeResult(leaseKeepAliveResponseToWire(result) as unknown as Record<string, unknown>);
    }
    if (!writer.ended) context.onEnd(1);
  } catch (error) {
    writer.fail(toGatewayStatus(error, context.logger, 'LeaseKeepAlive'));
  } finally {
    closeListener();
  }
}

/** Keep-alive requests read from a WebSocket and not yet answered, per stream. */
export const keepAliveRequestsQueuedMax = 1024;

export async function serveSnapshot(context: StreamContext): Promise<void> {
  const writer = new ResultWriter(context);
  const { sink } = context;
  const chunks = context.server.snapshot(context.requestContext)[Symbol.asyncIterator]();
  let finished = false;
  try {
    while (!writer.closed) {
      const next = await chunks.next();
      if (next.done) { finished = true; break; }
      if (!writer.writeResult(snapshotChunkToWire(next.value) as unknown as Record<string, unknown>) && !writer.closed) {
        await drainedOrClosed(sink);
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
  const { sink } = context;
  const abort = new AbortController();
  const removeClose = sink.onClose(() => abort.abort());
  try {
    const { name } = leaderRequestFromWire(context.request);
    for await (const observation of context.elections.observe(name, abort.signal, context.requestContext)) {
      if (!writer.writeResult(leaderResponseToWire(observation) as unknown as Record<string, unknown>) && !writer.closed) {
        await drainedOrClosed(sink);
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
    removeClose();
  }
}
