// Builds the fastify app for the HTTP side of the client port: the v3 JSON gateway (also over
// WebSocket upgrades on its paths), /dashboard, /version,
// /health, /livez, /readyz and /metrics. The app never listens: its node:http server receives
// connections from the client listener (http1HandlerFor(app.server)), or from app.inject() in tests.
// Answers carry etcd's CORS headers and Go's plain-text 404/405s, so curl sees what etcd answers;
// --host-whitelist and --cors apply as etcd applies them (access-control.ts).
import http from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { AuthServerApi, EtcdServerApi } from '../../server/server-api.js';
import { receiveMessageSlackBytes } from '../grpc/server.js';
import { AccessControl, dnsRebindingRefusal } from './access-control.js';
import { registerGateway } from './gateway.js';
import { attachGatewayWebSocket } from './gateway-websocket.js';
import { registerHealth } from './health.js';
import { EtcdMetrics } from './metrics.js';
import { registerV2Api } from './v2/index.js';
import { dashboardPage } from '../../dashboard/dashboard-page.js';

export interface HttpAppOptions {
  server: EtcdServerApi;
  /** EtcdServer.auth, for /v3/auth/*; without it those paths answer "unknown service etcdserverpb.Auth". */
  auth?: AuthServerApi;
  /** --max-request-bytes: bounds the JSON body as gRPC bounds the message. */
  maxRequestBytes: number;
  logger: Logger;
  /** The etcd API version we present (--etcd-version), e.g. 3.5.17. */
  etcdVersion: string;
  /** Shared with the server's hooks and the gRPC layer; one is made when absent. */
  metrics?: EtcdMetrics;
  /** Bound on the Range behind /health and the probes; etcd's request timeout by default. */
  healthCheckTimeoutMs?: number;
  /** --enable-v2: serve /v2/keys, /v2/members, /v2/stats, /v2/machines and the discovery /new. */
  enableV2?: boolean;
  /** --cors: origins answered with CORS headers (etcd's default ["*"]: every origin). */
  cors?: readonly string[];
  /** --host-whitelist: hosts a plain-HTTP request may name (etcd's default ["*"]: any). */
  hostWhitelist?: readonly string[];
}

/** etcd's request timeout with its default election timeout: 5 s + 2 × 1 s. */
export const healthCheckTimeoutMsDefault = 7_000;

/**
 * JSON carries bytes as base64 (4/3 of their size) plus field names and quoting; the body may be
 * that much larger than the gRPC limit (max-request-bytes + 512 KiB) it stands for.
 */
export function gatewayBodyLimitBytes(maxRequestBytes: number): number {
  return Math.ceil(((maxRequestBytes + receiveMessageSlackBytes) * 4) / 3) + 64 * 1024;
}

/** "3.5.17" ⇒ "3.5.0": the cluster version etcd reports is the major.minor all members run. */
function clusterVersionOf(etcdVersion: string): string {
  const [major = '3', minor = '5'] = etcdVersion.split('.');
  return `${major}.${minor}.0`;
}

const openSockets = new WeakMap<FastifyInstance, Set<Socket>>();

/** The fastify app both HTTP surfaces share: body parsing, CORS headers, Go's 404 and error answers, socket tracking. */
function createBaseApp(options: HttpAppOptions, logger: Logger): FastifyInstance {
  const app = Fastify({
    // Our own logger is used directly; fastify's per-request lines would flood etcd-style logs.
    logger: false,
    bodyLimit: gatewayBodyLimitBytes(options.maxRequestBytes),
    // Connections arrive from a client listener; this server never listens.
    serverFactory: (handler) => http.createServer(handler),
    // Go's mux treats //v3/kv/range and /v3/kv/range alike.
    routerOptions: { ignoreDuplicateSlashes: true },
  });

  // node:http tracks connections for closeAllConnections only once it listens, which this server
  // never does: keep our own set (bounded by the client listener's connection maximum).
  const sockets = new Set<Socket>();
  openSockets.set(app, sockets);
  app.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  // Every body is read as text: clients send JSON as application/json, text/plain, or curl's
  // form type; the gateway decodes it by the method's proto type, not by the header.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));

  app.setNotFoundHandler(async (_request, reply) => {
    await reply.code(404).type('text/plain; charset=utf-8').header('X-Content-Type-Options', 'nosniff').send('404 page not found\n');
  });

  app.setErrorHandler(async (error: Error & { statusCode?: number; code?: string }, _request, reply) => {
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      // What the gRPC hop behind etcd's gateway answers for a message over its receive limit.
      const message = `grpc: received message larger than max (limit ${gatewayBodyLimitBytes(options.maxRequestBytes)} bytes)`;
      await reply.code(429).header('Content-Type', 'application/json').send(JSON.stringify({ error: message, message, code: 8 }));
      return;
    }
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) logger.warn({ err: error }, 'http request failed');
    await reply.code(status).type('text/plain; charset=utf-8').send(`${error.message}\n`);
  });
  return app;
}

