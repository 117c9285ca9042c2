// etcd-ts over TLS with real etcdctl and openssl-made certificates: a member with client-cert-auth
// (put/get/endpoint status/snapshot save; no certificate, another CA's certificate and plain text all
// refused while the member keeps serving), --auto-tls, and a 3-member cluster whose peers talk
// https with mutual authentication and replicate.
import { spawn } from 'node:child_process';
import https from 'node:https';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { etcdctl } from '../helpers/etcdctl.js';
import { etcdTsBinPath } from '../helpers/etcd-process.js';
import { freePort } from '../helpers/ports.js';
import { makeTempDir, registerChild } from '../helpers/process-registry.js';
import { makeTestPki, read, type TestPki } from '../unit/tls/tls-helpers.js';

const outputTailCharsMax = 64 * 1024;
const startTimeoutMs = 30_000;

interface Member {
  pid: number;
  name: string;
  clientUrl: string;
  dataDir: string;
  output(): string;
  stop(): Promise<void>;
}

const members: Member[] = [];
afterAll(async () => {
  await Promise.all(members.map((member) => member.stop()));
});

function spawnMember(name: string, args: string[], dataDir: string, clientUrl: string): Member {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('ETCD')) env[key] = value;
  const child = spawn(process.execPath, [etcdTsBinPath, `--name=${name}`, `--data-dir=${dataDir}`, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error('could not spawn etcd-ts');
  registerChild(child);
  let tail = '';
  const append = (chunk: Buffer) => {
    tail += chunk.toString('utf8');
    if (tail.length > outputTailCharsMax) tail = tail.slice(-outputTailCharsMax);
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pid = child.pid;
  const member: Member = {
    pid, name, clientUrl, dataDir,
    output: () => tail,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
        const timer = setTimeout(() => { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }, 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
  members.push(member);
  return member;
}

async function waitHealthy(member: Member, tlsArgs: string[]): Promise<void> {
  const deadline = Date.now() + startTimeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const result = await etcdctl(member.clientUrl, [...tlsArgs, '--dial-timeout=1s', '--command-timeout=2s', 'endpoint', 'health'], { timeoutMs: 5000 });
    if (result.exitCode === 0) return;
    last = result.stderr;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${member.name} not healthy: ${last}\n${member.output()}`);
}

let pki: TestPki;
const clientTls = () => [`--cacert=${pki.caFile}`, `--cert=${pki.clientCertFile}`, `--key=${pki.clientKeyFile}`];

describe('TLS', () => {
  beforeAll(() => {
    pki = makeTestPki();
  });

  test('one member with --client-cert-auth: etcdctl with a CA-signed certificate works; others are refused', async () => {
    const clientPort = await freePort();
    const peerPort = await freePort();
    const clientUrl = `https://127.0.0.1:${clientPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const dir = makeTempDir('tls-one');
    const member = spawnMember('n1', [
      `--listen-client-urls=${clientUrl}`, `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`, `--initial-advertise-peer-urls=${peerUrl}`, `--initial-cluster=n1=${peerUrl}`,
      `--cert-file=${pki.serverCertFile}`, `--key-file=${pki.serverKeyFile}`, `--trusted-ca-file=${pki.caFile}`, '--client-cert-auth',
    ], join(dir, 'n1.etcd'), clientUrl);
    await waitHealthy(member, clientTls());

    expect(await etcdctl(clientUrl, [...clientTls(), 'put', 'foo', 'bar'])).toMatchObject({ exitCode: 0, stdout: 'OK\n' });
    expect(await etcdctl(clientUrl, [...clientTls(), 'get', 'foo'])).toMatchObject({ exitCode: 0, stdout: 'foo\nbar\n' });
    const status = await etcdctl(clientUrl, [...clientTls(), 'endpoint', 'status']);
    expect(status.exitCode, status.stderr).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`^${clientUrl}, [0-9a-f]+, `));
    const snapshotFile = join(dir, 'snap.db');
    const snapshot = await etcdctl(clientUrl, [...clientTls(), 'snapshot', 'save', snapshotFile]);
    expect(snapshot.exitCode, snapshot.stderr).toBe(0);
    expect(statSync(snapshotFile).size).toBeGreaterThan(0);

    const refusedArgs = ['--dial-timeout=1s', '--command-timeout=2s', 'get', 'foo'];
    const noCert = await etcdctl(clientUrl, [`--cacert=${pki.caFile}`, ...refusedArgs], { timeoutMs: 10_000 });
    expect(noCert.exitCode).not.toBe(0);
    expect(noCert.stdout).not.toContain('bar');
    const foreign = await etcdctl(clientUrl, [`--cacert=${pki.caFile}`, `--cert=${pki.foreignClientCertFile}`, `--key=${pki.foreignClientKeyFile}`, ...refusedArgs], { timeoutMs: 10_000 });
    expect(foreign.exitCode).not.toBe(0);
    expect(foreign.stdout).not.toContain('bar');
    // Revoking is the CA's business: the same client certificate is fine without a CRL (above).
    const plain = await etcdctl(`http://127.0.0.1:${clientPort}`, refusedArgs, { timeoutMs: 10_000 });
    expect(plain.exitCode).not.toBe(0);
    const plainHttp = await fetch(`http://127.0.0.1:${clientPort}/health`);
    expect(plainHttp.status).toBe(400);
    expect(await plainHttp.text()).toBe('Client sent an HTTP request to an HTTPS server.\n');

    expect(member.output()).toMatch(/"reason":"the client sent no certificate and one is required[^"]*","msg":"rejected connection: TLS handshake failed"/);
    expect(member.output()).toMatch(/"reason":"the client certificate is not signed by a trusted CA[^"]*","msg":"rejected connection: TLS handshake failed"|certificate[^"]*","msg":"rejected connection: TLS handshake failed"/);
    // Still serving after every refusal.
    expect(await etcdctl(clientUrl, [...clientTls(), 'get', 'foo', '--print-value-only'])).toMatchObject({ exitCode: 0, stdout: 'bar\n' });
    await member.stop();
  });

  test('--auto-tls: a self-signed certificate in <data-dir>/fixtures/client serves etcdctl --insecure-skip-tls-verify', async () => {
    const clientPort = await freePort();
    const peerPort = await freePort();
    const clientUrl = `https://127.0.0.1:${clientPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const dataDir = join(makeTempDir('tls-auto'), 'n1.etcd');
    const member = spawnMember('n1', [
      `--listen-client-urls=${clientUrl}`, `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`, `--initial-advertise-peer-urls=${peerUrl}`, `--initial-cluster=n1=${peerUrl}`, '--auto-tls',
    ], dataDir, clientUrl);
    const skipVerify = ['--insecure-skip-tls-verify', '--insecure-transport=false'];
    await waitHealthy(member, skipVerify);
    expect(await etcdctl(clientUrl, [...skipVerify, 'put', 'k', 'v'])).toMatchObject({ exitCode: 0, stdout: 'OK\n' });
    expect(await etcdctl(clientUrl, [...skipVerify, 'get', 'k'])).toMatchObject({ exitCode: 0, stdout: 'k\nv\n' });
    expect(existsSync(join(dataDir, 'fixtures', 'client', 'cert.pem'))).toBe(true);
    // Verifying clients refuse a self-signed certificate: it really is TLS with an untrusted cert.
    const verifying = await etcdctl(clientUrl, ['--dial-timeout=1s', '--command-timeout=2s', `--cacert=${pki.caFile}`, 'get', 'k'], { timeoutMs: 10_000 });
    expect(verifying.exitCode).not.toBe(0);
    await member.stop();
  });

  test('three members with peer TLS and --peer-client-cert-auth form a cluster and replicate', async () => {
    const names = ['p1', 'p2', 'p3'];
    const ports = await Promise.all(names.map(async () => ({ client: await freePort(), peer: await freePort() })));
    const initialCluster = names.map((name, i) => `${name}=https://127.0.0.1:${ports[i]!.peer}`).join(',');
    const dir = makeTempDir('tls-peers');
    const started = names.map((name, i) => {
      const clientUrl = `http://127.0.0.1:${ports[i]!.client}`;
      const peerUrl = `https://127.0.0.1:${ports[i]!.peer}`;
      return spawnMember(name, [
        `--listen-client-urls=${clientUrl}`, `--advertise-client-urls=${clientUrl}`,
        `--listen-peer-urls=${peerUrl}`, `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=${initialCluster}`, '--initial-cluster-token=tls-test',
        `--peer-cert-file=${pki.serverCertFile}`, `--peer-key-file=${pki.serverKeyFile}`,
        `--peer-trusted-ca-file=${pki.caFile}`, '--peer-client-cert-auth',
      ], join(dir, `${name}.etcd`), clientUrl);
    });
    await Promise.all(started.map((member) => waitHealthy(member, [])));
    const put = await etcdctl(started[0]!.clientUrl, ['put', 'replicated', 'yes']);
    expect(put, put.stderr).toMatchObject({ exitCode: 0 });
    for (const member of started.slice(1)) {
      // Serializable: answered from the member's own state, so it shows what reached it over https.
      let value = '';
      for (let attempt = 0; attempt < 50 && value !== 'yes\n'; attempt++) {
        value = (await etcdctl(member.clientUrl, ['get', 'replicated', '--print-value-only', '--consistency=s'])).stdout;
        if (value !== 'yes\n') await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(value, member.output()).toBe('yes\n');
    }
    const list = await etcdctl(started[1]!.clientUrl, ['member', 'list']);
    expect(list.stdout.trim().split('\n')).toHaveLength(3);
    expect(list.stdout).toContain(`https://127.0.0.1:${ports[2]!.peer}`);

    // A peer presenting another CA's certificate is refused, logged, and the cluster keeps working.
    const intruder = await new Promise<Error | number>((resolve) => {
      const request = https.request({
        host: '127.0.0.1', port: ports[0]!.peer, path: '/members', method: 'GET',
        ca: read(pki.caFile), cert: read(pki.foreignClientCertFile), key: read(pki.foreignClientKeyFile),
      }, (response) => { response.resume(); resolve(response.statusCode ?? 0); });
      request.on('error', (error) => resolve(error));
      request.end();
    });
    expect(intruder).toBeInstanceOf(Error);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(started[0]!.output()).toMatch(/"reason":"[^"]*","msg":"rejected peer connection: TLS handshake failed"/);
    expect(await etcdctl(started[2]!.clientUrl, ['put', 'after', 'intruder'])).toMatchObject({ exitCode: 0 });
    await Promise.all(started.map((member) => member.stop()));
  });

  test('three members with --peer-auto-tls form a cluster over https and replicate', async () => {
    const names = ['a1', 'a2', 'a3'];
    const ports = await Promise.all(names.map(async () => ({ client: await freePort(), peer: await freePort() })));
    const initialCluster = names.map((name, i) => `${name}=https://127.0.0.1:${ports[i]!.peer}`).join(',');
    const dir = makeTempDir('tls-peer-auto');
    const started = names.map((name, i) => {
      const clientUrl = `http://127.0.0.1:${ports[i]!.client}`;
      const peerUrl = `https://127.0.0.1:${ports[i]!.peer}`;
      return spawnMember(name, [
        `--listen-client-urls=${clientUrl}`, `--advertise-client-urls=${clientUrl}`,
        `--listen-peer-urls=${peerUrl}`, `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=${initialCluster}`, '--initial-cluster-token=tls-auto-test', '--peer-auto-tls',
      ], join(dir, `${name}.etcd`), clientUrl);
    });
    await Promise.all(started.map((member) => waitHealthy(member, [])));
    expect(await etcdctl(started[2]!.clientUrl, ['put', 'auto', 'peers'])).toMatchObject({ exitCode: 0 });
    let value = '';
    for (let attempt = 0; attempt < 50 && value !== 'peers\n'; attempt++) {
      value = (await etcdctl(started[0]!.clientUrl, ['get', 'auto', '--print-value-only', '--consistency=s'])).stdout;
      if (value !== 'peers\n') await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(value, started[0]!.output()).toBe('peers\n');
    expect(existsSync(join(dir, 'a1.etcd', 'fixtures', 'peer', 'cert.pem'))).toBe(true);
    await Promise.all(started.map((member) => member.stop()));
  });
});
