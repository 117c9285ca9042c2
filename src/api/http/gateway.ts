// The v3 JSON gateway as a fastify plugin: POST /v3/<path> (and the /v3beta/ alias) decodes the
// body by the method's request type, calls the route's handler or stream, and writes the answer
// by grpc-gateway v1's rules. Unknown paths and other methods get the Go mux's plain-text answers.
// Each request gets an abort signal that fires when its client goes away unanswered, so a Lock or
// Campaign waiting for its turn leaves the queue.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type protobuf from 'protobufjs';
import { GrpcCode } from '../../errors.js';
import { ConcurrencyError, ServerElections, ServerLocks } from '../../concurrency/index.js';
import type { AuthServerApi, EtcdServerApi, RequestContext } from '../../server/server-api.js';
import { protobufRoot } from '../grpc/definitions.js';
import { GrpcStatusError } from '../grpc/errors.js';
import {
  countHandled, countReceived, countSent, countStarted, type GrpcHandledCounts, type GrpcMethodType, type MethodHandledCounts,
} from '../grpc/handled-counts.js';
import { httpStatusFromGrpcCode, toGatewayStatus, unaryErrorBody } from './gateway-errors.js';
import { unaryRoutes, type UnaryRoute } from './gateway-routes.js';
import { responseSink, serveElectionObserve, serveLeaseKeepAlive, serveSnapshot, serveWatch, type StreamContext, type StreamSink } from './gateway-streams.js';
import { parseJsonText } from './json-text.js';
import { messageFromJson, messageToJson } from './proto-json.js';

export interface GatewayOptions {
  server: EtcdServerApi;
  /** EtcdServer.auth; without it the /v3/auth/* paths answer "unknown service etcdserverpb.Auth". */
  auth?: AuthServerApi;
  logger: Logger;
  failedPreconditionStatus: 400 | 412;
  /**
   * Where gateway calls are counted for /metrics' grpc_server_* series: etcd's gateway makes each
   * one a gRPC call of its own server, and grpc-prometheus counts it there.
   */
  calls?: GrpcHandledCounts;
}

export interface StreamRoute {
  service: string;
  method: string;
  type: GrpcMethodType;
  serve?: (context: StreamContext) => void | Promise<void>;
}

const streamRoutes: ReadonlyMap<string, StreamRoute> = new Map<string, StreamRoute>([
  ['/watch', { service: 'etcdserverpb.Watch', method: 'Watch', type: 'bidi_stream', serve: serveWatch }],
  ['/lease/keepalive', { service: 'etcdserverpb.Lease', method: 'LeaseKeepAlive', type: 'bidi_stream', serve: serveLeaseKeepAlive }],
  ['/maintenance/snapshot', { service: 'etcdserverpb.Maintenance', method: 'Snapshot', type: 'server_stream', serve: serveSnapshot }],
  ['/election/observe', { service: 'v3electionpb.Election', method: 'Observe', type: 'server_stream', serve: serveElectionObserve }],
]);

const gatewayPrefixes = ['/v3', '/v3beta'];

function methodTypes(service: string, method: string): { requestType: protobuf.Type; responseType: protobuf.Type } {
  const resolved = protobufRoot().lookupService(service).methods[method];
  if (!resolved?.resolvedRequestType || !resolved.resolvedResponseType) throw new Error(`proto method ${service}/${method} not found`);
  return { requestType: resolved.resolvedRequestType, responseType: resolved.resolvedResponseType };
}

const implementedServices = new Set([
  ...[...unaryRoutes.values()].filter((route) => route.handle).map((route) => route.service),
  ...[...streamRoutes.values()].filter((route) => route.serve).map((route) => route.service),
]);

/** What etcd's Go gRPC server answers for a service (or a method of a service) it does not register. */
function unimplemented(route: { service: string; method: string }): GrpcStatusError {
  return new GrpcStatusError(
    GrpcCode.UNIMPLEMENTED,
    implementedServices.has(route.service) ? `unknown method ${route.method} for service ${route.service}` : `unknown service ${route.service}`,
  );
}

/**
 * The gateway's calls without their HTTP framing, for the WebSocket side (gateway-websocket.ts):
 * a route by path (after /v3 or /v3beta), one unary call answering its JSON text, one stream.
 */
