// The lean path: unary calls and bidi streams answered straight from our HTTP/2 connection
// (api/h2), without grpc-js. grpc-js spends more per call than the work behind it (an interceptor
// chain, metadata objects, a message queue, three writes), and node:http2 under it more again: with
// etcd's benchmark tool at 100 connections/1000 clients on the 2-core bench machine, a Put answered
// from a constant cost 64 ms of CPU per 1000 calls on bare node:http2 and 13 ms on api/h2.
//
// Each connection's streams are split by :path: a unary method registered through
// addServiceWithFastPath is answered here, with the same handler function, codecs and errors as
// grpc-js would use, and so is a bidi stream (Watch, LeaseKeepAlive), its grpc-js handler running
// on a LeanDuplexCall (lean-duplex-call.ts). Every other stream (server streaming, unknown methods,
// compressed requests, odd content types) is relayed to grpc-js (api/h2/grpc-js-fallback.ts) and
// gets exactly its answer.
//
// The answers mirror grpc-js 1.14 byte for byte where a client can see them: response headers,
// trailers ('grpc-status', URI-encoded 'grpc-message'), trailers-only errors, its texts for a
// missing or second message, an oversized message and a bad or expired grpc-timeout.
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { ServerCredentials, status, type Server as GrpcServer, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { GrpcJsFallback, type ConnectionInjector } from '../h2/grpc-js-fallback.js';
import { H2Connection, type H2KeepaliveOptions } from '../h2/h2-connection.js';
import type { H2RequestHeaders, H2Stream, H2StreamReceiver } from '../h2/h2-stream.js';
import { verifiedCommonNameHeader } from '../listener/verified-identity.js';
import { contextOfHttp2Headers } from './context.js';
import { MalformedRequest } from './definitions.js';
import { malformedError, unaryHandlerOf, type UnaryHandler } from './calls.js';
import { toGrpcError, type GrpcError } from './errors.js';
import { remoteAddressText, type RequestStatsLog } from './request-stats.js';
import {
  countHandled, countReceived, countReceivedBytes, countSent, countSentBytes, countStarted, methodType, type GrpcHandledCounts, type MethodHandledCounts,
} from './handled-counts.js';
import {
  deadlineExceeded, grpcOkTrailerBlock, grpcResponseHeaderBlock, grpcTimeoutMs, LeanDuplexCall, messagePrefixBytes, respondTrailersOnly, type LeanStreamMethod,
} from './lean-duplex-call.js';

/** One unary method served on the lean path. */
interface FastUnaryMethod {
  path: string;
  deserialize(bytes: Buffer): unknown;
  serialize(value: unknown): Buffer;
  handler: UnaryHandler<unknown>;
  handled: MethodHandledCounts | undefined;
}

/** A bidi-streaming method served on the lean path, by its grpc-js handler on a LeanDuplexCall. */
interface FastStreamMethod extends LeanStreamMethod {
  handler: (call: LeanDuplexCall) => void;
}

interface FastPathTable {
  methods: Map<string, FastUnaryMethod>;
  streams: Map<string, FastStreamMethod>;
  maxReceiveMessageBytes: number;
  logger: Logger;
  handledCounts: GrpcHandledCounts | undefined;
  /** etcd's "request stats" lines for unary calls (debug level, or slower than the warning duration). */
  requestStats: RequestStatsLog | undefined;
}

const tables = new WeakMap<GrpcServer, FastPathTable>();

/** Calls (unary and streaming) taken by the lean path in this process, for tests that prove which path ran. */
let fastCallCount = 0;

export function leanPathCallCount(): number {
  return fastCallCount;
}

/**
 * Enables the lean path for a server: `maxReceiveMessageBytes` must be the server's
 * grpc.max_receive_message_length. Call before addServiceWithFastPath.
 */
export function enableLeanPath(
  grpcServer: GrpcServer,
  options: { maxReceiveMessageBytes: number; logger: Logger; handledCounts?: GrpcHandledCounts; requestStats?: RequestStatsLog },
): void {
  tables.set(grpcServer, {
    methods: new Map(), streams: new Map(), maxReceiveMessageBytes: options.maxReceiveMessageBytes, logger: options.logger,
    handledCounts: options.handledCounts, requestStats: options.requestStats,
  });
}

/**
 * grpcServer.addService, and the service's unary handlers (those built by `unary`) are also
 * registered for the lean path when the server has it enabled.
 */
export function addServiceWithFastPath(grpcServer: GrpcServer, definition: ServiceDefinition, implementation: UntypedServiceImplementation): void {
  grpcServer.addService(definition, implementation);
  const table = tables.get(grpcServer);
  if (table === undefined) return;
  for (const [name, method] of Object.entries(definition)) {
    // Every method is listed in the metrics; calls relayed to grpc-js are counted by its interceptor.
    const handled = table.handledCounts?.method(method.path, methodType(method.requestStream, method.responseStream));
    if (method.requestStream && method.responseStream) {
      // Our bidi handlers (Watch, LeaseKeepAlive) use only what LeanDuplexCall provides.
      const handler = implementation[name];
      if (typeof handler !== 'function') continue;
      table.streams.set(method.path, {
        path: method.path,
        deserialize: method.requestDeserialize,
        serialize: method.responseSerialize as (value: unknown) => Buffer,
        handler: handler as unknown as (call: LeanDuplexCall) => void,
        handled,
      });
      continue;
    }
    if (method.requestStream || method.responseStream) continue;
    const handler = unaryHandlerOf(implementation[name]);
    if (handler === undefined) continue;
    table.methods.set(method.path, {
      path: method.path,
      deserialize: method.requestDeserialize,
      serialize: method.responseSerialize as (value: unknown) => Buffer,
      handler,
      handled,
    });
  }
}

/** Serves client HTTP/2 connections: the lean path's methods here, every other stream by grpc-js. */
export interface GrpcConnectionHandler {
  /** Takes a connection whose first bytes (the client preface at least) were already read. */
  serve(socket: Duplex, firstBytes: Buffer, options?: { verifiedCommonName?: string }): void;
  /** Closes every connection gracefully (GOAWAY, then a short grace for open streams). */
  closeAll(graceMs?: number): Promise<void>;
}

export interface GrpcConnectionHandlerOptions {
  logger: Logger;
  /** etcd's --max-concurrent-streams; unset, the HTTP/2 maximum. */
  maxConcurrentStreams?: number;
  /** From etcd's --grpc-keepalive-* (grpcKeepaliveOptions); unset, no pings and no ping limit. */
  keepalive?: H2KeepaliveOptions;
}

/**
 * Connections served by our HTTP/2 connection (api/h2/h2-connection.ts). A stream for a method of
 * the lean path is answered here; any other goes to grpc-js over the connection's relay
 * (api/h2/grpc-js-fallback.ts), through a plain connection injector of the server.
 */
export function createGrpcConnectionHandler(grpcServer: GrpcServer, options: GrpcConnectionHandlerOptions): GrpcConnectionHandler {
  const table = tables.get(grpcServer);
  const logger = options.logger;
  let injector: ConnectionInjector | undefined;
  const connections = new Set<H2Connection>();
  return {
    serve(socket, firstBytes, serveOptions = {}) {
      injector ??= grpcServer.createConnectionInjector(ServerCredentials.createInsecure());
      const fallback = new GrpcJsFallback(injector, logger);
      const remote = remoteAddressText(socket as { remoteAddress?: string; remotePort?: number });
      // URI-encoded once: node:http2 (the relay to grpc-js) keeps one byte per character of a header.
      const commonName = serveOptions.verifiedCommonName === undefined ? undefined : encodeURIComponent(serveOptions.verifiedCommonName);
      const connection: H2Connection = new H2Connection(socket, {
        logger,
        maxConcurrentStreams: options.maxConcurrentStreams,
        keepalive: options.keepalive,
        decorateHeaders: (headers) => {
          // Only the listener names a verified identity (verified-identity.ts): the header's name is
          // secret, and whatever a client sent under it is replaced or dropped.
          if (commonName !== undefined) headers[verifiedCommonNameHeader] = commonName;
          else if (headers[verifiedCommonNameHeader] !== undefined) delete headers[verifiedCommonNameHeader];
        },
        onStream: (stream) => route(stream, table, fallback, remote),
        onClose: () => {
          connections.delete(connection);
          fallback.close();
        },
      });
      connections.add(connection);
      connection.start(firstBytes);
    },
    async closeAll(graceMs) {
      await Promise.all([...connections].map((connection) => connection.closeGracefully(graceMs)));
    },
  };
}

function route(stream: H2Stream, table: FastPathTable | undefined, fallback: GrpcJsFallback, remote: string): void {
  if (table !== undefined && servesOnFastPath(stream.headers)) {
    const path = stream.headers[':path'] ?? '';
    const method = table.methods.get(path);
    if (method !== undefined) {
      serveUnary(stream, method, table, remote);
      return;
    }
    const streamMethod = table.streams.get(path);
    if (streamMethod !== undefined) {
      serveStream(stream, streamMethod, table);
      return;
    }
  }
  fallback.forward(stream);
}

/** Anything grpc-js treats specially (not a gRPC POST, a non-gRPC content type, compression) goes to grpc-js. */
function servesOnFastPath(headers: H2RequestHeaders): boolean {
  if (headers[':method'] !== 'POST') return false;
  const contentType = headers['content-type'];
  if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) return false;
  const encoding = headers['grpc-encoding'];
  return encoding === undefined || encoding === 'identity';
}

