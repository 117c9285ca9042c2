// One in-process EtcdServer on a temp dir per test, stopped and removed afterwards.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach } from 'vitest';
import { EtcdServer, type EtcdServerConfig } from '../../../src/server/etcd-server.js';
import { emptyRangeRequest, type KeyValue } from '../../../src/mvcc/types.js';
import { prefixRangeEnd } from '../../../src/concurrency/keys.js';
import { inProcessServerConfig } from '../../helpers/in-process-server.js';

const dirs: string[] = [];
const servers: EtcdServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.stop();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function config(dataDir: string): EtcdServerConfig {
  // Tests only: nothing here survives a crash on purpose, and fsyncs would slow the 2-core machine.
  return inProcessServerConfig(dataDir, { unsafeNoFsync: true });
}

export async function startServer(): Promise<EtcdServer> {
  const dir = mkdtempSync(join(tmpdir(), 'etcd-concurrency-'));
  dirs.push(dir);
  const server = await EtcdServer.start(config(dir), pino({ level: 'silent' }));
  servers.push(server);
  await server.waitReady(10_000);
  return server;
}

export async function keysUnder(server: EtcdServer, prefix: string): Promise<KeyValue[]> {
  const key = Buffer.from(prefix);
  const { result } = await server.range(emptyRangeRequest(key, prefixRangeEnd(key)));
  return result.kvs;
}

export async function grantLease(server: EtcdServer, ttlSeconds = 60): Promise<bigint> {
  return (await server.leaseGrant(ttlSeconds, 0n)).id;
}

/** Resolves to 'pending' if `promise` has not settled within `ms`. */
export async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'pending'>((resolve) => { timer = setTimeout(() => resolve('pending'), ms); });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
