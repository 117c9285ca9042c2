// The v2 keys API over a real one-member server: etcd 3.4's answers (bodies, codes, statuses,
// headers) for every operation, v2 writes as seen by v3 clients, TTLs as leases, and watches.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emptyRangeRequest } from '../../../src/mvcc/types.js';
import { listen } from '../api-http/harness.js';
import { startV2Harness, v2, type V2Harness } from './harness.js';

let h: V2Harness;
beforeAll(async () => { h = await startV2Harness(); });
afterAll(async () => { await h.close(); });

function longPoll(port: number, path: string): { status: Promise<number>; headers: Promise<http.IncomingHttpHeaders>; lines: string[]; ended: Promise<void>; abort: () => void } {
  const lines: string[] = [];
  let resolveHeaders!: (h: http.IncomingHttpHeaders) => void;
  let resolveStatus!: (s: number) => void;
  let resolveEnded!: () => void;
  const headers = new Promise<http.IncomingHttpHeaders>((r) => { resolveHeaders = r; });
  const status = new Promise<number>((r) => { resolveStatus = r; });
  const ended = new Promise<void>((r) => { resolveEnded = r; });
  const request = http.get({ host: '127.0.0.1', port, path }, (response) => {
    resolveStatus(response.statusCode ?? 0);
    resolveHeaders(response.headers);
    let pending = '';
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      pending += chunk;
      let at;
      while ((at = pending.indexOf('\n')) >= 0) {
        lines.push(pending.slice(0, at));
        pending = pending.slice(at + 1);
      }
    });
    response.on('end', () => resolveEnded());
    response.on('error', () => resolveEnded());
  });
  request.on('error', () => resolveEnded());
  return { status, headers, lines, ended, abort: () => request.destroy() };
}

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('v2 keys: etcd 3.4 answers', () => {
  it('set, get, errors with codes, statuses and the index header', async () => {
    const missing = await v2(h.app, 'GET', '/v2/keys/a/foo');
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ errorCode: 100, message: 'Key not found', cause: '/a/foo', index: Number(missing.headers['x-etcd-index']) });
    const set = await v2(h.app, 'PUT', '/v2/keys/a/foo', { value: 'bar' });
    expect(set.status).toBe(201);
    const index = set.body.node.modifiedIndex;
    expect(set.body).toEqual({ action: 'set', node: { key: '/a/foo', value: 'bar', modifiedIndex: index, createdIndex: index } });
    expect(set.text.endsWith('}\n')).toBe(true);
    expect(set.headers['x-etcd-index']).toBe(String(index));
    expect(set.headers['x-etcd-cluster-id']).toBe('cdf818194e3a8c32');
    expect(Number(set.headers['x-raft-index'])).toBeGreaterThan(0);
    const again = await v2(h.app, 'PUT', '/v2/keys/a/foo', { value: 'baz' });
    expect(again.status).toBe(200);
    expect(again.body.prevNode).toEqual({ key: '/a/foo', value: 'bar', modifiedIndex: index, createdIndex: index });
    expect((await v2(h.app, 'PUT', '/v2/keys/a/foo?prevValue=zz', { value: 'x' })).body).toMatchObject({ errorCode: 101, cause: '[zz != baz]' });
    expect((await v2(h.app, 'PUT', '/v2/keys/a/foo?prevIndex=1', { value: 'x' })).status).toBe(412);
    expect((await v2(h.app, 'PUT', '/v2/keys/a/foo?prevExist=false', { value: 'x' })).body).toMatchObject({ errorCode: 105, cause: '/a/foo' });
    expect((await v2(h.app, 'PUT', '/v2/keys/a/foo/deeper', { value: 'x' })).body).toMatchObject({ errorCode: 104, cause: '/a/foo' });
    expect((await v2(h.app, 'PUT', '/v2/keys/a', { value: 'x' })).body).toMatchObject({ errorCode: 102, cause: '/a' });
    expect((await v2(h.app, 'PUT', '/v2/keys/', { value: 'x' })).body).toMatchObject({ errorCode: 107, cause: '/' });
    expect((await v2(h.app, 'PUT', '/v2/keys/a/x?ttl=abc', { value: 'x' })).body).toEqual({ errorCode: 202, message: 'The given TTL in POST form is not a number', cause: 'invalid value for "ttl"', index: 0 });
    expect((await v2(h.app, 'GET', '/v2/keys/a?recursive=maybe')).body).toMatchObject({ errorCode: 209, cause: 'invalid value for "recursive"' });
    expect((await v2(h.app, 'PUT', '/v2/keys/a/foo?refresh=true', { value: 'x' })).body).toMatchObject({ errorCode: 211 });
    expect((await v2(h.app, 'PUT', '/v2/keys/a/foo?refresh=true')).body).toMatchObject({ errorCode: 212 });
    const cas = await v2(h.app, 'PUT', `/v2/keys/a/foo?prevValue=baz&prevIndex=${again.body.node.modifiedIndex}`, { value: 'qux' });
    expect(cas.body.action).toBe('compareAndSwap');
    expect((await v2(h.app, 'PUT', '/v2/keys/a/foo?noValueOnSuccess=true', { value: 'v' })).body).toEqual({ action: 'set' });
  });

  it('directories: listing (hidden names left out, sorted, recursive), delete rules, in-order keys', async () => {
    await v2(h.app, 'PUT', '/v2/keys/d/x/y', { value: '1' });
    await v2(h.app, 'PUT', '/v2/keys/d/_hidden', { value: '1' });
    await v2(h.app, 'PUT', '/v2/keys/d/b', { value: '2' });
    const list = await v2(h.app, 'GET', '/v2/keys/d?sorted=true');
    expect(list.body.node.nodes.map((n: { key: string }) => n.key)).toEqual(['/d/b', '/d/x']);
    expect(list.body.node.nodes[1]).not.toHaveProperty('nodes');
    const deep = await v2(h.app, 'GET', '/v2/keys/d?recursive=true&sorted=true');
    expect(deep.body.node.nodes[1].nodes[0]).toMatchObject({ key: '/d/x/y', value: '1' });
    expect((await v2(h.app, 'GET', '/v2/keys/d/_hidden')).body.node.value).toBe('1');
    expect((await v2(h.app, 'DELETE', '/v2/keys/d')).body).toMatchObject({ errorCode: 102 });
    expect((await v2(h.app, 'DELETE', '/v2/keys/d?dir=true')).body).toMatchObject({ errorCode: 108, cause: '/d' });
    const first = await v2(h.app, 'POST', '/v2/keys/queue', { value: 'one' });
    const second = await v2(h.app, 'POST', '/v2/keys/queue', { value: 'two' });
    expect(first.status).toBe(201);
    expect(first.body.action).toBe('create');
    expect(first.body.node.key).toMatch(/^\/queue\/\d{20}$/);
    expect(first.body.node.key < second.body.node.key).toBe(true);
    const gone = await v2(h.app, 'DELETE', '/v2/keys/d?recursive=true');
    expect(gone.body).toMatchObject({ action: 'delete', node: { key: '/d', dir: true }, prevNode: { key: '/d', dir: true } });
    expect((await v2(h.app, 'GET', '/v2/keys/d/x/y')).status).toBe(404);
    expect((await v2(h.app, 'DELETE', '/v2/keys/queue?prevValue=no')).body).toMatchObject({ errorCode: 102 });
  });

  it('a v3 client sees a v2 write under the reserved prefix, with the same revision', async () => {
    const set = await v2(h.app, 'PUT', '/v2/keys/services/web', { value: 'http://10.0.0.1:80' });
    const { result } = await h.server.range(emptyRangeRequest(Buffer.from('/_etcd-ts/v2/k/services/web')));
    expect(result.kvs[0].value.toString()).toBe('http://10.0.0.1:80');
    expect(result.kvs[0].modRevision).toBe(set.body.node.modifiedIndex);
    const marker = await h.server.range(emptyRangeRequest(Buffer.from('/_etcd-ts/v2/k/services/')));
    expect(marker.result.kvs).toHaveLength(1);
  });

  it('a TTL is a lease: the node reports it and the leader expires it', async () => {
    const set = await v2(h.app, 'PUT', '/v2/keys/tmp?ttl=2', { value: 'x' });
    expect(set.body.node.ttl).toBe(2);
    expect(Date.parse(set.body.node.expiration)).toBeGreaterThan(Date.now());
    const { result } = await h.server.range(emptyRangeRequest(Buffer.from('/_etcd-ts/v2/k/tmp')));
    expect(result.kvs[0].lease).not.toBe(0n);
    const deadline = Date.now() + 4000;
    let status = 200;
    while (Date.now() < deadline && status !== 404) {
      await new Promise((r) => setTimeout(r, 200));
      status = (await v2(h.app, 'GET', '/v2/keys/tmp')).status;
    }
    expect(status).toBe(404);
  });

  it('refresh keeps the value and renews the TTL', async () => {
    await v2(h.app, 'PUT', '/v2/keys/svc?ttl=5', { value: 'addr' });
    const refreshed = await v2(h.app, 'PUT', '/v2/keys/svc?ttl=5&refresh=true&prevExist=true');
    expect(refreshed.status).toBe(200);
    expect(refreshed.body).toMatchObject({ action: 'update', node: { key: '/svc', value: 'addr', ttl: 5 } });
    const longer = await v2(h.app, 'PUT', '/v2/keys/svc?ttl=9&refresh=true&prevExist=true');
    expect(longer.body.node).toMatchObject({ value: 'addr', ttl: 9 });
    expect((await v2(h.app, 'PUT', '/v2/keys/nosuch?ttl=5&refresh=true&prevExist=true')).body).toMatchObject({ errorCode: 100 });
  });
});

