// Test-only helpers for the HTTP app: an app over the gRPC tests' ScriptedServer (records calls,
// answers what the test scripts), and a real socket in front of it through the listener's HTTP/1
// seam for the streams that inject() cannot hold open.
import net from 'node:net';
import http from 'node:http';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { createHttpApp, EtcdMetrics, type HttpAppOptions } from '../../../src/api/http/index.js';
import { http1HandlerFor } from '../../../src/api/listener/index.js';
import { ScriptedServer } from '../api-grpc/harness.js';

export { ScriptedServer, header, bigClusterId, bigMemberId, until } from '../api-grpc/harness.js';

export const maxRequestBytes = 64 * 1024;

export async function makeApp(server = new ScriptedServer(), options: Partial<HttpAppOptions> = {}):
Promise<{ app: FastifyInstance; server: ScriptedServer; metrics: EtcdMetrics }> {
  const metrics = options.metrics ?? new EtcdMetrics({ etcdVersion: options.etcdVersion ?? '3.5.17', processMetrics: false });
  const app = createHttpApp({
    server, maxRequestBytes, logger: pino({ level: 'silent' }), etcdVersion: '3.5.17', healthCheckTimeoutMs: 500, ...options, metrics,
  });
  await app.ready();
  return { app, server, metrics };
}

/** Serves the app on 127.0.0.1 the way the client listener does: each socket handed to app.server. */
export async function listen(app: FastifyInstance): Promise<{ port: number; close: () => Promise<void> }> {
  const handOver = http1HandlerFor(app.server);
  const sockets = new Set<net.Socket>();
  const listener = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.once('data', (first) => {
      socket.pause();
      handOver(socket, first);
    });
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const port = (listener.address() as net.AddressInfo).port;
  return {
    port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    },
  };
}

/** A POST whose response is read line by line as it streams; `lines` fills as they arrive. */
export function openStream(port: number, path: string, body: string):
{ lines: string[]; status: Promise<number>; ended: Promise<string>; abort: () => void } {
  const lines: string[] = [];
  let resolveStatus!: (status: number) => void;
  let resolveEnded!: (rest: string) => void;
  const status = new Promise<number>((resolve) => { resolveStatus = resolve; });
  const ended = new Promise<string>((resolve) => { resolveEnded = resolve; });
  const request = http.request({ host: '127.0.0.1', port, path, method: 'POST' }, (response) => {
    resolveStatus(response.statusCode ?? 0);
    let pending = '';
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      pending += chunk;
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        lines.push(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
      }
    });
    response.on('end', () => resolveEnded(pending));
    response.on('error', () => resolveEnded(pending));
  });
  request.on('error', () => { resolveStatus(0); resolveEnded(''); });
  request.end(body);
  return { lines, status, ended, abort: () => request.destroy() };
}