export interface GatewayCalls {
  routeFor(path: string): { unary: UnaryRoute } | { stream: StreamRoute } | undefined;
  /** Answers the JSON text to send, whether the call succeeded or failed. */
  callUnary(route: UnaryRoute, body: string, requestContext: RequestContext, signal: AbortSignal): Promise<string>;
  /**
   * Runs a stream into `sink`. The first message is `body`; a body that does not decode is
   * answered with one error text (returned, nothing written to the sink).
   */
  serveStream(route: StreamRoute, body: string, requestContext: RequestContext, sink: StreamSink,
    laterRequests: StreamContext['laterRequests']): Promise<string | undefined>;
  /** Decodes a further request message of the route's stream; throws when it does not decode. */
  decodeStreamRequest(route: StreamRoute, body: string): Record<string, unknown>;
}

/** Strips /v3 or /v3beta; undefined for paths the gateway does not own. */
export function gatewayPathOf(urlPath: string): string | undefined {
  const path = urlPath.replace(/\/{2,}/g, '/');
  for (const prefix of gatewayPrefixes) {
    if (path.startsWith(`${prefix}/`)) return path.slice(prefix.length);
  }
  return undefined;
}

function requestContextFrom(request: FastifyRequest): RequestContext {
  const context: RequestContext = {};
  // grpc-gateway forwards Authorization and Grpc-Metadata-* headers as gRPC metadata.
  const header = (name: string): string | undefined => {
    const value = request.headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const token = header('authorization') ?? header('grpc-metadata-token') ?? header('grpc-metadata-authorization');
  if (token !== undefined && token !== '') context.token = token;
  if (header('grpc-metadata-hasleader') === 'true') context.requireLeader = true;
  return context;
}

function bodyText(request: FastifyRequest): string {
  const body = request.body;
  if (body === undefined || body === null) return '';
  return typeof body === 'string' ? body : Buffer.isBuffer(body) ? body.toString('utf8') : '';
}

/** An empty body is an empty message, as Go's decoder meets io.EOF and grpc-gateway lets it pass. */
function decodeRequest(requestType: protobuf.Type, text: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  return messageFromJson(requestType, parseJsonText(text));
}

/** An abort signal that fires when the client hangs up before the answer was written. */
function clientGoneSignal(reply: FastifyReply): { signal: AbortSignal; release: () => void } {
  const abort = new AbortController();
  const onClose = (): void => {
    if (!reply.raw.writableFinished) abort.abort(new ConcurrencyError('Canceled'));
  };
  reply.raw.once('close', onClose);
  return { signal: abort.signal, release: () => reply.raw.off('close', onClose) };
}

export function registerGateway(app: FastifyInstance, options: GatewayOptions): GatewayCalls {
  const { server, auth, logger, calls } = options;
  const countsOf = (route: { service: string; method: string }, type: GrpcMethodType) => calls?.method(`/${route.service}/${route.method}`, type);
  // Stateless over the server API: one of each serves every request.
  const locks = new ServerLocks(server);
  const elections = new ServerElections(server);

  const callUnary = async (route: UnaryRoute, body: string, requestContext: RequestContext, signal: AbortSignal): Promise<{ status: number; text: string }> => {
    const { requestType, responseType } = methodTypes(route.service, route.method);
    const counts = countsOf(route, 'unary');
    countStarted(counts);
    countReceived(counts);
    try {
      const wire = decodeRequest(requestType, body);
      if (!route.handle) throw unimplemented(route);
      const response = await route.handle(server, wire, requestContext, { auth, locks, elections, signal });
      countSent(counts);
      countHandled(counts, GrpcCode.OK);
      return { status: 200, text: JSON.stringify(messageToJson(responseType, response as Record<string, unknown>)) };
    } catch (error) {
      const status = toGatewayStatus(error, logger, route.method);
      // Counted as gRPC counts a call its client cancelled; the answer goes nowhere.
      countHandled(counts, signal.aborted ? GrpcCode.CANCELLED : status.code);
      return { status: httpStatusFromGrpcCode(status.code, options.failedPreconditionStatus), text: JSON.stringify(unaryErrorBody(status)) };
    }
  };

  const serveUnary = async (route: UnaryRoute, request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const clientGone = clientGoneSignal(reply);
    try {
      const answer = await callUnary(route, bodyText(request), requestContextFrom(request), clientGone.signal);
      await reply.code(answer.status).header('Content-Type', 'application/json').send(answer.text);
    } finally {
      clientGone.release();
    }
  };

  const decodeStreamRequest = (route: StreamRoute, body: string): Record<string, unknown> => {
    const { requestType } = methodTypes(route.service, route.method);
    return decodeRequest(requestType, body);
  };

  /** Starts the stream, or answers the status and error text of a request that never started one. */
  const startStream = async (route: StreamRoute, body: string, requestContext: RequestContext, sink: StreamSink,
    laterRequests: StreamContext['laterRequests'], onStarting?: () => void): Promise<{ status: number; text: string } | undefined> => {
    const { responseType } = methodTypes(route.service, route.method);
    const counts = countsOf(route, route.type);
    countStarted(counts);
    let wire: Record<string, unknown>;
    try {
      wire = decodeStreamRequest(route, body);
      if (!route.serve) throw unimplemented(route);
    } catch (error) {
      let status = toGatewayStatus(error, logger, route.method);
      // A bidi stream's gateway decodes the body in its sending goroutine, whose error comes back
      // as UNKNOWN (500); a server stream decodes before the call (INVALID_ARGUMENT, 400).
      if (route.type === 'bidi_stream' && status.code === GrpcCode.INVALID_ARGUMENT) status = { ...status, code: GrpcCode.UNKNOWN };
      countHandled(counts, status.code);
      return { status: httpStatusFromGrpcCode(status.code, options.failedPreconditionStatus), text: JSON.stringify(unaryErrorBody(status)) };
    }
    onStarting?.();
    countReceived(counts);
    await route.serve({
      server, elections, logger, sink: countingSink(sink, counts), request: wire, requestContext, responseType,
      laterRequests: laterRequests && ((handle) => laterRequests((request) => {
        if (request !== undefined) countReceived(counts);
        handle(request);
      })),
      failedPreconditionStatus: options.failedPreconditionStatus,
      onEnd: (code) => countHandled(counts, code),
    });
    return undefined;
  };

  const serveStream = async (route: StreamRoute, request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    // A refusal stays an ordinary fastify reply; only a started stream takes the raw response.
    const refusal = await startStream(route, bodyText(request), requestContextFrom(request), responseSink(reply.raw), undefined, () => reply.hijack());
    if (refusal) await reply.code(refusal.status).header('Content-Type', 'application/json').send(refusal.text);
  };

  for (const prefix of gatewayPrefixes) {
    app.all(`${prefix}/*`, async (request, reply) => {
      const path = `/${(request.params as { '*': string })['*']}`;
      const unaryRoute = unaryRoutes.get(path);
      const streamRoute = unaryRoute ? undefined : streamRoutes.get(path);
      if (!unaryRoute && !streamRoute) {
        await reply.code(404).type('text/plain; charset=utf-8').header('X-Content-Type-Options', 'nosniff').send('Not Found\n');
        return;
      }
      if (request.method !== 'POST') {
        await reply.code(405).type('text/plain; charset=utf-8').header('X-Content-Type-Options', 'nosniff').send('Method Not Allowed\n');
        return;
      }
      if (unaryRoute) await serveUnary(unaryRoute, request, reply);
      else await serveStream(streamRoute!, request, reply);
    });
  }

  return {
    routeFor: (path) => {
      const unary = unaryRoutes.get(path);
      if (unary) return { unary };
      const stream = streamRoutes.get(path);
      return stream ? { stream } : undefined;
    },
    callUnary: async (route, body, requestContext, signal) => (await callUnary(route, body, requestContext, signal)).text,
    serveStream: async (route, body, requestContext, sink, laterRequests) =>
      (await startStream(route, body, requestContext, sink, laterRequests))?.text,
    decodeStreamRequest,
  };
}

/** Each line a stream writes is one response message of the gRPC call behind it. */
function countingSink(sink: StreamSink, counts: MethodHandledCounts | undefined): StreamSink {
  if (counts === undefined) return sink;
  return {
    start: (status) => sink.start(status),
    writeLine: (line) => {
      countSent(counts);
      return sink.writeLine(line);
    },
    end: (lastChunk) => sink.end(lastChunk),
    get gone() { return sink.gone; },
    onClose: (listener) => sink.onClose(listener),
    onDrain: (listener) => sink.onDrain(listener),
  };
}
