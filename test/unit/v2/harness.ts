// Test-only: a real one-member EtcdServer on LevelDB in a temp dir, with the HTTP app (v2 enabled)
// in front of it, driven by app.inject() or by a real socket for long polls.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { EtcdServer } from '../../../src/server/etcd-server.js';
import { createHttpApp, EtcdMetrics } from '../../../src/api/http/index.js';
import { inProcessServerConfig } from '../../helpers/in-process-server.js';

export interface V2Harness {
  server: EtcdServer;
  app: FastifyInstance;
  close: () => Promise<void>;
}

export async function startV2Harness(): Promise<V2Harness> {
  const dataDir = mkdtempSync(join(tmpdir(), 'v2-unit-'));
  const server = await EtcdServer.start(
    inProcessServerConfig(dataDir, { unsafeNoFsync: true, etcdVersion: '3.4.0' }), pino({ level: 'silent' }));
  await server.waitReady(10_000);
  const app = createHttpApp({
    server, maxRequestBytes: 1572864, logger: pino({ level: 'silent' }), etcdVersion: '3.4.0', enableV2: true,
    metrics: new EtcdMetrics({ etcdVersion: '3.4.0', processMetrics: false }),
  });
  await app.ready();
  return {
    server, app,
    close: async () => {
      await app.close();
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A urlencoded request as curl -X<method> -d sends it. */
export async function v2(app: FastifyInstance, method: string, url: string, form?: Record<string, string>):
Promise<{ status: number; body: any; headers: Record<string, unknown>; text: string }> {
  const response = await app.inject({
    method: method as 'GET', url,
    ...(form ? { payload: new URLSearchParams(form).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } } : {}),
  });
  let body: unknown;
  try { body = JSON.parse(response.body); } catch { body = undefined; }
  return { status: response.statusCode, body, headers: response.headers, text: response.body };
}
