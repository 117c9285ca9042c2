// grpc-js call plumbing shared by the service files: the unary wrapper (decode check, context,
// error mapping) and the wait for a stream's buffer to drain.
import { once } from 'node:events';
import { status, type handleUnaryCall, type ServerWritableStream, type ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Completion, RequestContext } from '../../server/server-api.js';
import { contextFromMetadata } from './context.js';
import { MalformedRequest } from './definitions.js';
import { toGrpcError, type GrpcError } from './errors.js';

/** As etcd's Go gRPC server answers a request it cannot unmarshal: INTERNAL, same message prefix. */
export function malformedError(request: MalformedRequest): GrpcError {
  return { code: status.INTERNAL, details: `grpc: error unmarshalling request: ${request.reason}` };
}

/**
 * What a unary method does, apart from the transport: the lean path (lean-path.ts) calls it too.
 * `handle` answers through `done`, called once; it never throws.
 */
export interface UnaryHandler<Response> {
  logger: Logger;
  method: string;
  handle: (request: unknown, context: RequestContext, done: Completion<Response>) => void;
}

const unaryHandlerKey = Symbol('etcd-ts unary handler');

/** The handler behind a grpc-js implementation built by `unary` or `unaryWith`, if it is one. */
export function unaryHandlerOf(implementation: unknown): UnaryHandler<unknown> | undefined {
  if (typeof implementation !== 'function') return undefined;
  return (implementation as { [unaryHandlerKey]?: UnaryHandler<unknown> })[unaryHandlerKey];
}

/**
 * A unary handler: `handle` translates the wire request, calls the server and translates back;
 * whatever it throws (synchronously or not) is mapped once, where the call is answered.
 */
export function unary<Response>(
  logger: Logger,
  method: string,
  handle: (request: unknown, context: RequestContext) => Promise<Response>,
): handleUnaryCall<unknown, Response> {
  return unaryWith<Response>(logger, method, (request, context, done) => {
    let pending: Promise<Response>;
    try {
      pending = handle(request, context);
    } catch (error) {
      done(error);
      return;
    }
    // A rejection always reaches `done` as an error, even one without a reason.
    pending.then((response) => done(undefined, response), (error: unknown) => done(error ?? new Error('handler rejected without a reason')));
  });
}

/**
 * A unary handler that answers through a callback: for the hot write path, where a promise and an
 * async frame per layer were most of the garbage a put left behind (see RequestWaits).
 * `handle` must call `done` exactly once and must not throw.
 */
export function unaryWith<Response>(
  logger: Logger,
  method: string,
  handle: (request: unknown, context: RequestContext, done: Completion<Response>) => void,
): handleUnaryCall<unknown, Response> {
  const grpcHandler: handleUnaryCall<unknown, Response> = (call, callback) => {
    const request = call.request;
    if (request instanceof MalformedRequest) {
      callback(malformedError(request));
      return;
    }
    handle(request, contextFromMetadata(call.metadata), (error, response) => {
      if (error === undefined) callback(null, response);
      else callback(toGrpcError(error, logger, method));
    });
  };
  const handler: UnaryHandler<Response> = { logger, method, handle };
  return Object.assign(grpcHandler, { [unaryHandlerKey]: handler });
}

type AnyServerStream = ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>;

/** Resolves when the stream can take more writes, or when the call is over (cancelled or closed). */
export async function drainedOrClosed(call: AnyServerStream): Promise<void> {
  const abort = new AbortController();
  try {
    await Promise.race([
      once(call, 'drain', { signal: abort.signal }),
      once(call, 'cancelled', { signal: abort.signal }),
      once(call, 'close', { signal: abort.signal }),
    ]);
  } finally {
    abort.abort();
  }
}

/** Ends a streaming call with an error status (grpc-js turns an 'error' event into the trailers). */
export function failStream(call: AnyServerStream, error: GrpcError): void {
  call.emit('error', error);
}
