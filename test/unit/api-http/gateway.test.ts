// The v3 JSON gateway over a scripted EtcdServerApi: what reaches the server from JSON, the exact
// JSON that comes back (shapes as etcd 3.4's gateway writes them), errors and their statuses, the
// aliases, unimplemented services, and the streams over a real socket. Auth, lock and election
// over a real server are in gateway-auth-concurrency.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { EtcdError } from '../../../src/errors.js';
import type { KeyValue } from '../../../src/mvcc/types.js';
import { closeHttpApp, gatewayBodyLimitBytes } from '../../../src/api/http/index.js';
import { header, listen, makeApp, maxRequestBytes, openStream, ScriptedServer, until } from './harness.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function post(app: FastifyInstance, url: string, payload: string, headers: Record<string, string> = {}) {
  const response = await app.inject({ method: 'POST', url, payload, headers });
  return { status: response.statusCode, json: JSON.parse(response.body) as Record<string, any>, headers: response.headers };
}

const kv = (key: string, value: string, revision: number): KeyValue => ({
  key: Buffer.from(key), value: Buffer.from(value), createRevision: revision, modRevision: revision, version: 1, lease: 0n,
});

describe('unary paths', () => {
  it('range: base64 key in, etcd-shaped JSON out with uint64 ids exact and count as a string', async () => {
    const { app, server } = await makeApp();
    server.answers.range = () => ({ header: header(2), result: { kvs: [kv('foo', 'bar', 2)], more: false, count: 1, revision: 2 } });
    const { status, json, headers } = await post(app, '/v3/kv/range', '{"key":"Zm9v","range_end":"Zm9w","limit":"10"}');
    expect(status).toBe(200);
    expect(headers['access-control-allow-origin']).toBe('*');
    expect(json).toEqual({
      header: { cluster_id: '18364758544493064720', member_id: '9007199254740993', revision: '2', raft_term: '7' },
      kvs: [{ key: 'Zm9v', create_revision: '2', mod_revision: '2', version: '1', value: 'YmFy' }],
      count: '1',
    });
    const request = server.calls[0]!.args[0] as Record<string, unknown>;
    expect(request.key).toEqual(Buffer.from('foo'));
    expect(request.rangeEnd).toEqual(Buffer.from('fop'));
    expect(request.limit).toBe(10);
  });

  it('omits count 0 and an empty kvs list, as etcd does for a missing key', async () => {
    const { app } = await makeApp();
    const { json } = await post(app, '/v3/kv/range', '{"key":"bm8="}');
    expect(Object.keys(json)).toEqual(['header']);
  });

  it('put: a 64-bit lease given as a JSON number reaches the server exactly', async () => {
    const { app, server } = await makeApp();
    await post(app, '/v3/kv/put', '{"key":"Zm9v","value":"YmFy","lease":7587867539435395073,"prevKv":true}');
    const request = server.calls[0]!.args[0] as Record<string, unknown>;
    expect(request.lease).toBe(7587867539435395073n);
    expect(request.prevKv).toBe(true);
  });

  it('txn: compare by enum names, camelCase ops; nested headers carry only the revision', async () => {
    const { app, server } = await makeApp();
    server.answers.txn = () => ({
      header: header(4),
      result: { succeeded: true, responses: [{ put: { revision: 4 } }, { range: { kvs: [], more: false, count: 0, revision: 4 } }] },
    });
    const { json } = await post(app, '/v3/kv/txn',
      '{"compare":[{"key":"Zm9v","target":"MOD","result":"LESS","mod_revision":"10"}],"success":[{"requestPut":{"key":"Zm9v","value":"eg=="}},{"request_range":{"key":"Zm9v"}}]}');
    const request = server.calls[0]!.args[0] as { compare: Array<Record<string, unknown>>; success: unknown[] };
    expect(request.compare[0]).toMatchObject({ target: 2, result: 2, number: 10, key: Buffer.from('foo') });
    expect(request.success).toHaveLength(2);
    expect(json.succeeded).toBe(true);
    expect(json.responses).toEqual([{ response_put: { header: { revision: '4' } } }, { response_range: { header: { revision: '4' } } }]);
  });

  it('lease grant/timetolive/leases: upper-case ID and TTL, and the /v3/kv/lease aliases', async () => {
    const { app, server } = await makeApp();
    expect((await post(app, '/v3/lease/grant', '{"TTL":30,"ID":"77"}')).json).toMatchObject({ ID: '77', TTL: '30' });
    server.answers.leaseTimeToLive = (id) => ({ header: header(6), id, ttl: 29, grantedTtl: 30, keys: [Buffer.from('k')] });
    for (const path of ['/v3/lease/timetolive', '/v3/kv/lease/timetolive']) {
      expect((await post(app, path, '{"ID":"77","keys":true}')).json).toMatchObject({ ID: '77', TTL: '29', grantedTTL: '30', keys: ['aw=='] });
    }
    server.answers.leaseLeases = () => ({ header: header(6), leases: [77n, (1n << 63n) - 1n] });
    expect((await post(app, '/v3/kv/lease/leases', '')).json.leases).toEqual([{ ID: '77' }, { ID: '9223372036854775807' }]);
    expect((await post(app, '/v3/kv/lease/revoke', '{"ID":77}')).status).toBe(200);
    expect(server.calls.map((call) => call.method)).toEqual(['leaseGrant', 'leaseTimeToLive', 'leaseTimeToLive', 'leaseLeases', 'leaseRevoke']);
    expect(server.calls[4]!.args[0]).toBe(77n);
  });

  it('maintenance: alarm without header, hash on /hash, hashkv on /hashkv, status fields by proto name', async () => {
    const { app, server } = await makeApp();
    expect((await post(app, '/v3/maintenance/alarm', '{"action":"GET"}')).json).toEqual({});
    expect(server.calls[0]!.args.slice(0, 3)).toEqual([0, 0n, 0]);
    expect((await post(app, '/v3/maintenance/hash', '{"revision":"3"}')).json).toMatchObject({ hash: 4294967295 });
    expect((await post(app, '/v3/maintenance/hashkv', '{"revision":"3"}')).json).toMatchObject({ hash: 1, compact_revision: '2' });
    expect(server.calls.map((call) => call.method)).toEqual(['alarm', 'hash', 'hashKv']);
    server.answers.status = () => ({
      header: header(6), version: '3.5.17', dbSize: 20480, leader: 5n, raftIndex: 25, raftTerm: 2, raftAppliedIndex: 25,
      errors: [], dbSizeInUse: 16384, isLearner: false,
    });
    expect((await post(app, '/v3/maintenance/status', '{}')).json).toMatchObject({
      version: '3.5.17', dbSize: '20480', leader: '5', raftIndex: '25', raftTerm: '2', raftAppliedIndex: '25', dbSizeInUse: '16384',
    });
  });

  it('cluster member list: header without revision, members with peerURLs', async () => {
    const { app, server } = await makeApp();
    server.answers.memberList = () => ({
      header: header(6), members: [{ id: 0xfedcba9876543210n, name: 'n1', peerUrls: ['http://127.0.0.1:2380'], clientUrls: [], isLearner: false }],
    });
    const { json } = await post(app, '/v3/cluster/member/list', '{}');
    expect(json.header.revision).toBeUndefined();
    expect(json.members).toEqual([{ ID: '18364758544493064720', name: 'n1', peerURLs: ['http://127.0.0.1:2380'] }]);
  });

  it('/v3beta is an alias; /v3alpha is not served', async () => {
    const { app, server } = await makeApp();
    expect((await post(app, '/v3beta/kv/range', '{"key":"Zm9v"}')).status).toBe(200);
    expect(server.calls).toHaveLength(1);
    const alpha = await app.inject({ method: 'POST', url: '/v3alpha/kv/range', payload: '{}' });
    expect(alpha.statusCode).toBe(404);
    expect(alpha.body).toBe('404 page not found\n');
  });

  it('passes the Authorization header as the token and Grpc-Metadata-Hasleader as requireLeader', async () => {
    const { app, server } = await makeApp();
    await post(app, '/v3/kv/range', '{"key":"Zm9v"}', { authorization: 'sssvIpwfnLAcWAQH.9', 'grpc-metadata-hasleader': 'true' });
    expect(server.calls[0]!.args[1]).toEqual({ token: 'sssvIpwfnLAcWAQH.9', requireLeader: true });
  });
});