function checkOptions(options: HttpAppOptions): void {
  if (!Number.isSafeInteger(options.maxRequestBytes) || options.maxRequestBytes <= 0) {
    throw new Error(`maxRequestBytes must be a positive integer, got ${options.maxRequestBytes}`);
  }
}

/** /health, /livez, /readyz and /metrics: what the client port and a metrics listener both serve. */
function registerHealthAndMetrics(app: FastifyInstance, options: HttpAppOptions, metrics: EtcdMetrics, logger: Logger): void {
  registerHealth(app, {
    server: options.server,
    healthCheckTimeoutMs: options.healthCheckTimeoutMs ?? healthCheckTimeoutMsDefault,
    onHealthChecked: (healthy) => metrics.healthChecked(healthy),
  });
  app.get('/metrics', async (_request, reply) => {
    await metrics.refreshFrom(options.server, logger);
    await reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}

export function createHttpApp(options: HttpAppOptions): FastifyInstance {
  checkOptions(options);
  const logger = options.logger.child({ component: 'http' });
  const metrics = options.metrics ?? new EtcdMetrics({ etcdVersion: options.etcdVersion });
  const failedPreconditionStatus = options.etcdVersion.startsWith('3.4.') ? 412 : 400;
  const app = createBaseApp(options, logger);

  // Every answer of the client port, also a stream written by hand: CORS headers go on the raw
  // response, whose writeHead merges them with its own.
  const access = new AccessControl(options.cors, options.hostWhitelist);
  app.addHook('onRequest', async (request, reply) => {
    const refusedHost = access.refusedHost(request.raw);
    if (refusedHost !== undefined) {
      logger.warn({ host: refusedHost }, 'rejecting HTTP request to prevent DNS rebinding attacks');
      await reply.code(421).type('text/plain; charset=utf-8').header('X-Content-Type-Options', 'nosniff')
        .send(dnsRebindingRefusal(refusedHost));
      return reply;
    }
    const cors = access.corsHeaders(request.headers.origin);
    for (const name in cors) reply.raw.setHeader(name, cors[name]!);
    if (request.method === 'OPTIONS') {
      await reply.code(200).send();
      return reply;
    }
    return undefined;
  });

  const gatewayCalls = registerGateway(app, {
    server: options.server, auth: options.auth, logger, failedPreconditionStatus, calls: metrics.grpcHandledCounts,
  });
  attachGatewayWebSocket(app.server, {
    calls: gatewayCalls, logger, maxPayloadBytes: gatewayBodyLimitBytes(options.maxRequestBytes), access,
  });

  registerHealthAndMetrics(app, options, metrics, logger);

  if (options.enableV2) registerV2Api(app, { server: options.server, logger });

  // Ours, not etcd's: a page that shows the cluster through this gateway (src/dashboard).
  app.get('/dashboard', async (_request, reply) => {
    await reply.header('Content-Type', 'text/html; charset=utf-8').send(dashboardPage(options.etcdVersion));
  });

  app.get('/version', async (_request, reply) => {
    await reply.header('Content-Type', 'application/json').send(JSON.stringify({
      etcdserver: options.etcdVersion,
      etcdcluster: clusterVersionOf(options.etcdVersion),
    }));
  });

  return app;
}

/**
 * The app of a --listen-metrics-urls listener: /metrics, /health, /livez and /readyz only, as
 * etcd's metrics mux; everything else is Go's 404. etcd serves that mux as it is: no CORS headers,
 * no --host-whitelist.
 */
export function createMetricsHttpApp(options: HttpAppOptions): FastifyInstance {
  checkOptions(options);
  const logger = options.logger.child({ component: 'http-metrics' });
  const metrics = options.metrics ?? new EtcdMetrics({ etcdVersion: options.etcdVersion });
  const app = createBaseApp(options, logger);
  registerHealthAndMetrics(app, options, metrics, logger);
  return app;
}

/**
 * Ends the HTTP side at shutdown: open watch streams would otherwise keep their sockets (the app
 * does not listen, so closing it cannot wait for a listening socket either).
 */
export async function closeHttpApp(app: FastifyInstance): Promise<void> {
  for (const socket of openSockets.get(app) ?? []) socket.destroy();
  await app.close();
}
