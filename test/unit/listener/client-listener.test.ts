// ClientListeners in one process with a small gRPC server that has both kinds of method: one
// service on the lean path (answered by our HTTP/2 connection itself) and one that only grpc-js
// serves (relayed to it in process). Through the listener: a client whose :authority is a URL (as
// etcdctl 3.4 sends on http:// endpoints, which grpc-js alone refuses) is served, recorded etcdctl
// bytes included; message limits hold on both paths; client keep-alive pings are answered and the
// connection stays; protocol sniffing and the HTTP/1 seam work; a claimed verified identity never
// reaches the gRPC context; close() sends GOAWAY and closes HTTP/2 connections within its grace.
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { unary } from '../../../src/api/grpc/calls.js';
import { contextFromMetadata } from '../../../src/api/grpc/context.js';
import {
  addServiceWithFastPath, createGrpcConnectionHandler, enableLeanPath, leanPathCallCount, type GrpcConnectionHandler,
} from '../../../src/api/grpc/lean-path.js';
import { clientPreface, flagAck, flagEndStream, framePing, frameData, frameHeaders } from '../../../src/api/h2/frame-types.js';
import { ClientListeners, http1HandlerFor, type ClientListenerOptions } from '../../../src/api/listener/client-listener.js';
import { verifiedCommonNameHeader, verifiedIdentityHeaderPrefix } from '../../../src/api/listener/verified-identity.js';
import { sniffProtocol, type ConnectionProtocol } from '../../../src/api/listener/protocol-sniffer.js';
import { decodeHeaderBlocks, grpcMessages, parseFrames, type ReceivedFrame } from '../h2/server-frames.js';
import { cleanupsAfterEach, rawUnaryMethod } from './echo-service.js';
import { statusConnection } from './http2-test-bytes.js';

const logger = pino({ level: 'silent' });
const maxReceiveMessageBytesDefault = 4 * 1024 * 1024;

/** The same three methods twice: as a service on the lean path, and as one only grpc-js serves. */
const serviceDefinition = (service: string) => ({
  echo: rawUnaryMethod(`/test.${service}/Echo`),
  whoAmI: rawUnaryMethod(`/test.${service}/WhoAmI`),
  /** Answers after the number of milliseconds in its request (a decimal string). */
  slow: rawUnaryMethod(`/test.${service}/Slow`),
}) satisfies grpc.ServiceDefinition;
const definitions = { lean: serviceDefinition('Lean'), relayed: serviceDefinition('Relayed') };
type ServicePath = keyof typeof definitions;
const servicePaths: ServicePath[] = ['lean', 'relayed'];
const clientConstructors = {
  lean: grpc.makeGenericClientConstructor(definitions.lean, 'Lean'),
  relayed: grpc.makeGenericClientConstructor(definitions.relayed, 'Relayed'),
};

const cleanups = cleanupsAfterEach();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `promise`, or a failure naming `what` if it has not settled within `ms`. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const whoAmIAnswer = (commonName: string | undefined) => Buffer.from(commonName ?? '<none>');

interface StartedServer {
  server: grpc.Server;
  /** Requests the Slow methods have received, on either path. */
  slowCalls: number;
}

/**
 * A grpc-js server with the lean path enabled: the 'lean' service is registered for it (its
 * handlers built by `unary`), the 'relayed' one only with grpc-js.
 */
function startGrpcServer(options: grpc.ServerOptions = {}, register?: (server: grpc.Server) => void): StartedServer {
  const server = new grpc.Server(options);
  const started: StartedServer = { server, slowCalls: 0 };
  const maxReceiveMessageBytes = (options['grpc.max_receive_message_length'] as number | undefined) ?? maxReceiveMessageBytesDefault;
  enableLeanPath(server, { maxReceiveMessageBytes, logger });
  const slowly = async (request: Buffer) => {
    started.slowCalls++;
    await sleep(Number(request.toString()));
    return Buffer.from('slept');
  };
  addServiceWithFastPath(server, definitions.lean, {
    echo: unary(logger, 'Echo', async (request) => request as Buffer),
    whoAmI: unary(logger, 'WhoAmI', async (_request, context) => whoAmIAnswer(context.certCommonName)),
    slow: unary(logger, 'Slow', async (request) => slowly(request as Buffer)),
  });
  server.addService(definitions.relayed, {
    echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, call.request),
    whoAmI: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) =>
      callback(null, whoAmIAnswer(contextFromMetadata(call.metadata).certCommonName)),
    slow: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      slowly(call.request).then((response) => callback(null, response), (error: Error) => callback(error));
    },
  });
  register?.(server);
  cleanups.push(() => server.forceShutdown());
  return started;
}