function serveUnary(stream: H2Stream, method: FastUnaryMethod, table: FastPathTable, remote: string): void {
  fastCallCount++;
  countStarted(method.handled);
  countReceived(method.handled);
  const timeoutMs = grpcTimeoutMs(stream.headers);
  if (typeof timeoutMs === 'object') {
    countHandled(method.handled, timeoutMs.code);
    if (!stream.closed) respondTrailersOnly(stream, timeoutMs);
    return;
  }
  const call = new LeanUnaryCall(stream, method, table, remote);
  if (timeoutMs !== undefined) call.startDeadline(timeoutMs);
  stream.attachReceiver(call);
}

/**
 * One unary call on the lean path, from its request's bytes to its answer. A single object, the
 * stream's receiver, with one closure (the handler's completion): a put waits for its Raft cycle
 * with a thousand others at 100 conns/1000 clients, and what a waiting call holds is copied by
 * every young-generation collection of the wait (as seven closures and their context it was ~300
 * bytes a call).
 */
class LeanUnaryCall implements H2StreamReceiver {
  private finished = false;
  private deadlineTimer: NodeJS.Timeout | undefined = undefined;
  /** The request's bytes: the first chunk alone (the common case), or every chunk. */
  private firstChunk: Buffer | undefined = undefined;
  private moreChunks: Buffer[] | undefined = undefined;
  private receivedBytes = 0;
  private declaredBytes = -1;

