// A third client stack against the server under test: Python's grpcio (gRPC's C core, Debian's
// python3-grpcio), driven by test/integration/python/grpc_client_check.py. Unary calls, 200
// concurrent streams on one connection, a value larger than the first flow-control window, an
// etcd error, the Watch and LeaseKeepAlive bidi streams, Status, the Snapshot server stream and an
// unknown method. With COMPAT_SELF_CHECK=1 the same runs against etcd 3.4.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startServerUnderTest, type EtcdProcess } from '../helpers/etcd-process.js';

/** Debian's interpreter, which has python3-grpcio (a pyenv python on PATH would not). */
const python = '/usr/bin/python3';
const script = fileURLToPath(new URL('./python/grpc_client_check.py', import.meta.url));

let server: EtcdProcess;

beforeAll(async () => {
  server = await startServerUnderTest({ name: 'python-grpc' });
});

afterAll(async () => {
  await server?.stop();
});

function runClient(endpoint: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(python, [script, endpoint], { timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${python} ${script}: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

test('grpcio (C core) from Python: unary, concurrent, large, error, watch, keep-alive, snapshot and unknown-method calls', async () => {
  const report = JSON.parse(await runClient(`127.0.0.1:${server.clientPort}`)) as Record<string, unknown>;
  expect(report.range).toEqual([{ key: 'py/key', value: 'py-value' }]);
  expect(report.concurrentPuts).toBe(200);
  expect(report.bigValueIntact).toBe(true);
  expect(report.emptyKey).toEqual({ code: 'INVALID_ARGUMENT', details: 'etcdserver: key is not provided' });
  expect(report.watchCreated).toBe(true);
  expect(report.watchEvents).toEqual([{ key: 'py/watched', value: 'seen' }]);
  expect(report.keepAlives).toEqual([{ sameId: true, ttl: 30 }, { sameId: true, ttl: 30 }, { sameId: true, ttl: 30 }]);
  expect(report.statusVersion).toMatch(/^3\.\d+\.\d+$/);
  expect(report.snapshotBytes).toBeGreaterThan(0);
  expect(report.snapshotLastRemaining).toBe(0);
  expect(report.unknownMethod).toBe('UNIMPLEMENTED');
});