async function listenThroughListener(
  server: grpc.Server, http1Handler?: (socket: net.Socket, firstBytes: Buffer) => void, options: Partial<ClientListenerOptions> = {},
): Promise<number> {
  const listeners = new ClientListeners({ grpcServer: server, logger, ...(http1Handler ? { http1Handler } : {}), ...options });
  cleanups.push(() => listeners.close());
  return (await listeners.listen('127.0.0.1', 0)).port;
}

/** A grpc-js client of one service on its own connection (grpc-js would otherwise share one between clients). */
function newClient(path: ServicePath, port: number, options: grpc.ChannelOptions = {}): grpc.Client {
  const client = new clientConstructors[path](`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, ...options });
  cleanups.push(() => client.close());
  return client;
}

function callMethod(client: grpc.Client, path: string, request: Buffer, metadata = new grpc.Metadata()): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(path, (value: Buffer) => value, (value: Buffer) => value, request, metadata, { deadline: Date.now() + 5_000 },
      (error: grpc.ServiceError | null, value?: Buffer) => (error ? reject(error) : resolve(value!)));
  });
}

/** One Echo call on a new connection that sends `authority` as :authority; resolves with the answer. */
async function echo(path: ServicePath, port: number, authority: string, request: Buffer): Promise<Buffer> {
  return callMethod(newClient(path, port, { 'grpc.default_authority': authority }), definitions[path].echo.path, request);
}

/** Runs `work` and says how many calls the lean path took meanwhile. */
async function leanCallsDuring(work: () => Promise<void>): Promise<number> {
  const before = leanPathCallCount();
  await work();
  return leanPathCallCount() - before;
}

/** One unary Echo call on a raw node:http2 session; resolves with the grpc-status. */
function echoOverSession(session: http2.ClientHttp2Session, path: ServicePath): Promise<string> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': definitions[path].echo.path, 'content-type': 'application/grpc', te: 'trailers' });
    stream.on('error', reject);
    stream.on('trailers', (trailers) => resolve(String(trailers['grpc-status'])));
    stream.on('data', () => {});
    stream.end(Buffer.alloc(5));
  });
}

/** A connection handler that counts the HTTP/2 connections it serves and the client PINGs on them. */
function countingHandler(server: grpc.Server, verifiedCommonName?: string): GrpcConnectionHandler & { connections: number; pings: number } {
  const inner = createGrpcConnectionHandler(server, { logger });
  const handler = {
    connections: 0,
    pings: 0,
    serve(socket: net.Socket, firstBytes: Buffer) {
      handler.connections++;
      // The client's frames, read alongside the connection (which reads them itself).
      let input = firstBytes.subarray(clientPreface.length);
      const scan = () => {
        while (input.length >= 9 && input.length >= 9 + input.readUIntBE(0, 3)) {
          if (input[3] === framePing && !(input[4]! & flagAck)) handler.pings++;
          input = input.subarray(9 + input.readUIntBE(0, 3));
        }
      };
      scan();
      inner.serve(socket, firstBytes, { verifiedCommonName });
      socket.on('data', (chunk: Buffer) => {
        input = Buffer.concat([input, chunk]);
        scan();
      });
    },
    closeAll: (graceMs?: number) => inner.closeAll(graceMs),
  };
  return handler;
}

/** Writes `bytes` on a raw TCP connection and collects the server's frames until `done` says so. */
async function exchange(port: number, bytes: Buffer, done: (frames: ReceivedFrame[]) => boolean): Promise<ReceivedFrame[]> {
  const socket = net.connect(port, '127.0.0.1');
  cleanups.push(() => void socket.destroy());
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no complete answer within 5 s')), 5_000);
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      let frames: ReceivedFrame[];
      try {
        frames = parseFrames(Buffer.concat(chunks));
      } catch {
        return; // a frame still arriving
      }
      if (done(frames)) {
        clearTimeout(timer);
        resolve(frames);
      }
    });
    socket.write(bytes);
  });
}

describe('ClientListeners with grpc-js', () => {
  it('serves a client whose :authority is a URL, which grpc-js alone refuses, on both paths', async () => {
    const direct = startGrpcServer().server;
    const directPort = await new Promise<number>((resolve, reject) =>
      direct.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port))));
    await expect(echo('relayed', directPort, `http://127.0.0.1:${directPort}`, Buffer.from('x'))).rejects.toMatchObject({ code: grpc.status.INTERNAL });

    const port = await listenThroughListener(startGrpcServer().server);
    for (const authority of [`http://127.0.0.1:${port}`, `127.0.0.1:${port}`]) {
      expect(await leanCallsDuring(async () => {
        expect((await echo('lean', port, authority, Buffer.from(`lean ${authority}`))).toString()).toBe(`lean ${authority}`);
      }), authority).toBe(1);
      expect(await leanCallsDuring(async () => {
        expect((await echo('relayed', port, authority, Buffer.from(`relayed ${authority}`))).toString()).toBe(`relayed ${authority}`);
      }), authority).toBe(0);
    }
  });

  it.each(servicePaths)('answers the recorded bytes of etcdctl 3.4 endpoint status on an http:// endpoint (%s)', async (path) => {
    // The recording's one request: Maintenance/Status, :authority http://127.0.0.1:23893, an empty message.
    const status = rawUnaryMethod('/etcdserverpb.Maintenance/Status');
    const answer = Buffer.from(`status from ${path}`);
    const { server } = startGrpcServer({}, (grpcServer) => {
      if (path === 'lean') addServiceWithFastPath(grpcServer, { status }, { status: unary(logger, 'Status', async () => answer) });
      else grpcServer.addService({ status }, { status: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => callback(null, answer) });
    });
    const port = await listenThroughListener(server);
    const ended = (received: ReceivedFrame) => received.streamId === 1 && received.type === frameHeaders && (received.flags & flagEndStream) !== 0;
    const frames = await exchange(port, statusConnection, (received) => received.some(ended));
    const stream1 = frames.filter((received) => received.streamId === 1);
    expect(stream1.map((received) => received.type)).toEqual([frameHeaders, frameData, frameHeaders]);
    const [headers, trailers] = decodeHeaderBlocks(stream1);
    expect(headers).toMatchObject({ ':status': '200', 'content-type': 'application/grpc+proto' });
    expect(trailers).toMatchObject({ 'grpc-status': '0' });
    expect(stream1[1]!.payload).toEqual(grpcMessages(answer));
    // The recording's PING (etcdctl's keep-alive) is answered with its payload.
    const ping = parseFrames(statusConnection.subarray(clientPreface.length)).find((received) => received.type === framePing && !(received.flags & flagAck))!;
    expect(frames.filter((received) => received.type === framePing).map((received) => [received.flags, received.payload])).toEqual([[flagAck, ping.payload]]);
  });

  it.each(servicePaths)('keeps the server message size limit (%s)', async (path) => {
    const port = await listenThroughListener(startGrpcServer({ 'grpc.max_receive_message_length': 1024 }).server);
    expect(await echo(path, port, `127.0.0.1:${port}`, Buffer.alloc(1000, 7))).toEqual(Buffer.alloc(1000, 7));
    await expect(echo(path, port, `127.0.0.1:${port}`, Buffer.alloc(2000))).rejects.toMatchObject({
      code: grpc.status.RESOURCE_EXHAUSTED, details: expect.stringContaining('Received message larger than max (2000 vs 1024)'),
    });
  });

  it('answers client PINGs with their payload, and the connection stays usable', async () => {
    const port = await listenThroughListener(startGrpcServer().server);
    const session = http2.connect(`http://127.0.0.1:${port}`);
    cleanups.push(() => void session.destroy());
    session.on('error', () => {});
    for (const path of servicePaths) expect(await echoOverSession(session, path)).toBe('0');
    for (let round = 0; round < 3; round++) {
      const payload = Buffer.from(`ping-${round}!!`);
      const echoed = await new Promise<Buffer>((resolve, reject) => {
        session.ping(payload, (error, _duration, answer) => (error ? reject(error) : resolve(answer)));
      });
      expect(echoed).toEqual(payload);
    }
    for (const path of servicePaths) expect(await echoOverSession(session, path)).toBe('0');
  });

  it.each(servicePaths)('keeps a grpc-js client connection through its keep-alive pings (%s)', async (path) => {
    const { server } = startGrpcServer();
    const handler = countingHandler(server);
    const port = await listenThroughListener(server, undefined, { http2: handler });
    // grpc-js pings 50 ms after the last ack, and drops the connection if an ack does not come within 1 s.
    const client = newClient(path, port, { 'grpc.keepalive_time_ms': 50, 'grpc.keepalive_timeout_ms': 1_000, 'grpc.keepalive_permit_without_calls': 1 });
    expect((await callMethod(client, definitions[path].echo.path, Buffer.from('before'))).toString()).toBe('before');
    await sleep(1_000);
    expect(handler.pings).toBeGreaterThanOrEqual(3);
    expect((await callMethod(client, definitions[path].echo.path, Buffer.from('after'))).toString()).toBe('after');
    expect(handler.connections).toBe(1);
  });

  it('never lets a claimed verified identity reach the gRPC context, on either path', async () => {
    const port = await listenThroughListener(startGrpcServer().server);
    const claims = new grpc.Metadata();
    claims.set(verifiedIdentityHeaderPrefix, 'root');
    claims.set(`${verifiedIdentityHeaderPrefix}-${'0'.repeat(32)}`, 'root');
    const withSecret = claims.clone();
    // Only a guess can send it (the name is secret), but even the right name is dropped.
    withSecret.set(verifiedCommonNameHeader, 'root');
    for (const path of servicePaths) {
      const client = newClient(path, port);
      const whoAmI = (metadata: grpc.Metadata) => callMethod(client, definitions[path].whoAmI.path, Buffer.alloc(0), metadata).then(String);
      expect(await whoAmI(new grpc.Metadata()), path).toBe('<none>');
      expect(await whoAmI(claims), path).toBe('<none>');
      expect(await whoAmI(withSecret), path).toBe('<none>');
    }
  });

  it('a CN the listener verified reaches the gRPC context on both paths, over whatever the client claims', async () => {
    // What the TLS listener passes for a verified client certificate, given here without TLS.
    const { server } = startGrpcServer();
    const port = await listenThroughListener(server, undefined, { http2: countingHandler(server, 'alice') });
    const claims = new grpc.Metadata();
    claims.set(verifiedCommonNameHeader, 'root');
    for (const path of servicePaths) {
      const client = newClient(path, port);
      expect(String(await callMethod(client, definitions[path].whoAmI.path, Buffer.alloc(0))), path).toBe('alice');
      expect(String(await callMethod(client, definitions[path].whoAmI.path, Buffer.alloc(0), claims)), path).toBe('alice');
    }
  });

  it('hands non-HTTP/2 connections to the HTTP/1 handler with the bytes already read', async () => {
    let seen = '';
    const port = await listenThroughListener(startGrpcServer().server, (socket, firstBytes) => {
      seen = firstBytes.toString('latin1');
      socket.end('HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n');
    });
    const response = await fetch(`http://127.0.0.1:${port}/health`);
    expect(response.status).toBe(204);
    expect(seen.startsWith('GET /health HTTP/1.1')).toBe(true);
  });

  it('http1HandlerFor serves HTTP/1 with a node:http server next to gRPC on the same port', async () => {
    const httpServer = http.createServer((request, response) => response.end(`path ${request.url}`));
    cleanups.push(() => void httpServer.close());
    const port = await listenThroughListener(startGrpcServer().server, http1HandlerFor(httpServer));
    for (const path of ['/version', '/health']) {
      const response = await fetch(`http://127.0.0.1:${port}${path}`);
      expect(await response.text()).toBe(`path ${path}`);
    }
    for (const path of servicePaths) {
      expect(String(await echo(path, port, `http://127.0.0.1:${port}`, Buffer.from(path)))).toBe(path);
    }
  });
});

