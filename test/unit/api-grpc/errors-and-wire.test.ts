// Error mapping (every EtcdError name ⇒ etcd's code and exact text) and hostile input on the wire:
// garbage bytes, wrong wire types, oversized messages, unregistered services.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import pino from 'pino';
import { EtcdError, etcdErrors, type EtcdErrorName } from '../../../src/errors.js';
import { toGrpcError } from '../../../src/api/grpc/errors.js';
import { WireFormatError } from '../../../src/api/grpc/translate/common.js';
import { putRequestFromWire, rangeRequestFromWire, txnRequestFromWire } from '../../../src/api/grpc/translate/kv.js';
import {
  callRawBytes, callUnary, maxRequestBytes, rawClients, ScriptedServer, startServer,
} from './harness.js';

let server: ScriptedServer;
let running: Awaited<ReturnType<typeof startServer>>;
let clients: ReturnType<typeof rawClients>;

beforeAll(async () => {
  server = new ScriptedServer();
  running = await startServer(server);
  clients = rawClients(running.port);
});
afterAll(() => running.stop());
beforeEach(() => {
  server.calls = [];
  server.answers = {};
});

async function stillServes(): Promise<void> {
  const { error, response } = await callUnary(clients.kv, 'Range', { key: Buffer.from('alive') });
  expect(error).toBeUndefined();
  expect(response!.header.revision).toBe('5');
}

describe('error mapping', () => {
  it('maps every EtcdError to its gRPC code and exact message', async () => {
    const names = Object.keys(etcdErrors) as EtcdErrorName[];
    for (const name of names) {
      server.answers.put = () => { throw new EtcdError(name); };
      const { error } = await callUnary(clients.kv, 'Put', { key: Buffer.from('k') });
      expect([name, error?.code, error?.details]).toEqual([name, etcdErrors[name][0], etcdErrors[name][1]]);
    }
  });

  it('answers an unexpected error with UNKNOWN and its raw text, synchronous or not', async () => {
    server.answers.range = () => { throw new TypeError('boom at the bottom'); };
    const asyncFailure = await callUnary(clients.kv, 'Range', { key: Buffer.from('k') });
    expect(asyncFailure.error?.code).toBe(status.UNKNOWN);
    expect(asyncFailure.error?.details).toBe('boom at the bottom');
  });

  it('reads a 10-byte varint lease as the int64 it encodes (-1), as Go does', async () => {
    const tooBig = Buffer.from([0x0a, 0x01, 0x6b, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    const { error } = await callRawBytes(clients.generic, '/etcdserverpb.KV/Put', tooBig);
    // int64 wraps to -1 on the wire, which is a valid (if odd) lease id: the server gets it.
    expect(error).toBeUndefined();
    expect(server.calls[0]!.args[0]).toMatchObject({ key: Buffer.from('k'), lease: -1n });
  });
});

describe('translation of wrongly typed fields (the JSON gateway path)', () => {
  it('throws WireFormatError, mapped to INVALID_ARGUMENT, for every wrong type', () => {
    const logger = pino({ level: 'silent' });
    const cases: Array<() => unknown> = [
      () => putRequestFromWire({ key: 5 }),
      () => putRequestFromWire({ key: Buffer.from('k'), lease: '12abc' }),
      () => putRequestFromWire({ key: Buffer.from('k'), lease: '9223372036854775808' }),
      () => putRequestFromWire({ key: Buffer.from('k'), prev_kv: 'yes' }),
      () => rangeRequestFromWire({ key: Buffer.from('k'), limit: 1.5 }),
      () => rangeRequestFromWire({ key: Buffer.from('k'), sort_order: 'ASCEND' }),
      () => txnRequestFromWire({ success: {} }),
      () => txnRequestFromWire({ success: [{}] }),
      () => rangeRequestFromWire([]),
    ];
    for (const translate of cases) {
      let thrown: unknown;
      try { translate(); } catch (error) { thrown = error; }
      expect(thrown).toBeInstanceOf(WireFormatError);
      expect(toGrpcError(thrown, logger, 'test').code).toBe(status.INVALID_ARGUMENT);
    }
  });
});

describe('hostile wire input', () => {
  it('answers garbage bytes with INTERNAL (as etcd\'s Go server does) and keeps serving', async () => {
    for (const garbage of [Buffer.from([0xff, 0xff, 0xff]), Buffer.from([0x0a, 0x10, 0x61]), Buffer.from([0x07])]) {
      const { error } = await callRawBytes(clients.generic, '/etcdserverpb.KV/Range', garbage);
      expect(error?.code).toBe(status.INTERNAL);
      expect(error?.details).toMatch(/^grpc: error unmarshalling request/);
    }
    expect(server.calls).toHaveLength(0);
    await stillServes();
  });

  it('rejects a field sent with the wrong wire type even when protobufjs would decode it', async () => {
    // Field 1 (key, bytes) sent as varint 3, followed by "abc": read naively, that is key="abc".
    const wrongType = Buffer.from([0x08, 0x03, 0x61, 0x62, 0x63]);
    const { error } = await callRawBytes(clients.generic, '/etcdserverpb.KV/Range', wrongType);
    expect(error?.code).toBe(status.INTERNAL);
    expect(error?.details).toMatch(/wire type 0, expected 2/);
    // The same check runs inside nested messages: a Txn whose RequestOp put has a varint value.
    const nested = Buffer.from([0x12, 0x07, 0x12, 0x05, 0x10, 0x03, 0x61, 0x62, 0x63]);
    const nestedResult = await callRawBytes(clients.generic, '/etcdserverpb.KV/Txn', nested);
    expect(nestedResult.error?.code).toBe(status.INTERNAL);
    expect(server.calls).toHaveLength(0);
    await stillServes();
  });

  it('accepts unknown fields and packed repeated enums', async () => {
    // Range with key "k" and an unknown field 99 (varint): skipped, as protobuf requires.
    const unknownField = Buffer.from([0x0a, 0x01, 0x6b, 0x98, 0x06, 0x01]);
    const { error } = await callRawBytes(clients.generic, '/etcdserverpb.KV/Range', unknownField);
    expect(error).toBeUndefined();
    expect(server.calls[0]!.args[0]).toMatchObject({ key: Buffer.from('k') });
  });

  it('answers an oversized message with RESOURCE_EXHAUSTED and keeps serving', async () => {
    const value = Buffer.alloc(maxRequestBytes + 512 * 1024 + 1, 1);
    const { error } = await callUnary(clients.kv, 'Put', { key: Buffer.from('big'), value });
    expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(server.calls).toHaveLength(0);
    // Just below the limit passes the transport (the server decides about --max-request-bytes).
    const fits = await callUnary(clients.kv, 'Put', { key: Buffer.from('big'), value: Buffer.alloc(maxRequestBytes + 1024, 1) });
    expect(fits.error).toBeUndefined();
    await stillServes();
  });

  it('answers UNIMPLEMENTED for services not built yet (Auth) and for Downgrade', async () => {
    const auth = await callUnary(clients.auth, 'AuthStatus', {});
    expect(auth.error?.code).toBe(status.UNIMPLEMENTED);
    const downgrade = await callUnary(clients.maintenance, 'Downgrade', { action: 0, version: '3.5' });
    expect(downgrade.error?.code).toBe(status.UNIMPLEMENTED);
  });
});