describe('v2 watches over a socket', () => {
  it('long poll: headers at once, then the next change; recursive; waitIndex from history; stream', async () => {
    const served = await listen(h.app);
    try {
      const poll = longPoll(served.port, '/v2/keys/w/a?wait=true');
      expect(await poll.status).toBe(200);
      const start = Number((await poll.headers)['x-etcd-index']);
      const set = await v2(h.app, 'PUT', '/v2/keys/w/a', { value: '1' });
      await poll.ended;
      expect(JSON.parse(poll.lines[0])).toEqual({ action: 'set', node: { key: '/w/a', value: '1', modifiedIndex: set.body.node.modifiedIndex, createdIndex: set.body.node.modifiedIndex } });
      expect(start).toBeLessThan(set.body.node.modifiedIndex);

      const deep = longPoll(served.port, '/v2/keys/w?wait=true&recursive=true');
      await deep.status;
      await v2(h.app, 'PUT', '/v2/keys/w/_hidden', { value: 'h' });
      await v2(h.app, 'DELETE', '/v2/keys/w/a');
      await deep.ended;
      expect(JSON.parse(deep.lines[0])).toMatchObject({ action: 'delete', node: { key: '/w/a' }, prevNode: { key: '/w/a', value: '1' } });

      const history = longPoll(served.port, `/v2/keys/w/a?wait=true&waitIndex=${set.body.node.modifiedIndex}`);
      await history.ended;
      expect(JSON.parse(history.lines[0])).toMatchObject({ action: 'set', node: { key: '/w/a', modifiedIndex: set.body.node.modifiedIndex } });

      const stream = longPoll(served.port, '/v2/keys/s?wait=true&recursive=true&stream=true');
      await stream.status;
      await v2(h.app, 'PUT', '/v2/keys/s/1', { value: 'a' });
      await v2(h.app, 'PUT', '/v2/keys/s/2?prevExist=false', { value: 'b' });
      await until(() => stream.lines.length >= 2);
      expect(stream.lines.map((l) => JSON.parse(l).action)).toEqual(['set', 'create']);
      stream.abort();
    } finally {
      await served.close();
    }
  });

  it('a waitIndex older than the last 1000 events is error 401', async () => {
    for (let i = 0; i < 1001; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => v2(h.app, 'PUT', `/v2/keys/bulk/${i + j}`, { value: 'x' })));
    const old = await v2(h.app, 'GET', '/v2/keys/bulk?wait=true&waitIndex=1');
    expect(old.status).toBe(400);
    expect(old.body).toMatchObject({ errorCode: 401, message: 'The event in requested index is outdated and cleared' });
    expect(old.body.cause).toMatch(/^the requested history has been cleared \[\d+\/1\]$/);
  });
});

describe('v2 cluster endpoints', () => {
  it('members, machines, stats, and /new for discovery', async () => {
    expect((await v2(h.app, 'GET', '/v2/members')).body).toEqual({ members: [{ id: '8e9e05c52164694d', name: 'default', peerURLs: ['http://localhost:2380'], clientURLs: ['http://localhost:2379'] }] });
    expect((await v2(h.app, 'GET', '/v2/machines')).text).toBe('http://localhost:2379');
    expect((await v2(h.app, 'GET', '/v2/stats/self')).body).toMatchObject({ name: 'default', id: '8e9e05c52164694d', state: 'StateLeader' });
    expect((await v2(h.app, 'GET', '/v2/stats/store')).body.setsSuccess).toBeGreaterThan(0);
    const created = await v2(h.app, 'GET', '/new?size=3');
    const token = created.text.match(/\/v2\/keys\/_etcd\/registry\/([0-9a-f]{32})$/)?.[1];
    expect(token).toBeDefined();
    expect((await v2(h.app, 'GET', `/v2/keys/_etcd/registry/${token}/_config/size`)).body.node.value).toBe('3');
    expect((await v2(h.app, 'GET', '/new?size=zero')).status).toBe(400);
  });
});