describe('ClientListeners.close', () => {
  async function listen(): Promise<{ listeners: ClientListeners; port: number; started: StartedServer }> {
    const started = startGrpcServer();
    const listeners = new ClientListeners({ grpcServer: started.server, logger });
    cleanups.push(() => listeners.close(0));
    const { port } = await listeners.listen('127.0.0.1', 0);
    return { listeners, port, started };
  }

  function connect(port: number): { session: http2.ClientHttp2Session; goaway: Promise<[number, number]>; closed: Promise<void> } {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    cleanups.push(() => void session.destroy());
    session.on('error', () => {});
    const goaway = within(3_000, 'GOAWAY', new Promise<[number, number]>((resolve) => session.once('goaway', (code, lastStreamId) => resolve([code, lastStreamId]))));
    const closed = within(3_000, 'the session closing', new Promise<void>((resolve) => session.once('close', () => resolve())));
    goaway.catch(() => {});
    closed.catch(() => {});
    return { session, goaway, closed };
  }

  function refusesConnections(port: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('connect', () => { socket.destroy(); resolve(false); });
      socket.on('error', () => resolve(true));
    });
  }

  /** A Slow call (answering after `ms`) on a raw session; resolves with its grpc-status, or the stream's error. */
  /** A listener with one connection whose call on `path` is running (it answers after `ms`). */
  async function slowCallUnderway(path: ServicePath, ms: number) {
    const { listeners, port, started } = await listen();
    const { session, goaway, closed } = connect(port);
    const answered = slowOverSession(session, path, ms);
    while (started.slowCalls === 0) await sleep(5);
    return { listeners, goaway, closed, answered };
  }

  function slowOverSession(session: http2.ClientHttp2Session, path: ServicePath, ms: number): Promise<string> {
    return new Promise((resolve) => {
      const stream = session.request({ ':method': 'POST', ':path': definitions[path].slow.path, 'content-type': 'application/grpc', te: 'trailers' });
      stream.on('error', (error: Error & { code?: string }) => resolve(`error ${error.code ?? error.message}`));
      stream.on('trailers', (trailers) => resolve(String(trailers['grpc-status'])));
      stream.on('close', () => resolve(`closed ${stream.rstCode}`));
      stream.on('data', () => {});
      stream.end(grpcMessages(Buffer.from(String(ms))));
    });
  }

  it('sends GOAWAY to an idle connection, closes it promptly and refuses new connections', async () => {
    const { listeners, port } = await listen();
    const { session, goaway, closed } = connect(port);
    expect(await echoOverSession(session, 'lean')).toBe('0');
    expect(await echoOverSession(session, 'relayed')).toBe('0');
    const started = Date.now();
    await listeners.close(10_000);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await goaway).toEqual([http2.constants.NGHTTP2_NO_ERROR, 3]);
    await closed;
    expect(await refusesConnections(port)).toBe(true);
  });

  it('ends a connection that sent no request with a GOAWAY that processed nothing', async () => {
    const { listeners, port } = await listen();
    const { session, goaway, closed } = connect(port);
    await new Promise((resolve) => session.once('remoteSettings', resolve));
    await listeners.close();
    expect(await goaway).toEqual([http2.constants.NGHTTP2_NO_ERROR, 0]);
    await closed;
  });

  it.each(servicePaths)('lets a call open at close() finish within the grace, then closes (%s)', async (path) => {
    const { listeners, goaway, closed, answered } = await slowCallUnderway(path, 300);
    const closeStarted = Date.now();
    const closing = listeners.close(10_000);
    expect(await goaway).toEqual([http2.constants.NGHTTP2_NO_ERROR, 1]);
    expect(await answered).toBe('0');
    await closing;
    expect(Date.now() - closeStarted).toBeLessThan(2_000);
    await closed;
  });

  it.each(servicePaths)('drops a call still open when the grace runs out (%s)', async (path) => {
    const { listeners, goaway, closed, answered } = await slowCallUnderway(path, 30_000);
    const closeStarted = Date.now();
    await listeners.close(200);
    const elapsed = Date.now() - closeStarted;
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(1_500);
    expect(await goaway).toEqual([http2.constants.NGHTTP2_NO_ERROR, 1]);
    // No status: the stream ended with the connection.
    expect(await answered).toMatch(/^(closed|error) /);
    await closed;
  });
});

describe('sniffProtocol', () => {
  async function sniff(parts: string[]): Promise<[ConnectionProtocol, string]> {
    const server = net.createServer();
    cleanups.push(() => void server.close());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const decided = new Promise<[ConnectionProtocol, string]>((resolve) => {
      server.once('connection', (socket) => {
        cleanups.push(() => void socket.destroy());
        sniffProtocol(socket, (protocol, firstBytes) => resolve([protocol, firstBytes.toString('latin1')]));
      });
    });
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    cleanups.push(() => void client.destroy());
    for (const part of parts) {
      client.write(part);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return decided;
  }

  it('waits for the whole preface across chunks, and decides on the first differing byte', async () => {
    expect(await sniff(['PRI * HT', 'TP/2.0\r\n\r\nSM\r\n\r\nextra'])).toEqual(['http2', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nextra']);
    expect(await sniff(['PR', 'X'])).toEqual(['other', 'PRX']);
    expect(await sniff(['GET / HTTP/1.1\r\n'])).toEqual(['other', 'GET / HTTP/1.1\r\n']);
  });
});
