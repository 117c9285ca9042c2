// The peer proxy on its own, with this test process as member "a" and a TCP echo server as member
// "b": connections are attributed to the pid that opened them, a one-way cut holds bytes back
// until the heal (then they arrive intact), and an isolation drops open connections and refuses
// new ones until the heal.
import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { sleep } from '../helpers/cluster.js';
import { PeerProxy } from '../helpers/peer-proxy.js';

let echo: Server;
let proxy: PeerProxy;
let proxyPort: number;
const sockets: Socket[] = [];

beforeEach(async () => {
  echo = createServer((socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => echo.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const address = echo.address();
  if (address === null || typeof address === 'string') throw new Error('no echo address');
  proxy = new PeerProxy();
  proxyPort = await proxy.addTarget('b', address.port);
  proxy.setPid('a', process.pid);
});

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await proxy.close();
  await new Promise<void>((resolve) => echo.close(() => resolve()));
});

async function connect(): Promise<{ socket: Socket; received: () => string; closed: () => boolean }> {
  const socket = createConnection({ host: '127.0.0.1', port: proxyPort });
  sockets.push(socket);
  let text = '';
  let isClosed = false;
  socket.on('data', (chunk: Buffer) => { text += chunk.toString('utf8'); });
  socket.on('error', () => undefined);
  socket.on('close', () => { isClosed = true; });
  await once(socket, 'connect');
  return { socket, received: () => text, closed: () => isClosed };
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await sleep(10);
  return condition();
}

test('connections are attributed to the opening pid and bytes flow both ways', async () => {
  const connection = await connect();
  connection.socket.write('hello');
  expect(await waitFor(() => connection.received() === 'hello', 2000)).toBe(true);
  expect(proxy.stats()).toMatchObject({ accepted: 1, unattributed: 0, refused: 0 });
});

test('a one-way cut holds bytes back; the heal delivers them intact', async () => {
  const connection = await connect();
  connection.socket.write('before');
  expect(await waitFor(() => connection.received() === 'before', 2000)).toBe(true);
  proxy.cut('a', 'b');
  connection.socket.write('-during');
  expect(await waitFor(() => connection.received().length > 'before'.length, 300)).toBe(false);
  proxy.heal();
  expect(await waitFor(() => connection.received() === 'before-during', 2000)).toBe(true);
  expect(connection.closed()).toBe(false);
});

test('a cut in the other direction holds back only the replies', async () => {
  const connection = await connect();
  proxy.cut('b', 'a');
  connection.socket.write('ping');
  expect(await waitFor(() => connection.received() !== '', 300)).toBe(false);
  proxy.heal();
  expect(await waitFor(() => connection.received() === 'ping', 2000)).toBe(true);
});

test('isolation drops open connections and refuses new ones until the heal', async () => {
  const open = await connect();
  proxy.isolate('b');
  expect(await waitFor(open.closed, 2000)).toBe(true);
  const refused = await connect();
  expect(await waitFor(refused.closed, 2000)).toBe(true);
  expect(proxy.stats().refused).toBeGreaterThanOrEqual(1);
  proxy.heal();
  const healed = await connect();
  healed.socket.write('again');
  expect(await waitFor(() => healed.received() === 'again', 2000)).toBe(true);
});
