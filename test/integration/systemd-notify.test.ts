// A systemd unit of Type=notify (Debian's etcd.service is one) waits for READY=1 on $NOTIFY_SOCKET
// and kills the service when it never comes. Here a unix datagram socket stands in for systemd
// (python3, which reads such sockets with its standard library); the server must send READY=1 from
// its own process once it serves clients. Against etcd-ts, or a real etcd 3.4 with COMPAT_SELF_CHECK=1.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, test } from 'vitest';
import { etcdctl, etcdTsBinPath, freePort, makeTempDir, selfCheck, startServerUnderTest } from '../helpers/index.js';
import { registerChild } from '../helpers/process-registry.js';

const stops: Array<() => Promise<unknown> | void> = [];

afterAll(async () => {
  for (const stop of stops) await stop();
});

/** A unix datagram socket at `path` that prints each datagram it gets with the sender's pid. */
function fakeSystemd(path: string): { messages: Array<{ pid: number; text: string }>; ready: Promise<void> } {
  const script = [
    'import socket, struct, sys',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    's.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)',
    `s.bind(${JSON.stringify(path)})`,
    'print("listening", flush=True)',
    'while True:',
    '    data, anc, flags, addr = s.recvmsg(4096, socket.CMSG_SPACE(12))',
    '    pid = next((struct.unpack("iII", d)[0] for l, t, d in anc if t == socket.SCM_CREDENTIALS), -1)',
    '    print(pid, data.decode(), flush=True)',
  ].join('\n');
  const child = spawn('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  registerChild(child);
  stops.push(() => { child.kill('SIGTERM'); });
  const messages: Array<{ pid: number; text: string }> = [];
  let resolveReady!: () => void;
  const ready = new Promise<void>((resolve) => { resolveReady = resolve; });
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line === 'listening') { resolveReady(); return; }
    const space = line.indexOf(' ');
    messages.push({ pid: Number(line.slice(0, space)), text: line.slice(space + 1) });
  });
  return { messages, ready };
}

describe(`sd_notify (${selfCheck ? 'real etcd' : 'etcd-ts'})`, () => {
  test('READY=1 reaches $NOTIFY_SOCKET from the server\'s own process once it serves', async () => {
    const socketPath = join(makeTempDir('notify'), 'notify.sock');
    const systemd = fakeSystemd(socketPath);
    await systemd.ready;
    const server = await startServerUnderTest({ env: { NOTIFY_SOCKET: socketPath } });
    stops.push(() => server.stop());
    const deadline = Date.now() + 10_000;
    while (systemd.messages.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(systemd.messages.map((message) => message.text)).toContain('READY=1');
    // systemd's default NotifyAccess=main takes it from the main process only.
    expect(systemd.messages.find((message) => message.text === 'READY=1')!.pid).toBe(server.pid);
    expect((await etcdctl(server.clientUrl, ['put', 'notified', 'yes'])).exitCode).toBe(0);
  }, 60_000);

  // etcd 3.5's --experimental-wait-cluster-ready-timeout (etcd 3.4 waits for readiness forever).
  test.skipIf(selfCheck)('a member without a quorum notifies after --experimental-wait-cluster-ready-timeout, and still serves no client', async () => {
    const dir = makeTempDir('notify-no-quorum');
    const socketPath = join(dir, 'notify.sock');
    const systemd = fakeSystemd(socketPath);
    await systemd.ready;
    const [clientPort, peerPort, otherPeer1, otherPeer2] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const clientUrl = `http://127.0.0.1:${clientPort}`;
    const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: socketPath };
    for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('ETCD_')) env[key] ??= value;
    const child = spawn(process.execPath, [etcdTsBinPath, '--name=a', `--data-dir=${join(dir, 'a.etcd')}`,
      `--listen-client-urls=${clientUrl}`, `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`, `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=a=http://127.0.0.1:${peerPort},b=http://127.0.0.1:${otherPeer1},c=http://127.0.0.1:${otherPeer2}`,
      '--experimental-wait-cluster-ready-timeout=1s'], { stdio: ['ignore', 'pipe', 'pipe'], env });
    registerChild(child);
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    stops.push(async () => { child.kill('SIGKILL'); await exited; });
    const deadline = Date.now() + 15_000;
    while (!systemd.messages.some((m) => m.text === 'READY=1') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(systemd.messages.find((m) => m.text === 'READY=1')?.pid, output).toBe(child.pid);
    expect(output).toContain('startEtcd: timed out waiting for the ready notification');
    expect(output).not.toContain('ready to serve client requests');
    // Readiness still gates the clients: without a quorum the member answers nobody.
    const get = await etcdctl(clientUrl, ['--dial-timeout=1s', '--command-timeout=1s', 'get', 'x'], { timeoutMs: 5000 });
    expect(get.exitCode).not.toBe(0);
  }, 60_000);
});
