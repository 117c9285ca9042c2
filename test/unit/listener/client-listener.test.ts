// ClientListeners in one process with a small grpc-js service: a client whose :authority is a URL
// fails against grpc-js's own bind and works through the listener; a valid one is served natively;
// message limits, server keep-alive pings (on both paths), protocol sniffing, the HTTP/1 seam and
// close() behave; a client whose ACK of our SETTINGS comes after the probe gave up still works; a
// claimed verified identity never reaches the gRPC context.
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { contextFromMetadata } from '../../../src/api/grpc/context.js';
import { ClientListeners, http1HandlerFor, type ClientListenerOptions } from '../../../src/api/listener/client-listener.js';
import type { ClientConnectionPath } from '../../../src/api/listener/first-request-probe.js';
import { verifiedCommonNameHeader, verifiedIdentityHeaderPrefix } from '../../../src/api/listener/verified-identity.js';
import { sniffProtocol, type ConnectionProtocol } from '../../../src/api/listener/protocol-sniffer.js';
import { cleanupsAfterEach, rawUnaryMethod } from './echo-service.js';

const logger = pino({ level: 'silent' });
const echoDefinition = {
  echoHost: rawUnaryMethod('/test.Echo/EchoHost'),
  whoAmI: rawUnaryMethod('/test.Echo/WhoAmI'),
} satisfies grpc.ServiceDefinition;
const EchoClient = grpc.makeGenericClientConstructor(echoDefinition, 'Echo');

const cleanups = cleanupsAfterEach();

function startGrpcServer(options: grpc.ServerOptions = {}): grpc.Server {
  const server = new grpc.Server(options);
  // Answers with the :authority the server saw, so the test can see the repair.
  server.addService(echoDefinition, {
    echoHost: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, Buffer.from(call.getHost())),
    whoAmI: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) =>
      callback(null, Buffer.from(contextFromMetadata(call.metadata).certCommonName ?? '<none>')),
  });
  cleanups.push(() => server.forceShutdown());
  return server;
}

async function listenThroughListener(
  server: grpc.Server, http1Handler?: (socket: net.Socket, firstBytes: Buffer) => void, options: Partial<ClientListenerOptions> = {},
): Promise<number> {
  const listeners = new ClientListeners({ grpcServer: server, logger, ...(http1Handler ? { http1Handler } : {}), ...options });
  cleanups.push(() => listeners.close());
  return (await listeners.listen('127.0.0.1', 0)).port;
}

/** A listener that records the path of every HTTP/2 connection it serves. */
async function listenRecordingPaths(server: grpc.Server, options: Partial<ClientListenerOptions> = {}): Promise<{ port: number; paths: ClientConnectionPath[] }> {
  const paths: ClientConnectionPath[] = [];
  const port = await listenThroughListener(server, undefined, { ...options, onConnectionServed: (path) => paths.push(path) });
  return { port, paths };
}

/** One unary EchoHost call on a raw node:http2 session, with the given :authority; resolves with the grpc-status. */
function echoOverSession(session: http2.ClientHttp2Session, authority: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ':method': 'POST', ':path': '/test.Echo/EchoHost', ':authority': authority, 'content-type': 'application/grpc', te: 'trailers',
    });
    stream.on('error', reject);
    stream.on('trailers', (trailers) => resolve(String(trailers['grpc-status'])));
    stream.on('data', () => {});
    stream.end(Buffer.alloc(5));
  });
}

function callEchoHost(port: number, authority: string, request = Buffer.alloc(0)): Promise<string> {
  const client = new EchoClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': authority });
  cleanups.push(() => client.close());
  return new Promise((resolve, reject) => {
    client.echoHost(request, { deadline: Date.now() + 5_000 }, (error: grpc.ServiceError | null, response?: Buffer) => {
      if (error) reject(error);
      else resolve(response!.toString());
    });
  });
}

