// ClientListeners in one process with a small grpc-js service: a client whose :authority is a URL
// fails against grpc-js's own bind and works through the listener; message limits, server
// keep-alive pings, protocol sniffing, the HTTP/1 seam and close() behave.
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ClientListeners, http1HandlerFor } from '../../../src/api/listener/client-listener.js';
import { sniffProtocol, type ConnectionProtocol } from '../../../src/api/listener/protocol-sniffer.js';

const logger = pino({ level: 'silent' });
const identity = (value: Buffer) => value;
const echoDefinition = {
  echoHost: {
    path: '/test.Echo/EchoHost',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
} satisfies grpc.ServiceDefinition;
const EchoClient = grpc.makeGenericClientConstructor(echoDefinition, 'Echo');

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function startGrpcServer(options: grpc.ServerOptions = {}): grpc.Server {
  const server = new grpc.Server(options);
  // Answers with the :authority the server saw, so the test can see the repair.
  server.addService(echoDefinition, {
    echoHost: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, Buffer.from(call.getHost())),
  });
  cleanups.push(() => server.forceShutdown());
  return server;
}

async function listenThroughListener(server: grpc.Server, http1Handler?: (socket: net.Socket, firstBytes: Buffer) => void): Promise<number> {
  const listeners = new ClientListeners({ grpcServer: server, logger, ...(http1Handler ? { http1Handler } : {}) });
  cleanups.push(() => listeners.close());
  return (await listeners.listen('127.0.0.1', 0)).port;
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

  it('keeps a connection alive through server keep-alive pings', async () => {
    const port = await listenThroughListener(startGrpcServer({ 'grpc.keepalive_time_ms': 50, 'grpc.keepalive_timeout_ms': 300 }));
    const session = http2.connect(`http://127.0.0.1:${port}`);
    cleanups.push(() => void session.destroy());
    let pingsReceived = 0;
    session.on('ping', () => pingsReceived++);
    session.on('error', () => {});
    await new Promise((resolve) => session.once('connect', resolve));
    // The server closes the session if an ack of its ping (client→server, through the rewriter)
    // does not arrive within 300 ms.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(pingsReceived).toBeGreaterThanOrEqual(3);
    expect(session.closed || session.destroyed).toBe(false);
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
    await new Promise((resolve) => session.once('remoteSettings', resolve));
    await listeners.close();
    expect(session.closed).toBe(false);
    const refused = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('connect', () => { socket.destroy(); resolve(false); });
      socket.on('error', () => resolve(true));
    });
    expect(refused).toBe(true);
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
