// Bad input to the server under test: garbage bytes on the client port, requests above
// --max-request-bytes, empty keys, unknown leases, wrongly typed protobuf and JSON. Each must get
// etcd's answer, and afterwards the server must still serve with nothing written before it lost.
import { connect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { etcdctl } from '../helpers/etcdctl.js';
import { rawUnary as rawUnaryCall } from '../helpers/raw-grpc.js';
import { startServerUnderTest, selfCheck, type EtcdProcess } from '../helpers/etcd-process.js';

const maxRequestBytes = 65_536;
/** etcd lets gRPC receive max-request-bytes + 512 KiB before the transport itself refuses. */
const grpcReceiveMaxBytes = maxRequestBytes + 512 * 1024;
const keysWrittenBefore = 20;
const garbageConnections = 20;

let server: EtcdProcess;

/** A raw unary call with hand-made protobuf bytes, so the server sees exactly what we encode. */
function rawUnary(path: string, body: Buffer): Promise<{ code: number; details: string } | { ok: Buffer }> {
  return rawUnaryCall(server.clientPort, path, body);
}

async function postJson(path: string, body: string): Promise<{ status: number; json: { error?: string; message?: string; code?: number } }> {
  const response = await fetch(`${server.clientUrl}${path}`, { method: 'POST', body, signal: AbortSignal.timeout(10_000) });
  return { status: response.status, json: await response.json() as { error?: string; message?: string; code?: number } };
}

/** Sends bytes that are neither HTTP/1 nor HTTP/2, then hangs up after a moment. */
function sendGarbage(bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(server.clientPort, '127.0.0.1', () => socket.write(bytes));
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
    setTimeout(() => { socket.destroy(); resolve(); }, 300);
  });
}

describe(`bad input (${selfCheck ? 'real etcd' : 'etcd-ts'})`, () => {
  beforeAll(async () => {
    server = await startServerUnderTest({ name: 'badinput', extraArgs: [`--max-request-bytes=${maxRequestBytes}`] });
    for (let i = 0; i < keysWrittenBefore; i++) {
      const result = await etcdctl(server.clientUrl, ['put', `before/${i}`, `value-${i}`]);
      expect(result.exitCode, result.stderr).toBe(0);
    }
  });

  afterAll(async () => {
    // The point of every test above: the server is still up and lost nothing.
    const health = await etcdctl(server.clientUrl, ['endpoint', 'health']);
    const stored = await etcdctl(server.clientUrl, ['get', 'before/', '--prefix', '--print-value-only']);
    await server.stop();
    expect(health.exitCode, health.stderr).toBe(0);
    expect(stored.stdout.trim().split('\n').sort()).toEqual(Array.from({ length: keysWrittenBefore }, (_, i) => `value-${i}`).sort());
  });

  test('garbage bytes on the client port do not hurt the server', async () => {
    const patterns = [
      Buffer.from('\x00\x01garbage\xff\xfe'.repeat(100), 'latin1'),
      Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.alloc(64, 0xff)]),
      Buffer.from('GET / HTTP/1.1\r\nHost: \x00\x00\r\nContent-Length: -5\r\n\r\n', 'latin1'),
      Buffer.alloc(64 * 1024, 0x00),
    ];
    await Promise.all(Array.from({ length: garbageConnections }, (_, i) => sendGarbage(patterns[i % patterns.length]!)));
    const result = await etcdctl(server.clientUrl, ['put', 'after-garbage', 'ok']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect((await etcdctl(server.clientUrl, ['get', 'after-garbage', '--print-value-only'])).stdout).toBe('ok\n');
  });

  test('a request above --max-request-bytes gets "etcdserver: request is too large"', async () => {
    const result = await etcdctl(server.clientUrl, ['put', 'big'], { input: 'x'.repeat(maxRequestBytes + 1000) });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('code = InvalidArgument desc = etcdserver: request is too large');
    expect((await etcdctl(server.clientUrl, ['get', 'big'])).stdout).toBe('');
  });

  test('a request above the gRPC receive limit is refused with ResourceExhausted', async () => {
    const result = await etcdctl(server.clientUrl, ['put', 'huge'], { input: 'x'.repeat(grpcReceiveMaxBytes + 10_000) });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/code = ResourceExhausted desc = .*larger than max/i);
  });

  test('empty keys are refused with "etcdserver: key is not provided"', async () => {
    for (const args of [['put', '', 'v'], ['get', ''], ['del', '']]) {
      const result = await etcdctl(server.clientUrl, args);
      expect(result.exitCode, args.join(' ')).toBe(1);
      expect(result.stderr, args.join(' ')).toContain('code = InvalidArgument desc = etcdserver: key is not provided');
    }
  });

  test('unknown leases are refused with "etcdserver: requested lease not found"', async () => {
    const put = await etcdctl(server.clientUrl, ['put', 'leased', 'v', '--lease=7fffffff12345678']);
    expect(put.stderr).toContain('code = NotFound desc = etcdserver: requested lease not found');
    const revoke = await etcdctl(server.clientUrl, ['lease', 'revoke', '7fffffff12345678']);
    expect(revoke.stderr).toContain('code = NotFound desc = etcdserver: requested lease not found');
    const keepAlive = await etcdctl(server.clientUrl, ['lease', 'keep-alive', '--once', '7fffffff12345678']);
    expect(keepAlive.stderr).toContain('etcdserver: requested lease not found');
    expect((await etcdctl(server.clientUrl, ['get', 'leased'])).stdout).toBe('');
  });

  test('protobuf with wrong wire types or truncated fields gets INTERNAL, an empty Range key InvalidArgument', async () => {
    // RangeRequest.key (field 1, bytes) sent as a varint; then a length-delimited key cut short.
    const wrongType = await rawUnary('/etcdserverpb.KV/Range', Buffer.from([0x08, 0x05]));
    expect(wrongType).toMatchObject({ code: grpc.status.INTERNAL });
    const truncated = await rawUnary('/etcdserverpb.KV/Put', Buffer.from([0x0a, 0x10, 0x61]));
    expect(truncated).toMatchObject({ code: grpc.status.INTERNAL });
    const emptyKey = await rawUnary('/etcdserverpb.KV/Range', Buffer.alloc(0));
    expect(emptyKey).toEqual({ code: grpc.status.INVALID_ARGUMENT, details: 'etcdserver: key is not provided' });
    // A lease id field with a wrong wire type on LeaseRevoke.
    const leaseWrongType = await rawUnary('/etcdserverpb.Lease/LeaseRevoke', Buffer.from([0x0a, 0x01, 0x00]));
    expect(leaseWrongType).toMatchObject({ code: grpc.status.INTERNAL });
  });

  test('JSON gateway: wrong types are 400 code 3, empty key and unknown lease get etcd\'s errors', async () => {
    const numberKey = await postJson('/v3/kv/put', '{"key": 123}');
    expect(numberKey.status).toBe(400);
    expect(numberKey.json.code).toBe(3);
    const notJson = await postJson('/v3/kv/put', 'not json');
    expect(notJson.status).toBe(400);
    expect(notJson.json.code).toBe(3);
    const emptyKey = await postJson('/v3/kv/put', '{"key":""}');
    expect(emptyKey).toEqual({ status: 400, json: { error: 'etcdserver: key is not provided', message: 'etcdserver: key is not provided', code: 3 } });
    const unknownLease = await postJson('/v3/kv/put', '{"key":"Zm9v","value":"YmFy","lease":"1234"}');
    expect(unknownLease).toEqual({ status: 404, json: { error: 'etcdserver: requested lease not found', message: 'etcdserver: requested lease not found', code: 5 } });
  });
});
