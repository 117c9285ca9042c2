// A lean path for unary calls and bidi streams on the HTTP/2 sessions grpc-js owns. grpc-js spends more per call than
// the work behind it (an interceptor chain, metadata objects, a message queue, three writes): with
// etcd's benchmark tool at 100 connections/1000 clients, a grpc-js server answering Put from a
// constant reached 8,650 req/s on the 2-core bench machine, a bare node:http2 endpoint with the same
// protobuf codecs 17,480 req/s (1 conn/1 client range: 2,680 vs 3,570 req/s).
//
// So each connection's streams are split by :path: a unary method registered through
// addServiceWithFastPath is answered here, with the same handler function, codecs and errors as
// grpc-js would use, and so is a bidi stream (Watch, LeaseKeepAlive), its grpc-js handler running
// on a LeanDuplexCall (lean-duplex-call.ts). Every other stream (server streaming, unknown methods,
// compressed requests, odd content types) goes on to grpc-js's own stream handler unchanged.
// grpc-js still owns the sessions: settings, keep-alive pings, GOAWAY, drain and shutdown.
//
// The answers mirror grpc-js 1.14 byte for byte where a client can see them: response headers,
// trailers ('grpc-status', URI-encoded 'grpc-message'), trailers-only errors, its texts for a
// missing or second message, an oversized message and a bad or expired grpc-timeout.
import http2 from 'node:http2';
import { ServerCredentials, status, type Server as GrpcServer, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { ConnectionInjector } from '../listener/client-listener.js';
import { contextFromHttp2Headers } from './context.js';
import { MalformedRequest } from './definitions.js';
import { malformedError, unaryHandlerOf, type UnaryHandler } from './calls.js';
import { toGrpcError, type GrpcError } from './errors.js';
import {
  deadlineExceeded, grpcMessageFrame, messagePrefixBytes, grpcResponseHeaders, grpcResponseOptions, grpcTimeoutMs, LeanDuplexCall, respondTrailersOnly, type LeanStreamMethod,
} from './lean-duplex-call.js';

/** One unary method served on the lean path. */
interface FastUnaryMethod {
  path: string;
  deserialize(bytes: Buffer): unknown;
  serialize(value: unknown): Buffer;
  handler: UnaryHandler<unknown>;
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
}

const tables = new WeakMap<GrpcServer, FastPathTable>();

/** Calls (unary and streaming) taken by the lean path in this process, for tests that prove which path ran. */
let fastCallCount = 0;

export function leanPathCallCount(): number {
  return fastCallCount;
}

const okTrailers = { 'grpc-status': String(status.OK), 'grpc-message': 'OK' };

/**
 * Enables the lean path for a server: `maxReceiveMessageBytes` must be the server's
 * grpc.max_receive_message_length. Call before addServiceWithFastPath.
 */
export function enableLeanPath(grpcServer: GrpcServer, options: { maxReceiveMessageBytes: number; logger: Logger }): void {
  tables.set(grpcServer, { methods: new Map(), streams: new Map(), maxReceiveMessageBytes: options.maxReceiveMessageBytes, logger: options.logger });
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
    if (method.requestStream && method.responseStream) {
      // Our bidi handlers (Watch, LeaseKeepAlive) use only what LeanDuplexCall provides.
      const handler = implementation[name];
      if (typeof handler !== 'function') continue;
      table.streams.set(method.path, {
        path: method.path,
        deserialize: method.requestDeserialize,
        serialize: method.responseSerialize as (value: unknown) => Buffer,
        handler: handler as unknown as (call: LeanDuplexCall) => void,
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
    });
  }
}

/**
 * grpc-js's connection injector, with the lean path put in front of its stream handler when the
 * server has one. It reaches into grpc-js for the HTTP/2 server the injector made (the private
 * `http2Servers` map, stable since 1.10): if that is not there, start-up fails loudly rather than
 * silently losing the fast path; the tests cover it for the pinned version.
 */
export function createConnectionInjector(grpcServer: GrpcServer): ConnectionInjector {
  const internal = grpcServer as unknown as { http2Servers?: Map<http2.Http2Server, unknown> };
  const before = new Set(internal.http2Servers?.keys() ?? []);
  const injector = grpcServer.createConnectionInjector(ServerCredentials.createInsecure());
  const table = tables.get(grpcServer);
  if (table === undefined) return injector;
  const created = [...(internal.http2Servers?.keys() ?? [])].filter((server) => !before.has(server));
  if (created.length !== 1) throw new Error('grpc-js internals changed: cannot find the HTTP/2 server of the connection injector');
  installFastPath(created[0]!, table);
  return injector;
}

type StreamListener = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number) => void;