describe('errors', () => {
  it("maps etcd's errors to grpc-gateway's body and HTTP status", async () => {
    const { app, server } = await makeApp();
    const cases: Array<[EtcdError['errorName'], number, number]> = [
      ['EmptyKey', 400, 3], ['LeaseNotFound', 404, 5], ['Compacted', 400, 11], ['LeaseExist', 400, 9], ['NoSpace', 429, 8],
      ['NoLeader', 503, 14], ['Corrupt', 500, 15], ['PermissionDenied', 403, 7], ['InvalidAuthToken', 401, 16],
    ];
    for (const [name, status, code] of cases) {
      server.answers.put = () => { throw new EtcdError(name); };
      const message = new EtcdError(name).message;
      expect(await post(app, '/v3/kv/put', '{"key":"Zm9v"}'), name).toMatchObject({ status, json: { error: message, message, code } });
    }
  });

  it('answers FAILED_PRECONDITION with 412 when presenting etcd 3.4 (gateway v1.9.5)', async () => {
    const { app, server } = await makeApp(undefined, { etcdVersion: '3.4.23' });
    server.answers.leaseGrant = () => { throw new EtcdError('LeaseExist'); };
    expect((await post(app, '/v3/lease/grant', '{"ID":"1","TTL":5}')).status).toBe(412);
  });

  it('an unplanned error is UNKNOWN (500, code 2) with its text', async () => {
    const { app, server } = await makeApp();
    server.answers.range = () => { throw new Error('disk on fire'); };
    expect(await post(app, '/v3/kv/range', '{"key":"Zm9v"}')).toMatchObject({ status: 500, json: { code: 2, error: 'disk on fire' } });
  });

  it('bad JSON and wrong types are 400 code 3 and never reach the server', async () => {
    const { app, server } = await makeApp();
    for (const body of ['not json', '{"key":123}', '{"key":"Zm9v","limit":"x"}', '[]', '{"sort_order":"BOGUS"}', '{"limit":"99999999999999999999"}']) {
      const { status, json } = await post(app, '/v3/kv/range', body);
      expect(status, body).toBe(400);
      expect(json.code, body).toBe(3);
      expect(json.error, body).toBe(json.message);
    }
    expect(server.calls).toHaveLength(0);
  });

  it('methods the server lacks answer UNIMPLEMENTED (501, code 12) as a Go server does', async () => {
    const { app } = await makeApp();
    // No Auth API given to the app: the service is not registered at all.
    expect(await post(app, '/v3/auth/authenticate', '{"name":"root","password":"x"}')).toMatchObject({
      status: 501, json: { code: 12, error: 'unknown service etcdserverpb.Auth' },
    });
    expect((await post(app, '/v3/maintenance/downgrade', '{}')).json.error).toBe('unknown method Downgrade for service etcdserverpb.Maintenance');
  });

  it('lock and election reach the server through the gateway; their failures answer code 2 (500)', async () => {
    const { app, server } = await makeApp();
    server.answers.leaseGrant = () => { throw new EtcdError('LeaseNotFound'); };
    server.answers.txn = () => { throw new EtcdError('LeaseNotFound'); };
    const { status, json } = await post(app, '/v3/lock/lock', '{"name":"bA==","lease":"12345"}');
    expect(status).toBe(500);
    expect(json).toEqual({ error: 'etcdserver: requested lease not found', message: 'etcdserver: requested lease not found', code: 2 });
    expect(server.calls.length).toBeGreaterThan(0);
    const resign = await post(app, '/v3/election/resign', '{}');
    expect(resign).toMatchObject({ status: 500, json: { code: 2, error: '"leader" field must be provided' } });
  });

  it("unknown paths and other methods get Go's plain-text answers", async () => {
    const { app } = await makeApp();
    const unknown = await app.inject({ method: 'POST', url: '/v3/kv/nothing', payload: '{}' });
    expect([unknown.statusCode, unknown.body]).toEqual([404, 'Not Found\n']);
    const get = await app.inject({ method: 'GET', url: '/v3/kv/range' });
    expect([get.statusCode, get.body]).toEqual([405, 'Method Not Allowed\n']);
    const options = await app.inject({ method: 'OPTIONS', url: '/v3/kv/range' });
    expect(options.statusCode).toBe(200);
    expect(options.headers['access-control-allow-methods']).toBe('POST, GET, OPTIONS, PUT, DELETE');
  });

  it('a body beyond the gateway limit is refused as the gRPC hop would (429, code 8)', async () => {
    const { app, server } = await makeApp();
    const big = `{"key":"Zm9v","value":"${'A'.repeat(gatewayBodyLimitBytes(maxRequestBytes) + 4)}"}`;
    const { status, json } = await post(app, '/v3/kv/put', big);
    expect(status).toBe(429);
    expect(json.code).toBe(8);
    expect(server.calls).toHaveLength(0);
  });
});