describe('ClientListeners with grpc-js', () => {
  it('repairs a URL :authority that grpc-js alone refuses', async () => {
    const direct = startGrpcServer();
    const directPort = await new Promise<number>((resolve, reject) =>
      direct.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port))));
    await expect(callEchoHost(directPort, `http://127.0.0.1:${directPort}`)).rejects.toMatchObject({ code: grpc.status.INTERNAL });

    const port = await listenThroughListener(startGrpcServer());
    expect(await callEchoHost(port, `http://127.0.0.1:${port}`)).toBe(`127.0.0.1:${port}`);
    expect(await callEchoHost(port, `127.0.0.1:${port}`)).toBe(`127.0.0.1:${port}`);
  });

  it('keeps the server message size limit', async () => {
    const port = await listenThroughListener(startGrpcServer({ 'grpc.max_receive_message_length': 1024 }));
    expect(await callEchoHost(port, 'x', Buffer.alloc(1000))).toBe('x');
    await expect(callEchoHost(port, 'x', Buffer.alloc(2000))).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
  });

  it('serves a valid :authority natively and a URL one rewritten, and says which', async () => {
    const { port, paths } = await listenRecordingPaths(startGrpcServer());
    expect(await callEchoHost(port, `127.0.0.1:${port}`)).toBe(`127.0.0.1:${port}`);
    expect(paths).toEqual(['native']);
    expect(await callEchoHost(port, `http://127.0.0.1:${port}`)).toBe(`127.0.0.1:${port}`);
    expect(await callEchoHost(port, `client-abc/127.0.0.1:${port}`)).toBe('client-abc');
    expect(paths).toEqual(['native', 'rewritten', 'rewritten']);
  });

  it('keeps a connection alive through server keep-alive pings, on both paths', async () => {
    const { port, paths } = await listenRecordingPaths(startGrpcServer({ 'grpc.keepalive_time_ms': 50, 'grpc.keepalive_timeout_ms': 300 }));
    for (const authority of [`127.0.0.1:${port}`, `http://127.0.0.1:${port}`]) {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      cleanups.push(() => void session.destroy());
      let pingsReceived = 0;
      session.on('ping', () => pingsReceived++);
      session.on('error', () => {});
      // The first request chooses the path; grpc-js pings from then on.
      expect(await echoOverSession(session, authority)).toBe('0');
      // The server closes the session if an ack of its ping (client→server) does not arrive within 300 ms.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(pingsReceived, authority).toBeGreaterThanOrEqual(3);
      expect(session.closed || session.destroyed).toBe(false);
      expect(await echoOverSession(session, authority)).toBe('0');
    }
    expect(paths).toEqual(['native', 'rewritten']);
  });

  it('serves a client whose ACK of our SETTINGS arrives after the probe gave up (rewritten, the ACK dropped)', async () => {
    const { port, paths } = await listenRecordingPaths(startGrpcServer(), { firstRequestProbeTimeoutMs: 100 });
    // A proxy that holds everything the client sends after the listener's SETTINGS reach it, past the probe's timeout.
    const proxy = net.createServer((downstream) => {
      const upstream = net.connect(port, '127.0.0.1');
      let holding: Buffer[] | undefined;
      upstream.on('data', (chunk: Buffer) => {
        if (holding === undefined) {
          holding = [];
          setTimeout(() => {
            for (const held of holding!) upstream.write(held);
            holding = undefined;
          }, 400);
        }
        downstream.write(chunk);
      });
      downstream.on('data', (chunk: Buffer) => (holding === undefined ? upstream.write(chunk) : holding.push(chunk)));
      downstream.on('close', () => upstream.destroy());
      upstream.on('close', () => downstream.destroy());
      downstream.on('error', () => {});
      upstream.on('error', () => {});
    });
    cleanups.push(() => void proxy.close());
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const session = http2.connect(`http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`);
    cleanups.push(() => void session.destroy());
    const sessionErrors: unknown[] = [];
    session.on('error', (error) => sessionErrors.push(error));
    let goaway = false;
    session.on('goaway', () => { goaway = true; });
    expect(await echoOverSession(session, `127.0.0.1:${port}`)).toBe('0');
    // nghttp2's own SETTINGS are acknowledged by now; an ACK it never asked for would have ended the session.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await echoOverSession(session, `127.0.0.1:${port}`)).toBe('0');
    expect(paths).toEqual(['rewritten']);
    expect({ goaway, sessionErrors, closed: session.closed }).toEqual({ goaway: false, sessionErrors: [], closed: false });
  });

  it('never lets a claimed verified identity reach the gRPC context, on either path', async () => {
    const { port, paths } = await listenRecordingPaths(startGrpcServer());
    const whoAmI = (client: grpc.Client, metadata: grpc.Metadata) => new Promise<string>((resolve, reject) => {
      client.makeUnaryRequest(echoDefinition.whoAmI.path, (value: Buffer) => value, (value: Buffer) => value, Buffer.alloc(0), metadata, { deadline: Date.now() + 5_000 },
        (error: grpc.ServiceError | null, value?: Buffer) => (error ? reject(error) : resolve(value!.toString())));
    });
    const claims = new grpc.Metadata();
    claims.set(verifiedIdentityHeaderPrefix, 'root');
    claims.set(`${verifiedIdentityHeaderPrefix}-${'0'.repeat(32)}`, 'root');
    // A native connection: its first request is clean, the later ones claim (only a guess can: the name is secret).
    const native = new EchoClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    cleanups.push(() => native.close());
    expect(await whoAmI(native, new grpc.Metadata())).toBe('<none>');
    expect(await whoAmI(native, claims)).toBe('<none>');
    // A connection whose first request claims is rewritten, and the rewriter strips the claim, even under the secret name.
    // (its own subchannel pool: grpc-js would otherwise reuse the native connection above)
    const claiming = new EchoClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    cleanups.push(() => claiming.close());
    const withSecret = claims.clone();
    withSecret.set(verifiedCommonNameHeader, 'root');
    expect(await whoAmI(claiming, withSecret)).toBe('<none>');
    expect(paths).toEqual(['native', 'rewritten']);
  });

  it('hands non-HTTP/2 connections to the HTTP/1 handler with the bytes already read', async () => {
    let seen = '';
    const port = await listenThroughListener(startGrpcServer(), (socket, firstBytes) => {
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
    const port = await listenThroughListener(startGrpcServer(), http1HandlerFor(httpServer));
    for (const path of ['/version', '/health']) {
      const response = await fetch(`http://127.0.0.1:${port}${path}`);
      expect(await response.text()).toBe(`path ${path}`);
    }
    expect(await callEchoHost(port, `http://127.0.0.1:${port}`)).toBe(`127.0.0.1:${port}`);
  });

  it('close() stops accepting new connections without waiting for open ones', async () => {
    const listeners = new ClientListeners({ grpcServer: startGrpcServer(), logger });
    const { port } = await listeners.listen('127.0.0.1', 0);
    const session = http2.connect(`http://127.0.0.1:${port}`);
    cleanups.push(() => void session.destroy());
    session.on('error', () => {});
    await echoOverSession(session, `127.0.0.1:${port}`);
    await listeners.close();
    expect(session.closed).toBe(false);
    const refused = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('connect', () => { socket.destroy(); resolve(false); });
      socket.on('error', () => resolve(true));
    });
    expect(refused).toBe(true);
  });

  it('close() ends a connection still being probed with a GOAWAY that processed nothing', async () => {
    const listeners = new ClientListeners({ grpcServer: startGrpcServer(), logger });
    const { port } = await listeners.listen('127.0.0.1', 0);
    const session = http2.connect(`http://127.0.0.1:${port}`);
    cleanups.push(() => void session.destroy());
    session.on('error', () => {});
    const goaway = new Promise<[number, number]>((resolve) => session.once('goaway', (code, lastStreamId) => resolve([code, lastStreamId])));
    // Our SETTINGS arrive; no request is sent, so the connection is still in its probe.
    await new Promise((resolve) => session.once('remoteSettings', resolve));
    await listeners.close();
    expect(await goaway).toEqual([http2.constants.NGHTTP2_NO_ERROR, 0]);
    await new Promise((resolve) => session.once('close', resolve));
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