function installFastPath(http2Server: http2.Http2Server, table: FastPathTable): void {
  const grpcListeners = http2Server.listeners('stream') as StreamListener[];
  if (grpcListeners.length === 0) throw new Error('grpc-js internals changed: its HTTP/2 server has no stream handler');
  http2Server.removeAllListeners('stream');
  http2Server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number) => {
    const path = headers[':path'] ?? '';
    const method = table.methods.get(path);
    if (method !== undefined && servesOnFastPath(headers)) {
      serveUnary(stream, headers, method, table);
      return;
    }
    const streamMethod = table.streams.get(path);
    if (streamMethod !== undefined && servesOnFastPath(headers)) {
      serveStream(stream, headers, streamMethod, table);
      return;
    }
    for (const listener of grpcListeners) listener.call(http2Server, stream, headers, flags);
  });
}

/** Anything grpc-js treats specially (a non-gRPC content type, compression) stays with grpc-js. */
function servesOnFastPath(headers: http2.IncomingHttpHeaders): boolean {
  const contentType = headers['content-type'];
  if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) return false;
  const encoding = headers['grpc-encoding'];
  return encoding === undefined || encoding === 'identity';
}

function serveUnary(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, method: FastUnaryMethod, table: FastPathTable): void {
  fastCallCount++;
  let finished = false;
  let deadlineTimer: NodeJS.Timeout | undefined;

  const finish = (): boolean => {
    if (finished) return false;
    finished = true;
    if (deadlineTimer !== undefined) clearTimeout(deadlineTimer);
    return !(stream.destroyed || stream.closed);
  };
  const fail = (error: GrpcError): void => {
    if (finish()) respondTrailersOnly(stream, error);
  };
  const succeed = (response: unknown): void => {
    let message: Buffer;
    try {
      message = method.serialize(response);
    } catch (error) {
      table.logger.warn({ err: error, method: method.path }, 'response serialization failed');
      fail({ code: status.INTERNAL, details: 'Error serializing response' });
      return;
    }
    if (!finish()) return;
    const frame = grpcMessageFrame(message);
    try {
      stream.respond(grpcResponseHeaders, grpcResponseOptions);
      stream.once('wantTrailers', () => stream.sendTrailers(okTrailers));
      stream.end(frame);
    } catch {
      // Closed meanwhile (client cancelled): nothing to do.
    }
  };

  const timeoutMs = grpcTimeoutMs(headers);
  if (typeof timeoutMs === 'object') {
    fail(timeoutMs);
    stream.resume();
    return;
  }
  if (timeoutMs !== undefined) deadlineTimer = setTimeout(() => fail(deadlineExceeded), timeoutMs);
  stream.on('close', () => {
    finished = true;
    if (deadlineTimer !== undefined) clearTimeout(deadlineTimer);
  });
  stream.on('error', () => { /* a reset by the client; 'close' follows */ });

  // The request: one length-prefixed message. The compressed flag is ignored as grpc-js does when
  // no grpc-encoding was sent (compressed requests never reach this path).
  const chunks: Buffer[] = [];
  let receivedBytes = 0;
  let declaredBytes = -1;
  stream.on('data', (chunk: Buffer) => {
    if (finished) return;
    chunks.push(chunk);
    receivedBytes += chunk.length;
    if (declaredBytes < 0 && receivedBytes >= messagePrefixBytes) {
      const head = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      declaredBytes = head.readUInt32BE(1);
      if (declaredBytes > table.maxReceiveMessageBytes) {
        fail({ code: status.RESOURCE_EXHAUSTED, details: `Received message larger than max (${declaredBytes} vs ${table.maxReceiveMessageBytes})` });
      }
    }
  });
  stream.on('end', () => {
    if (finished) return;
    if (receivedBytes < messagePrefixBytes || receivedBytes < messagePrefixBytes + declaredBytes) {
      fail({ code: status.UNIMPLEMENTED, details: `Received no request message for server streaming method ${method.path}` });
      return;
    }
    if (receivedBytes > messagePrefixBytes + declaredBytes) {
      fail({ code: status.UNIMPLEMENTED, details: `Received a second request message for server streaming method ${method.path}` });
      return;
    }
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, receivedBytes);
    const request = method.deserialize(body.subarray(messagePrefixBytes));
    if (request instanceof MalformedRequest) {
      fail(malformedError(request));
      return;
    }
    let pending: Promise<unknown>;
    try {
      pending = method.handler.handle(request, contextFromHttp2Headers(headers));
    } catch (error) {
      fail(toGrpcError(error, method.handler.logger, method.handler.method));
      return;
    }
    pending.then(succeed, (error: unknown) => fail(toGrpcError(error, method.handler.logger, method.handler.method)));
  });
}

function serveStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, method: FastStreamMethod, table: FastPathTable): void {
  fastCallCount++;
  const call = new LeanDuplexCall(stream, headers, method, table.maxReceiveMessageBytes);
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
