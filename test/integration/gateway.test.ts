// `etcd-ts gateway start`, etcd's L4 gateway, on 127.0.0.1: etcdctl through it reaches an etcd-ts
// and a real etcd 3.4 as if directly; an endpoint that refuses the dial is set aside (the client's
// connection goes to the next) and taken back once it answers, after --retry-delay; its flag
// errors are etcd's, compared with the real `etcd gateway start`.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  etcdctl, etcdTsBinPath, freePort, realEtcdPath, selfCheck, sleep, startEtcdTs, startRealEtcd, type EtcdProcess,
} from '../helpers/index.js';
import { startDnsServer } from '../helpers/dns-server.js';
import { registerChild } from '../helpers/process-registry.js';

interface Gateway {
  port: number;
  output: () => string;
  stop: () => Promise<void>;
}

/** Spawns `<bin> gateway start <args>`, collecting what it prints. */
function spawnGateway(bin: string[], args: string[], env: Record<string, string> = {}) {
  const child = spawn(bin[0]!, [...bin.slice(1), 'gateway', 'start', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  registerChild(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  // 'close', not 'exit': by then everything it printed has been read.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

/** Runs the gateway on a free port until stop(); resolves once it logs that it is ready. */
async function startGateway(bin: string[], args: string[], env: Record<string, string> = {}): Promise<Gateway> {
  const port = await freePort();
  const { child, exited, output } = spawnGateway(bin, ['--listen-addr', `127.0.0.1:${port}`, ...args], env);
  const deadline = Date.now() + 10_000;
  while (!output().includes('ready to proxy client requests')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`gateway did not start:\n${output()}`);
    await sleep(50);
  }
  return {
    port,
    output,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Runs the gateway to its exit: the code and everything it printed. */
async function runGateway(bin: string[], args: string[]): Promise<{ code: number | null; output: string }> {
  const { child, exited, output } = spawnGateway(bin, args);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const code = await exited;
  clearTimeout(timer);
  return { code, output: output() };
}

const etcdTsBin = [process.execPath, etcdTsBinPath];

describe('etcd-ts gateway start', () => {
  let server: EtcdProcess;
  let realEtcd: EtcdProcess | undefined;
  beforeAll(async () => {
    server = await startEtcdTs();
    if (!selfCheck) realEtcd = await startRealEtcd();
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    await realEtcd?.stop();
  });

  it('proxies etcdctl to etcd-ts and to a real etcd, passing over an endpoint that refuses, taking it back once it answers', async () => {
    for (const target of [server, realEtcd].filter((t): t is EtcdProcess => t !== undefined)) {
      const deadPort = await freePort();
      const gateway = await startGateway(etcdTsBin, ['--endpoints', `127.0.0.1:${deadPort},${target.clientUrl}`, '--retry-delay', '300ms']);
      try {
        const via = `127.0.0.1:${gateway.port}`;
        // Round robin starts at the first endpoint: it refuses, so the connection goes to the second.
        expect((await etcdctl(via, ['put', `gw/${target.kind}`, 'through'])).exitCode).toBe(0);
        expect((await etcdctl(via, ['get', `gw/${target.kind}`, '--print-value-only'])).stdout.trim()).toBe('through');
        expect((await etcdctl(target.clientUrl, ['get', `gw/${target.kind}`, '--print-value-only'])).stdout.trim()).toBe('through');
        expect(gateway.output()).toContain(`"address":"127.0.0.1:${deadPort}"`);
        expect(gateway.output()).toContain('deactivated endpoint');
        // A listener on the dead port: the next retry finds it and takes it back.
        const revived = net.createServer((socket) => socket.destroy());
        await new Promise<void>((resolve) => revived.listen(deadPort, '127.0.0.1', resolve));
        try {
          const deadline = Date.now() + 5_000;
          while (!gateway.output().includes('"msg":"activated"') && Date.now() < deadline) await sleep(50);
          expect(gateway.output()).toMatch(new RegExp(`"address":"127.0.0.1:${deadPort}","msg":"activated"`));
        } finally {
          await new Promise<void>((resolve) => revived.close(() => resolve()));
        }
      } finally {
        await gateway.stop();
      }
    }
  }, 60_000);

  it('with --discovery-srv proxies to the _etcd-client SRV records of the domain, the lowest priority first', async () => {
    const deadPort = await freePort();
    const dns = await startDnsServer({
      srv: {
        // The preferred class (priority 0) refuses; the gateway falls back to priority 10.
        '_etcd-client._tcp.gw.test': [
          { target: '127.0.0.1', port: deadPort, priority: 0, weight: 0 },
          { target: '127.0.0.1', port: server.clientPort, priority: 10, weight: 0 },
        ],
      },
    });
    try {
      const gateway = await startGateway(etcdTsBin, ['--discovery-srv', 'gw.test', '--insecure-discovery'], { ETCD_TS_DISCOVERY_DNS_SERVERS: dns.address });
      try {
        expect((await etcdctl(`127.0.0.1:${gateway.port}`, ['put', 'gw/srv', 'found'])).exitCode).toBe(0);
        expect((await etcdctl(server.clientUrl, ['get', 'gw/srv', '--print-value-only'])).stdout.trim()).toBe('found');
        expect(gateway.output()).toContain('discovered cluster from SRV');
        expect(gateway.output()).toContain(`"address":"127.0.0.1:${deadPort}"`);
        expect(dns.queries).toEqual(expect.arrayContaining(['33 _etcd-client-ssl._tcp.gw.test', '33 _etcd-client._tcp.gw.test']));
      } finally {
        await gateway.stop();
      }
      // Without --insecure-discovery the http records are reported as insecure, and still used (as in etcd 3.4).
      const checked = await startGateway(etcdTsBin, ['--discovery-srv', 'gw.test'], { ETCD_TS_DISCOVERY_DNS_SERVERS: dns.address });
      try {
        expect(checked.output()).toContain('failed to validate discovered endpoints');
        expect(checked.output()).toContain('is insecure');
        expect((await etcdctl(`127.0.0.1:${checked.port}`, ['get', 'gw/srv', '--print-value-only'])).stdout.trim()).toBe('found');
      } finally {
        await checked.stop();
      }
    } finally {
      dns.close();
    }
  }, 60_000);

  it("refuses etcd's bad flags with etcd's words and exit codes", async () => {
    const cases = [
      ['--endpoints', 'nohostport'],
      ['--listen-addr', '127.0.0.1:23799', '--endpoints', '127.0.0.1:23799'],
      ['--bogus'],
      ['--retry-delay', 'xyz'],
    ];
    for (const args of cases) {
      const ours = await runGateway(etcdTsBin, args);
      expect(ours.code).toBe(1);
      if (selfCheck) continue;
      const theirs = await runGateway([realEtcdPath], args);
      expect(theirs.code).toBe(1);
      // The first line: the error itself (the usage after it names the binary).
      expect(ours.output.split('\n')[0]).toBe(theirs.output.split('\n')[0]);
    }
  }, 60_000);
});
