// KV translation through a real gRPC connection: every request field reaches the server as the
// internal type, every result field comes back, 64-bit ids keep all their bits.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import { emptyRangeRequest, type KeyValue } from '../../../src/mvcc/types.js';
import { bigClusterId, bigMemberId, callUnary, header, rawClients, ScriptedServer, startServer } from './harness.js';

const int64Max = (1n << 63n) - 1n;
let server: ScriptedServer;
let running: Awaited<ReturnType<typeof startServer>>;
let clients: ReturnType<typeof rawClients>;
let etcd: Etcd3;

function kv(key: string, value: string, lease = 0n): KeyValue {
  return { key: Buffer.from(key), value: Buffer.from(value), createRevision: 2, modRevision: 3, version: 4, lease };
}

beforeAll(async () => {
  server = new ScriptedServer();
  running = await startServer(server);
  clients = rawClients(running.port);
  etcd = new Etcd3({ hosts: `127.0.0.1:${running.port}` });
});
afterAll(async () => {
  etcd.close();
  await running.stop();
});
beforeEach(() => {
  server.calls = [];
  server.answers = {};
});

describe('KV over gRPC', () => {
  it('translates every RangeRequest field and every RangeResponse field', async () => {
    server.answers.range = () => ({ header: header(9), result: { kvs: [kv('a', 'x', int64Max)], more: true, count: 12, revision: 9 } });
    const { response, error } = await callUnary(clients.kv, 'Range', {
      key: Buffer.from('a'), range_end: Buffer.from('b'), limit: 3, revision: '9007199254740991', sort_order: 2, sort_target: 4,
      serializable: true, keys_only: true, count_only: true, min_mod_revision: 10, max_mod_revision: 11,
      min_create_revision: 12, max_create_revision: 13,
    });
    expect(error).toBeUndefined();
    expect(server.calls[0]!.args[0]).toStrictEqual({
      key: Buffer.from('a'), rangeEnd: Buffer.from('b'), limit: 3, revision: 9007199254740991, sortOrder: 2, sortTarget: 4,
      serializable: true, keysOnly: true, countOnly: true, minModRevision: 10, maxModRevision: 11,
      minCreateRevision: 12, maxCreateRevision: 13,
    });
    expect(response!.header).toEqual({ cluster_id: bigClusterId.toString(), member_id: bigMemberId.toString(), revision: '9', raft_term: '7' });
    expect(response!.more).toBe(true);
    expect(response!.count).toBe('12');
    expect(response!.kvs).toEqual([{
      key: Buffer.from('a'), value: Buffer.from('x'), create_revision: '2', mod_revision: '3', version: '4', lease: int64Max.toString(),
    }]);
  });

  it('answers an unknown sort option with etcd error', async () => {
    const { error } = await callUnary(clients.kv, 'Range', { key: Buffer.from('a'), sort_order: 3 });
    expect(error?.code).toBe(3);
    expect(error?.details).toBe('etcdserver: invalid sort option');
    expect(server.calls).toHaveLength(0);
  });

  it('serves the etcd3 npm client: put with a lease id beyond 2^53 and get', async () => {
    server.answers.put = () => ({ header: header(10), result: {} });
    await etcd.put('k').value('v').exec();
    expect(server.calls[0]!.args[0]).toStrictEqual({
      key: Buffer.from('k'), value: Buffer.from('v'), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false,
    });
    server.answers.range = () => ({ header: header(10), result: { kvs: [kv('k', 'v')], more: false, count: 1, revision: 10 } });
    expect(await etcd.get('k').string()).toBe('v');
    // etcd3's get() asks for one key with limit 1.
    expect(server.calls[1]!.args[0]).toStrictEqual({ ...emptyRangeRequest(Buffer.from('k')), limit: 1 });

    const { error } = await callUnary(clients.kv, 'Put', { key: Buffer.from('k'), lease: int64Max.toString(), prev_kv: true, ignore_value: true, ignore_lease: true });
    expect(error).toBeUndefined();
    expect(server.calls[2]!.args[0]).toMatchObject({ lease: int64Max, prevKv: true, ignoreValue: true, ignoreLease: true });
  });

  it('returns prev_kv on put and prev_kvs on delete', async () => {
    server.answers.put = () => ({ header: header(11), result: { prevKv: kv('p', 'old') } });
    const put = await callUnary(clients.kv, 'Put', { key: Buffer.from('p'), value: Buffer.from('new'), prev_kv: true });
    expect(put.response!.prev_kv.value).toEqual(Buffer.from('old'));
    server.answers.deleteRange = () => ({ header: header(12), result: { deleted: 2, prevKvs: [kv('d1', '1'), kv('d2', '2')] } });
    const del = await callUnary(clients.kv, 'DeleteRange', { key: Buffer.from('d'), range_end: Buffer.from('e'), prev_kv: true });
    expect(server.calls[1]!.args[0]).toStrictEqual({ key: Buffer.from('d'), rangeEnd: Buffer.from('e'), prevKv: true });
    expect(del.response!.deleted).toBe('2');
    expect(del.response!.prev_kvs.map((k: { key: Buffer }) => k.key.toString())).toEqual(['d1', 'd2']);
  });

  it('translates nested txns, every compare target, and sub-response headers', async () => {
    server.answers.txn = () => ({
      header: header(20),
      result: {
        succeeded: false,
        responses: [
          { range: { kvs: [kv('r', 'v')], more: false, count: 1, revision: 20 } },
          { txn: { succeeded: true, responses: [{ put: {} }, { deleteRange: { deleted: 1, prevKvs: [] } }] } },
        ],
      },
    });
    const { response, error } = await callUnary(clients.kv, 'Txn', {
      compare: [
        { result: 0, target: 0, key: Buffer.from('a'), version: 1 },
        { result: 1, target: 1, key: Buffer.from('b'), create_revision: 2 },
        { result: 2, target: 2, key: Buffer.from('c'), mod_revision: 3, range_end: Buffer.from('d') },
        { result: 3, target: 3, key: Buffer.from('e'), value: Buffer.from('v') },
        { result: 0, target: 4, key: Buffer.from('f'), lease: int64Max.toString() },
      ],
      success: [{ request_put: { key: Buffer.from('s'), value: Buffer.from('1') } }],
      failure: [
        { request_range: { key: Buffer.from('r') } },
        { request_txn: { compare: [], success: [{ request_delete_range: { key: Buffer.from('x') } }], failure: [] } },
      ],
    });
    expect(error).toBeUndefined();
    const empty = Buffer.alloc(0);
    expect(server.calls[0]!.args[0]).toStrictEqual({
      compare: [
        { result: 0, target: 0, key: Buffer.from('a'), rangeEnd: empty, number: 1, value: empty, lease: 0n },
        { result: 1, target: 1, key: Buffer.from('b'), rangeEnd: empty, number: 2, value: empty, lease: 0n },
        { result: 2, target: 2, key: Buffer.from('c'), rangeEnd: Buffer.from('d'), number: 3, value: empty, lease: 0n },
        { result: 3, target: 3, key: Buffer.from('e'), rangeEnd: empty, number: 0, value: Buffer.from('v'), lease: 0n },
        { result: 0, target: 4, key: Buffer.from('f'), rangeEnd: empty, number: 0, value: empty, lease: int64Max },
      ],
      success: [{ put: { key: Buffer.from('s'), value: Buffer.from('1'), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false } }],
      failure: [
        { range: emptyRangeRequest(Buffer.from('r')) },
        { txn: { compare: [], success: [{ deleteRange: { key: Buffer.from('x'), rangeEnd: empty, prevKv: false } }], failure: [] } },
      ],
    });
    expect(response!.succeeded).toBe(false);
    expect(response!.responses[0].response_range.kvs[0].key).toEqual(Buffer.from('r'));
    expect(response!.responses[0].response_range.header).toEqual({ cluster_id: '0', member_id: '0', revision: '20', raft_term: '0' });
    const nested = response!.responses[1].response_txn;
    expect(nested.succeeded).toBe(true);
    expect(nested.responses[0].response_put).toBeDefined();
    expect(nested.responses[1].response_delete_range.deleted).toBe('1');
  });

  it('passes compaction and request metadata through', async () => {
    const grpc = await import('@grpc/grpc-js');
    const metadata = new grpc.Metadata();
    metadata.set('token', 'abc.1');
    metadata.set('hasleader', 'true');
    const { error } = await callUnary(clients.kv, 'Compact', { revision: 42, physical: true }, metadata);
    expect(error).toBeUndefined();
    expect(server.calls[0]!.args).toStrictEqual([42, true, { token: 'abc.1', requireLeader: true }]);
    const plain = await callUnary(clients.kv, 'Compact', { revision: 1 });
    expect(plain.error).toBeUndefined();
    expect(server.calls[1]!.args).toStrictEqual([1, false, {}]);
  });
});
