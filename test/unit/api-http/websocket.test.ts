// WebSocket on the gateway paths against the real server process (etcd-ts, or etcd 3.4 with
// COMPAT_SELF_CHECK=1, which is how the framing asserted here was taken from etcd): one socket
// carries several WatchRequests and keep-alives; each answer is one text message.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { selfCheck, startServerUnderTest, type EtcdProcess } from '../../helpers/index.js';

let server: EtcdProcess;
const b64 = (text: string) => Buffer.from(text).toString('base64');

interface Recorded {
  socket: WebSocket;
  messages: string[];
  closed: Promise<number>;
  opened: Promise<void>;
}

function connect(path: string): Recorded {
  const socket = new WebSocket(`ws://127.0.0.1:${server.clientPort}${path}`);
  const messages: string[] = [];
  socket.on('message', (data) => messages.push(data.toString()));
  socket.on('error', () => undefined);
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  const opened = new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return { socket, messages, closed, opened };
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function post(path: string, body: unknown): Promise<Record<string, any>> {
  const response = await fetch(`${server.clientUrl}${path}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  return await response.json() as Record<string, any>;
}

const parsed = (recorded: Recorded) => recorded.messages.map((text) => JSON.parse(text) as Record<string, any>);

describe(`WebSocket on the v3 gateway (${selfCheck ? 'real etcd' : 'etcd-ts'})`, () => {
  beforeAll(async () => {
    server = await startServerUnderTest({ name: 'ws' });
  });
  afterAll(async () => {
    await server?.stop();
  });

  test('watch: create, create, progress and cancel over one socket; events keep coming; each answer one {"result"} message', async () => {
    const put = await post('/v3/kv/put', { key: b64('ws/a'), value: b64('1') });
    const putRevision = Number(put.header.revision);
    const watch = connect('/v3/watch');
    await watch.opened;
    watch.socket.send(JSON.stringify({ create_request: { key: b64('ws/a'), start_revision: String(putRevision) } }));
    watch.socket.send(JSON.stringify({ create_request: { key: b64('ws/b') } }));
    await until(() => watch.messages.length >= 3);
    watch.socket.send(JSON.stringify({ progress_request: {} }));
    await until(() => watch.messages.length >= 4);
    watch.socket.send(JSON.stringify({ cancel_request: { watch_id: '0' } }));
    await until(() => watch.messages.length >= 5);
    await post('/v3/kv/put', { key: b64('ws/b'), value: b64('2') });
    await post('/v3/kv/put', { key: b64('ws/a'), value: b64('ignored: watch 0 is canceled') });
    await until(() => watch.messages.length >= 6);
    await new Promise((resolve) => setTimeout(resolve, 200));

    const results = parsed(watch).map((message) => message.result as Record<string, any>);
    expect(parsed(watch).every((message) => Object.keys(message).join() === 'result')).toBe(true);
    // The first create answers watch_id 0 (omitted as a default), then its history event arrives.
    const created = results.filter((result) => result.created === true);
    expect(created.map((result) => result.watch_id ?? '0').sort()).toEqual(['0', '1']);
    const history = results.find((result) => result.events?.[0]?.kv?.key === b64('ws/a'));
    expect(history?.events[0].kv.value).toBe(b64('1'));
    expect(results.find((result) => result.watch_id === '-1' && result.events === undefined)).toBeDefined();
    expect(results.find((result) => result.canceled === true)?.watch_id ?? '0').toBe('0');
    const live = results.filter((result) => result.events?.[0]?.kv?.key === b64('ws/b'));
    expect(live).toHaveLength(1);
    expect(live[0]!.watch_id).toBe('1');
    expect(results.some((result) => result.events?.[0]?.kv?.value === b64('ignored: watch 0 is canceled'))).toBe(false);
    watch.socket.close();
    await watch.closed;
  });

  test('lease keepalive: every message is renewed and answered in order; a message that does not decode ends the stream', async () => {
    const grant = await post('/v3/lease/grant', { TTL: 30 });
    const keepAlive = connect('/v3/lease/keepalive');
    await keepAlive.opened;
    keepAlive.socket.send(JSON.stringify({ ID: grant.ID }));
    keepAlive.socket.send(JSON.stringify({ ID: grant.ID }));
    keepAlive.socket.send(JSON.stringify({ ID: '12345' }));
    await until(() => keepAlive.messages.length >= 3);
    const results = parsed(keepAlive).map((message) => message.result as Record<string, any>);
    expect(results.map((result) => result.ID)).toEqual([grant.ID, grant.ID, '12345']);
    expect(results.map((result) => result.TTL)).toEqual(['30', '30', undefined]);
    keepAlive.socket.send('not json');
    // etcd's proxy drops the TCP connection without a close frame: 1006 at the client.
    expect(await keepAlive.closed).toBe(1006);
    expect(keepAlive.messages).toHaveLength(3);
  });

  test('a unary path answers its first message with the plain JSON answer and drops the connection', async () => {
    await post('/v3/kv/put', { key: b64('ws/u'), value: b64('v') });
    const range = connect('/v3/kv/range');
    await range.opened;
    range.socket.send(JSON.stringify({ key: b64('ws/u') }));
    expect(await range.closed).toBe(1006);
    expect(range.messages).toHaveLength(1);
    const answer = JSON.parse(range.messages[0]!) as Record<string, any>;
    expect(answer.kvs[0].value).toBe(b64('v'));
    expect(answer.result).toBeUndefined();
  });

  test('a first watch message that does not decode answers the gateway error body (code 2) and closes', async () => {
    const watch = connect('/v3/watch');
    await watch.opened;
    watch.socket.send('nope');
    expect(await watch.closed).toBe(1006);
    expect(watch.messages).toHaveLength(1);
    const body = JSON.parse(watch.messages[0]!) as Record<string, any>;
    expect(body.code).toBe(2);
    expect(typeof body.error).toBe('string');
    expect(body.message).toBe(body.error);
  });

  test('an unknown gateway path answers "Not Found" as one message', async () => {
    const missing = connect('/v3/nothere');
    await missing.opened;
    missing.socket.send('{}');
    await missing.closed;
    expect(missing.messages).toEqual(['Not Found']);
  });

  test('closing the socket ends the watch: the server keeps serving and a new socket watches again', async () => {
    const first = connect('/v3/watch');
    await first.opened;
    first.socket.send(JSON.stringify({ create_request: { key: b64('ws/c') } }));
    await until(() => first.messages.length >= 1);
    first.socket.terminate();
    await first.closed;
    const second = connect('/v3/watch');
    await second.opened;
    second.socket.send(JSON.stringify({ create_request: { key: b64('ws/c') } }));
    await until(() => second.messages.length >= 1);
    await post('/v3/kv/put', { key: b64('ws/c'), value: b64('x') });
    await until(() => second.messages.length >= 2);
    expect(first.messages).toHaveLength(1);
    second.socket.close();
    await second.closed;
  });
});
