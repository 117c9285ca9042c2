// A systemd unit of Type=notify (Debian's etcd.service is one) waits for READY=1 on $NOTIFY_SOCKET
// and kills the service when it never comes. Here a unix datagram socket stands in for systemd
// (python3, which reads such sockets with its standard library); the server must send READY=1 from
// its own process once it serves clients. Against etcd-ts, or a real etcd 3.4 with COMPAT_SELF_CHECK=1.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, test } from 'vitest';
import { etcdctl, makeTempDir, selfCheck, startServerUnderTest } from '../helpers/index.js';
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
});