describe('streams', () => {
  async function served() {
    const made = await makeApp();
    const listener = await listen(made.app);
    cleanups.push(() => listener.close(), () => made.app.close());
    return { ...made, port: listener.port };
  }

  it('watch: the create request reaches the stream; responses are {"result":…} lines held open; closing the socket closes the stream', async () => {
    const { server, port } = await served();
    const stream = openStream(port, '/v3/watch', '{"create_request":{"key":"Zm9v","prev_kv":true,"start_revision":"3"}}');
    await until(() => server.watchStreams[0]?.commands.length === 1);
    const watch = server.watchStreams[0]!;
    expect(watch.commands[0]).toMatchObject({ create: { key: Buffer.from('foo'), prevKv: true, startRevision: 3 } });
    const base = { watchId: 0, created: false, canceled: false, compactRevision: 0, cancelReason: '', fragment: false, events: [] };
    watch.send({ ...base, revision: 7, created: true });
    watch.send({ ...base, revision: 8, events: [{ type: 1, kv: { ...kv('foo', '', 0), modRevision: 8, version: 0, value: Buffer.alloc(0) } }] });
    expect(await stream.status).toBe(200);
    await until(() => stream.lines.length === 2);
    expect(JSON.parse(stream.lines[0]!)).toEqual({ result: { header: { cluster_id: '18364758544493064720', member_id: '9007199254740993', revision: '7', raft_term: '7' }, created: true } });
    expect(JSON.parse(stream.lines[1]!).result.events).toEqual([{ type: 'DELETE', kv: { key: 'Zm9v', mod_revision: '8' } }]);
    expect(watch.closed).toBe(false);
    stream.abort();
    await until(() => watch.closed);
  });

  it('watch: an empty request keeps the stream open and silent; garbage is UNKNOWN (500) as from etcd', async () => {
    const { app, server } = await served();
    const garbage = await app.inject({ method: 'POST', url: '/v3/watch', payload: 'garbage' });
    expect(garbage.statusCode).toBe(500);
    expect(JSON.parse(garbage.body)).toMatchObject({ code: 2, error: "invalid character 'g' looking for beginning of value" });
    expect(server.watchStreams).toHaveLength(0);
    const { port } = await listen(app).then((listener) => { cleanups.push(() => listener.close()); return listener; });
    const silent = openStream(port, '/v3/watch', '{}');
    cleanups.push(() => silent.abort());
    await until(() => server.watchStreams.length === 1);
    let answered = false;
    void silent.status.then(() => { answered = true; });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(answered).toBe(false);
    expect(server.watchStreams[0]!.commands).toEqual([]);
  });

  it('lease keepalive: one request, one result line, then the stream ends; errors end it with an error chunk', async () => {
    const { app, server } = await makeApp();
    const ok = await app.inject({ method: 'POST', url: '/v3/lease/keepalive', payload: '{"ID":"80"}' });
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toBe(`${JSON.stringify({ result: { header: { cluster_id: '18364758544493064720', member_id: '9007199254740993', revision: '6', raft_term: '7' }, ID: '80', TTL: '10' } })}\n`);
    expect(server.calls[0]).toMatchObject({ method: 'leaseKeepAlive', args: [80n, {}] });
    server.answers.leaseKeepAlive = () => { throw new EtcdError('NoLeader'); };
    const failed = await app.inject({ method: 'POST', url: '/v3/lease/keepalive', payload: '{"ID":"80"}' });
    expect(failed.statusCode).toBe(503);
    expect(JSON.parse(failed.body)).toEqual({ error: { grpc_code: 14, http_code: 503, message: 'etcdserver: no leader', http_status: 'Service Unavailable' } });
  });

  it('snapshot: every chunk becomes a result line with its blob in base64, then the stream ends', async () => {
    const { app, server } = await makeApp();
    server.snapshotChunks = [
      { header: header(6), remainingBytes: 3, blob: Buffer.from('abc') },
      { header: header(6), remainingBytes: 0, blob: Buffer.from('de') },
    ];
    const response = await app.inject({ method: 'POST', url: '/v3/maintenance/snapshot', payload: '{}' });
    expect(response.statusCode).toBe(200);
    expect(response.body.split('\n')).toEqual(['{"result":{"remaining_bytes":"3","blob":"YWJj"}}', '{"result":{"blob":"ZGU="}}', '']);
    expect(server.snapshotReturned).toBe(true);
  });
});

describe('shutdown', () => {
  it('closeHttpApp ends open watch streams and closes their sockets', async () => {
    const { app, server } = await makeApp();
    const listener = await listen(app);
    cleanups.push(() => listener.close());
    const stream = openStream(listener.port, '/v3/watch', '{"create_request":{"key":"Zm9v"}}');
    await until(() => server.watchStreams[0]?.commands.length === 1);
    await closeHttpApp(app);
    await stream.ended;
    await until(() => server.watchStreams[0]!.closed);
  });
});

describe('ScriptedServer sanity', () => {
  it('is a fresh server per app', async () => {
    const first = await makeApp();
    const second = await makeApp(new ScriptedServer());
    await post(first.app, '/v3/kv/range', '{"key":"Zm9v"}');
    expect(second.server.calls).toHaveLength(0);
  });
});