  /** For the request stats line (request-stats.ts): when the request had arrived, and what of it is kept. */
  private startedMs = 0;
  private request: unknown = undefined;

  constructor(
    private readonly stream: H2Stream, private readonly method: FastUnaryMethod, private readonly table: FastPathTable, private readonly remote: string,
  ) {}

  startDeadline(timeoutMs: number): void {
    this.deadlineTimer = setTimeout(() => this.fail(deadlineExceeded), timeoutMs);
  }

  streamData(chunk: Buffer): void {
    if (this.finished) return;
    if (this.firstChunk === undefined) this.firstChunk = chunk;
    else (this.moreChunks ??= [this.firstChunk]).push(chunk);
    this.receivedBytes += chunk.length;
    if (this.declaredBytes < 0 && this.receivedBytes >= messagePrefixBytes) {
      this.declaredBytes = this.body().readUInt32BE(1);
      if (this.declaredBytes > this.table.maxReceiveMessageBytes) {
        this.fail({ code: status.RESOURCE_EXHAUSTED, details: `Received message larger than max (${this.declaredBytes} vs ${this.table.maxReceiveMessageBytes})` });
      }
    }
  }

  streamEnd(): void {
    if (this.finished) return;
    const { method, stream } = this;
    if (this.receivedBytes < messagePrefixBytes || this.receivedBytes < messagePrefixBytes + this.declaredBytes) {
      this.fail({ code: status.UNIMPLEMENTED, details: `Received no request message for server streaming method ${method.path}` });
      return;
    }
    if (this.receivedBytes > messagePrefixBytes + this.declaredBytes) {
      this.fail({ code: status.UNIMPLEMENTED, details: `Received a second request message for server streaming method ${method.path}` });
      return;
    }
    const body = this.body();
    // The call lives until it is answered: it must not keep the request's bytes, nor (below) its
    // headers, through the young-generation collections of that wait.
    this.firstChunk = undefined;
    this.moreChunks = undefined;
    countReceivedBytes(method.handled, this.declaredBytes);
    const request = method.deserialize(body.subarray(messagePrefixBytes));
    if (request instanceof MalformedRequest) {
      this.fail(malformedError(request));
      return;
    }
    const context = contextOfHttp2Headers(stream.headers);
    stream.releaseHeaders();
    const stats = this.table.requestStats;
    if (stats !== undefined) {
      this.startedMs = performance.now();
      this.request = stats.keptRequest(method.path, request);
    }
    method.handler.handle(request, context, (error, response) => {
      if (error === undefined) this.succeed(response);
      else {
        this.fail(toGrpcError(error, method.handler.logger, method.handler.method));
        this.reportStats(undefined, 0);
      }
    });
  }

