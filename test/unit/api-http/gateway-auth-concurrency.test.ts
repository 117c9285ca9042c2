// The gateway's /v3/auth, /v3/lock and /v3/election paths over a real in-process EtcdServer, with
// the JSON shapes etcd 3.4's gateway answers (captured with curl against /usr/bin/etcd): the
// authenticate → token → Authorization header → range round, lock/unlock with a waiter queued
// behind the holder and leaving when its client hangs up, campaign/leader/proclaim/resign, the
// observe stream, and every lock/election error as code 2 (HTTP 500) with etcd's text.
import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { closeHttpApp, createHttpApp, EtcdMetrics } from '../../../src/api/http/index.js';
import type { EtcdServer } from '../../../src/server/etcd-server.js';
import { leaseHex } from '../../../src/concurrency/index.js';
import { keysUnder, settledWithin, startServer } from '../concurrency/fixture.js';
import { listen, openStream, until } from './harness.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function untilKeyCount(server: EtcdServer, prefix: string, count: number, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await keysUnder(server, prefix)).length !== count) {
    if (Date.now() > deadline) throw new Error(`${prefix} never held ${count} keys`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const b64 = (text: string): string => Buffer.from(text).toString('base64');

async function gatewayOver(server: EtcdServer, withAuth = true): Promise<FastifyInstance> {
  const app = createHttpApp({
    server, auth: withAuth ? server.auth : undefined, maxRequestBytes: 1 << 20, logger: pino({ level: 'silent' }),
    etcdVersion: '3.4.23', metrics: new EtcdMetrics({ etcdVersion: '3.4.23', processMetrics: false }),
  });
  await app.ready();
  cleanups.push(() => closeHttpApp(app));
  return app;
}

async function post(app: FastifyInstance, url: string, body: unknown, token?: string) {
  const response = await app.inject({
    method: 'POST', url, payload: JSON.stringify(body), headers: token === undefined ? {} : { authorization: token },
  });
  return { status: response.statusCode, json: JSON.parse(response.body) as Record<string, any> };
}

const headerShape = { cluster_id: expect.stringMatching(/^\d+$/), member_id: expect.stringMatching(/^\d+$/), revision: expect.stringMatching(/^\d+$/), raft_term: expect.stringMatching(/^\d+$/) };

describe('/v3/auth', () => {
  it('authenticate gives a token that the Authorization header carries into a range', async () => {
    const server = await startServer();
    const app = await gatewayOver(server);
    expect(await post(app, '/v3/kv/put', { key: b64('foo'), value: b64('bar') })).toMatchObject({ status: 200 });
    expect(await post(app, '/v3/auth/user/add', { name: 'root', password: 'pw' })).toEqual({ status: 200, json: { header: headerShape } });
    // etcd 3.4's gateway: FAILED_PRECONDITION is 412 there.
    expect(await post(app, '/v3/auth/user/add', { name: 'root', password: 'pw' })).toEqual({
      status: 412, json: { error: 'etcdserver: user name already exists', message: 'etcdserver: user name already exists', code: 9 },
    });
    await post(app, '/v3/auth/user/grant', { user: 'root', role: 'root' });
    expect((await post(app, '/v3/auth/user/get', { name: 'root' })).json).toEqual({ header: headerShape, roles: ['root'] });
    expect((await post(app, '/v3/auth/user/list', {})).json.users).toEqual(['root']);
    expect(await post(app, '/v3/auth/enable', {})).toMatchObject({ status: 200 });

    expect(await post(app, '/v3/kv/range', { key: b64('foo') })).toEqual({
      status: 400, json: { error: 'etcdserver: user name is empty', message: 'etcdserver: user name is empty', code: 3 },
    });
    expect(await post(app, '/v3/auth/authenticate', { name: 'root', password: 'wrong' })).toMatchObject({
      status: 400, json: { code: 3, error: 'etcdserver: authentication failed, invalid user ID or password' },
    });
    const authenticated = await post(app, '/v3/auth/authenticate', { name: 'root', password: 'pw' });
    expect(authenticated).toEqual({ status: 200, json: { header: headerShape, token: expect.stringMatching(/^[A-Za-z]{16}\.\d+/) } });
    const token = authenticated.json.token as string;

    const range = await post(app, '/v3/kv/range', { key: b64('foo') }, token);
    expect(range.status).toBe(200);
    expect(range.json.kvs).toEqual([{ key: b64('foo'), create_revision: '2', mod_revision: '2', version: '1', value: b64('bar') }]);
    expect(await post(app, '/v3/kv/range', { key: b64('foo') }, 'bogus.token')).toEqual({
      status: 401, json: { error: 'etcdserver: invalid auth token', message: 'etcdserver: invalid auth token', code: 16 },
    });
    expect((await post(app, '/v3/auth/status', {}, token)).json).toMatchObject({ enabled: true });
    expect(await post(app, '/v3/auth/disable', {}, token)).toMatchObject({ status: 200 });
    expect((await post(app, '/v3/auth/status', {})).json.enabled).toBeUndefined();
  });

  it('roles: permissions as etcd writes them (enum names, base64 keys, range_end), revoke and delete', async () => {
    const server = await startServer();
    const app = await gatewayOver(server);
    await post(app, '/v3/auth/role/add', { name: 'r1' });
    await post(app, '/v3/auth/role/grant', { name: 'r1', perm: { permType: 'READWRITE', key: b64('foo'), range_end: b64('fop') } });
    expect((await post(app, '/v3/auth/role/get', { role: 'r1' })).json).toEqual({
      header: headerShape, perm: [{ permType: 'READWRITE', key: b64('foo'), range_end: b64('fop') }],
    });
    expect((await post(app, '/v3/auth/role/list', {})).json.roles).toEqual(['r1']);
    await post(app, '/v3/auth/user/add', { name: 'u', password: 'p' });
    await post(app, '/v3/auth/user/grant', { user: 'u', role: 'r1' });
    expect(await post(app, '/v3/auth/user/revoke', { name: 'u', role: 'r1' })).toMatchObject({ status: 200 });
    expect((await post(app, '/v3/auth/user/get', { name: 'u' })).json.roles).toBeUndefined();
    await post(app, '/v3/auth/role/revoke', { role: 'r1', key: b64('foo'), range_end: b64('fop') });
    expect(Object.keys((await post(app, '/v3/auth/role/get', { role: 'r1' })).json)).toEqual(['header']);
    expect(await post(app, '/v3/auth/role/delete', { role: 'r1' })).toMatchObject({ status: 200 });
    expect(await post(app, '/v3/auth/role/delete', { role: 'r1' })).toMatchObject({
      status: 412, json: { code: 9, error: 'etcdserver: role name not found' },
    });
    expect(await post(app, '/v3/auth/user/changepw', { name: 'u', password: 'q' })).toMatchObject({ status: 200 });
    expect(await post(app, '/v3/auth/user/delete', { name: 'u' })).toMatchObject({ status: 200 });
    expect((await post(app, '/v3/auth/user/list', {})).json.users).toBeUndefined();
  });

  it('without an Auth API the paths answer as a server that never registered the service', async () => {
    const server = await startServer();
    const app = await gatewayOver(server, false);
    expect(await post(app, '/v3/auth/authenticate', { name: 'root', password: 'x' })).toEqual({
      status: 501, json: { error: 'unknown service etcdserverpb.Auth', message: 'unknown service etcdserverpb.Auth', code: 12 },
    });
  });
});

describe('/v3/lock', () => {
  it('lock answers name/hex(lease); a second session waits until unlock', async () => {
    const server = await startServer();
    const app = await gatewayOver(server);
    const first = (await post(app, '/v3/lease/grant', { TTL: 60 })).json.ID as string;
    const second = (await post(app, '/v3/lease/grant', { TTL: 60 })).json.ID as string;
    const held = await post(app, '/v3/lock/lock', { name: b64('mylock'), lease: first });
    expect(held).toEqual({ status: 200, json: { header: headerShape, key: b64(`mylock/${leaseHex(BigInt(first))}`) } });

    const waiting = post(app, '/v3/lock/lock', { name: b64('mylock'), lease: second });
    expect(await settledWithin(waiting, 300)).toBe('pending');
    expect(await post(app, '/v3/lock/unlock', { key: held.json.key })).toEqual({ status: 200, json: { header: headerShape } });
    expect((await waiting).json.key).toBe(b64(`mylock/${leaseHex(BigInt(second))}`));
  });

  it('a waiter whose client hangs up leaves the queue', async () => {
    const server = await startServer();
    const app = await gatewayOver(server);
    const { port, close } = await listen(app);
    cleanups.push(close);
    const holder = (await post(app, '/v3/lease/grant', { TTL: 60 })).json.ID as string;
    const quitter = (await post(app, '/v3/lease/grant', { TTL: 60 })).json.ID as string;
    await post(app, '/v3/lock/lock', { name: b64('q'), lease: holder });
    const stream = openStream(port, '/v3/lock/lock', JSON.stringify({ name: b64('q'), lease: quitter }));
    await untilKeyCount(server, 'q/', 2);
    stream.abort();
    await untilKeyCount(server, 'q/', 1);
    expect((await keysUnder(server, 'q/')).map((kv) => kv.key.toString())).toEqual([`q/${leaseHex(BigInt(holder))}`]);
  });

  it('errors are code 2 with the text, as etcd 3.4 answers an unknown lease', async () => {
    const server = await startServer();
    const app = await gatewayOver(server);
    expect(await post(app, '/v3/lock/lock', { name: b64('mylock'), lease: '12345' })).toEqual({
      status: 500,
      json: { error: 'etcdserver: requested lease not found', message: 'etcdserver: requested lease not found', code: 2 },
    });
  });
});

describe('/v3/election', () => {
  it('campaign, leader, proclaim and resign answer etcd 3.4 shapes; errors are code 2', async () => {
    const server = await startServer();
    const app = await gatewayOver(server);
    expect(await post(app, '/v3/election/leader', { name: b64('ele') })).toEqual({
      status: 500, json: { error: 'election: no leader', message: 'election: no leader', code: 2 },
    });
    const lease = (await post(app, '/v3/lease/grant', { TTL: 60 })).json.ID as string;
    const campaign = await post(app, '/v3/election/campaign', { name: b64('ele'), lease, value: b64('v1') });
    const key = b64(`ele/${leaseHex(BigInt(lease))}`);
    const rev = campaign.json.header.revision as string;
    expect(campaign).toEqual({ status: 200, json: { header: headerShape, leader: { name: b64('ele'), key, rev, lease } } });
    expect((await post(app, '/v3/election/leader', { name: b64('ele') })).json).toEqual({
      header: headerShape, kv: { key, create_revision: rev, mod_revision: rev, version: '1', value: b64('v1'), lease },
    });

    const missing = '"leader" field must be provided';
    expect(await post(app, '/v3/election/proclaim', { value: b64('v2') })).toEqual({ status: 500, json: { error: missing, message: missing, code: 2 } });
    expect(await post(app, '/v3/election/resign', {})).toEqual({ status: 500, json: { error: missing, message: missing, code: 2 } });
    expect(await post(app, '/v3/election/proclaim', { leader: { name: b64('ele'), key: b64('x'), rev: '1', lease }, value: b64('v2') }))
      .toMatchObject({ status: 500, json: { error: 'election: not leader', code: 2 } });

    expect(await post(app, '/v3/election/proclaim', { leader: campaign.json.leader, value: b64('v2') })).toMatchObject({ status: 200 });
    expect((await post(app, '/v3/election/leader', { name: b64('ele') })).json.kv.value).toBe(b64('v2'));
    expect(await post(app, '/v3/election/resign', { leader: campaign.json.leader })).toEqual({ status: 200, json: { header: headerShape } });
    expect((await post(app, '/v3/election/leader', { name: b64('ele') })).json.error).toBe('election: no leader');
  });

  it('observe streams {"result": ...} lines, one per leader change, nothing before the first', async () => {
    const server = await startServer();
    const app = await gatewayOver(server);
    const { port, close } = await listen(app);
    cleanups.push(close);
    const lease = (await post(app, '/v3/lease/grant', { TTL: 60 })).json.ID as string;
    const observer = openStream(port, '/v3/election/observe', JSON.stringify({ name: b64('obs') }));
    cleanups.push(() => observer.abort());
    // Nothing goes out before the first leader: the observer waits.
    expect(await settledWithin(observer.status, 200)).toBe('pending');

    const campaign = await post(app, '/v3/election/campaign', { name: b64('obs'), lease, value: b64('a') });
    expect(await observer.status).toBe(200);
    await until(() => observer.lines.length === 1);
    const first = JSON.parse(observer.lines[0]!) as Record<string, any>;
    expect(first).toEqual({ result: { header: headerShape, kv: expect.objectContaining({ key: b64(`obs/${leaseHex(BigInt(lease))}`), value: b64('a') }) } });

    await post(app, '/v3/election/proclaim', { leader: campaign.json.leader, value: b64('b') });
    await until(() => observer.lines.length === 2);
    expect(JSON.parse(observer.lines[1]!).result.kv.value).toBe(b64('b'));
  });
});
