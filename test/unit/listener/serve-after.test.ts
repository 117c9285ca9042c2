// ClientListeners with serveAfter: connections made before it resolves are accepted but held
// unread (HTTP/1 and gRPC alike get no answer), and are served, with the bytes they sent meanwhile,
// once it resolves; a client that left while held is skipped; close() drops held connections.
import http from 'node:http';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ClientListeners, http1HandlerFor } from '../../../src/api/listener/client-listener.js';
import { cleanupsAfterEach, rawUnaryMethod } from './echo-service.js';

const logger = pino({ level: 'silent' });
const echoDefinition = {
  echo: rawUnaryMethod('/test.Echo/Echo'),
} satisfies grpc.ServiceDefinition;
const EchoClient = grpc.makeGenericClientConstructor(echoDefinition, 'Echo');

const cleanups = cleanupsAfterEach();

interface Gate {
  promise: Promise<void>;
  open(): void;
}

function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => { open = resolve; });
  return { promise, open };
}

async function start(serveAfter: Promise<unknown>): Promise<{ port: number; listeners: ClientListeners }> {
  const grpcServer = new grpc.Server();
  grpcServer.addService(echoDefinition, {
    echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, call.request),
  });
  cleanups.push(() => grpcServer.forceShutdown());
  const httpServer = http.createServer((_request, response) => response.end('answered'));
  const listeners = new ClientListeners({ grpcServer, logger, http1Handler: http1HandlerFor(httpServer), serveAfter });
  cleanups.push(() => listeners.close());
  return { port: (await listeners.listen('127.0.0.1', 0)).port, listeners };
}

function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => { body += chunk.toString('utf8'); });
      response.on('end', () => resolve(body));
    });
    request.on('error', reject);
    cleanups.push(() => { request.destroy(); });
  });
}

function echo(port: number, text: string): Promise<string> {
  const client = new EchoClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  cleanups.push(() => client.close());
  return new Promise((resolve, reject) => {
    client.echo(Buffer.from(text), { deadline: Date.now() + 10_000 }, (error: grpc.ServiceError | null, reply?: Buffer) => {
      if (error) reject(error);
      else resolve(reply!.toString('utf8'));
    });
  });
}

/** True if `promise` has not settled after ms. */
async function stillPending(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const marker = Symbol('pending');
  const first = await Promise.race([promise.then(() => undefined, () => undefined), new Promise((resolve) => setTimeout(() => resolve(marker), ms))]);
  return first === marker;
}

describe('ClientListeners serveAfter', () => {
  it('holds HTTP/1 and gRPC connections unanswered until it resolves, then serves them and later ones', async () => {
    const ready = gate();
    const { port, listeners } = await start(ready.promise);
    expect(listeners.holding).toBe(true);
    const held = httpGet(port);
    const heldCall = echo(port, 'held call');
    expect(await stillPending(held, 400)).toBe(true);
    expect(await stillPending(heldCall, 1)).toBe(true);
    ready.open();
    expect(await held).toBe('answered');
    expect(await heldCall).toBe('held call');
    expect(listeners.holding).toBe(false);
    expect(await httpGet(port)).toBe('answered');
    expect(await echo(port, 'later')).toBe('later');
  });

  it('skips a connection whose client left while it was held, and serves the others', async () => {
    const ready = gate();
    const { port } = await start(ready.promise);
    const gone = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve) => gone.once('connect', () => resolve()));
    gone.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    gone.destroy();
    const held = httpGet(port);
    await new Promise((resolve) => setTimeout(resolve, 100));
    ready.open();
    expect(await held).toBe('answered');
  });

  it('close() drops the connections it holds', async () => {
    const { port, listeners } = await start(new Promise(() => undefined));
    const socket = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await listeners.close();
    await closed;
    expect(socket.destroyed).toBe(true);
  });
});