  streamClosed(): void {
    // Closed before its answer: the client went away (grpc-go's server ends such a call Canceled).
    if (!this.finished) countHandled(this.method.handled, status.CANCELLED);
    this.finished = true;
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
  }

  private body(): Buffer {
    return this.moreChunks === undefined ? this.firstChunk! : Buffer.concat(this.moreChunks, this.receivedBytes);
  }

  /** Marks the call answered with `code`; false when it already was or its stream is gone. */
  private finish(code: number): boolean {
    if (this.finished) return false;
    this.finished = true;
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
    countHandled(this.method.handled, this.stream.closed ? status.CANCELLED : code);
    return !this.stream.closed;
  }

  private fail(error: GrpcError): void {
    if (this.finish(error.code)) respondTrailersOnly(this.stream, error);
  }

  private succeed(response: unknown): void {
    let message: Buffer;
    try {
      message = this.method.serialize(response);
    } catch (error) {
      this.table.logger.warn({ err: error, method: this.method.path }, 'response serialization failed');
      this.fail({ code: status.INTERNAL, details: 'Error serializing response' });
      return;
    }
    if (this.finish(status.OK)) {
      countSent(this.method.handled);
      countSentBytes(this.method.handled, message.length);
      this.stream.respondGrpcUnary(grpcResponseHeaderBlock, message, grpcOkTrailerBlock);
    }
    this.reportStats(response, message.length);
  }

  private reportStats(response: unknown, responseBytes: number): void {
    const stats = this.table.requestStats;
    if (stats === undefined) return;
    const tookMs = performance.now() - this.startedMs;
    if (!stats.logs(tookMs)) return;
    // The answer is already written; this runs inside the server's completion of the request, where
    // nothing a log line does may throw.
    try {
      stats.report({
        startedMs: this.startedMs, tookMs, path: this.method.path, remote: this.remote, request: this.request, requestBytes: this.declaredBytes, response, responseBytes,
      });
    } catch (error) {
      this.table.logger.debug({ err: error }, 'request stats not logged');
    }
  }
}

function serveStream(stream: H2Stream, method: FastStreamMethod, table: FastPathTable): void {
  fastCallCount++;
  countStarted(method.handled);
  const call = new LeanDuplexCall(stream, stream.headers, method, table.maxReceiveMessageBytes);
  try {
    method.handler(call);
  } catch (error) {
    // grpc-js answers a throwing handler with UNKNOWN "Unknown error" (without its debug env).
    table.logger.warn({ err: error, method: method.path }, 'stream handler threw');
    call.emit('error', { code: status.UNKNOWN, details: 'Unknown error' });
    return;
  }
  call.start();
}
