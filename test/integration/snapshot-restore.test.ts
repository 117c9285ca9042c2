// Backup and restore, the operator's way: `etcdctl snapshot save` from a running member, then a
// restore into a new data dir as a member of a new cluster, then a start on it. etcd-ts restores
// with `etcd-ts snapshot restore` (its snapshot files are its own format); with COMPAT_SELF_CHECK=1
// the same steps run against a real etcd 3.4 restored with `etcdctl snapshot restore`, same flags.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import {
  etcdctl, etcdctlPath, etcdTsBinPath, freePort, makeTempDir, selfCheck, startServerUnderTest, type EtcdProcess,
} from '../helpers/index.js';

const started: EtcdProcess[] = [];

afterAll(async () => {
  for (const server of started) await server.stop();
});

/** Runs `snapshot <verb>` of the server under test's tools; bounded in time. */
function snapshotTool(verb: 'restore' | 'status', args: string[]): Promise<{ code: number | null; output: string }> {
  const [command, commandArgs] = selfCheck
    ? [etcdctlPath, ['snapshot', verb, ...args]]
    : [process.execPath, [etcdTsBinPath, 'snapshot', verb, ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(command, commandArgs, { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, output }); });
  });
}

const restore = (args: string[]) => snapshotTool('restore', args);

async function ctlJson<T>(server: EtcdProcess, args: string[]): Promise<T> {
  const result = await etcdctl(server.clientUrl, [...args, '-w', 'json']);
  if (result.exitCode !== 0) throw new Error(`etcdctl ${args.join(' ')}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

describe(`snapshot save and restore (${selfCheck ? 'real etcd, etcdctl snapshot restore' : 'etcd-ts snapshot restore'})`, () => {
  test('a restored member has the keys, their history and the leases, in a new one-member cluster', async () => {
    const original = await startServerUnderTest({ name: 'old' });
    started.push(original);
    expect((await etcdctl(original.clientUrl, ['put', 'backup/a', 'first'])).exitCode).toBe(0);
    const firstRevision = (await ctlJson<{ header: { revision: number } }>(original, ['get', 'backup/a'])).header.revision;
    expect((await etcdctl(original.clientUrl, ['put', 'backup/a', 'second'])).exitCode).toBe(0);
    // Lease ids are 64-bit: read etcdctl's hex, not JSON numbers.
    const granted = await etcdctl(original.clientUrl, ['lease', 'grant', '600']);
    const leaseHex = /lease ([0-9a-f]+) granted/.exec(granted.stdout)?.[1];
    if (leaseHex === undefined) throw new Error(`lease grant: ${granted.stdout}${granted.stderr}`);
    expect((await etcdctl(original.clientUrl, ['put', 'backup/leased', 'x', `--lease=${leaseHex}`])).exitCode).toBe(0);
    const oldStatus = await ctlJson<Array<{ Status: { header: { revision: number; cluster_id: number } } }>>(original, ['endpoint', 'status']);
    const scratch = makeTempDir('snapshot-restore');
    const snapshotFile = join(scratch, 'backup.db');
    expect((await etcdctl(original.clientUrl, ['snapshot', 'save', snapshotFile])).exitCode).toBe(0);
    await original.stop();
    // The file's status: the store's revision, in etcdctl's three formats.
    const json = await snapshotTool('status', [snapshotFile, '-w', 'json']);
    expect(json.code, json.output).toBe(0);
    const fileStatus = JSON.parse(json.output.trim().split('\n').at(-1)!) as Record<string, number>;
    expect(Object.keys(fileStatus)).toEqual(['hash', 'revision', 'totalKey', 'totalSize']);
    expect(fileStatus.revision).toBe(oldStatus[0]!.Status.header.revision);
    expect((await snapshotTool('status', [snapshotFile])).output)
      .toContain(`${fileStatus.hash!.toString(16)}, ${fileStatus.revision}, ${fileStatus.totalKey}, `);
    // The hash column is as wide as the hash's hex digits (no leading zeros), or the title.
    expect((await snapshotTool('status', [snapshotFile, '-w', 'table'])).output).toMatch(/\| +HASH +\| REVISION \| TOTAL KEYS \| TOTAL SIZE \|/);

    const peerPort = await freePort();
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const dataDir = join(scratch, 'restored.etcd');
    const flags = ['--name=restored', `--initial-cluster=restored=${peerUrl}`, '--initial-cluster-token=restored-cluster',
      `--initial-advertise-peer-urls=${peerUrl}`, `--data-dir=${dataDir}`];
    const restored = await restore([snapshotFile, ...flags]);
    expect(restored.code, restored.output).toBe(0);
    // A second restore into the same data dir is refused.
    const again = await restore([snapshotFile, ...flags]);
    expect(again.code).not.toBe(0);
    expect(again.output).toContain('exists');
    expect(existsSync(dataDir)).toBe(true);

    const server = await startServerUnderTest({
      name: 'restored', dataDir, peerPort, extraArgs: ['--initial-cluster-token=restored-cluster'],
    });
    started.push(server);
    const values = await ctlJson<{ kvs: Array<{ key: string; value: string }> }>(server, ['get', '--prefix', 'backup/']);
    expect(values.kvs.map((kv) => [Buffer.from(kv.key, 'base64').toString(), Buffer.from(kv.value, 'base64').toString()])).toEqual([
      ['backup/a', 'second'], ['backup/leased', 'x'],
    ]);
    const history = await ctlJson<{ kvs: Array<{ value: string }> }>(server, ['get', 'backup/a', `--rev=${firstRevision}`]);
    expect(Buffer.from(history.kvs[0]!.value, 'base64').toString()).toBe('first');
    const status = await ctlJson<Array<{ Status: { header: { revision: number; cluster_id: number } } }>>(server, ['endpoint', 'status']);
    expect(status[0]!.Status.header.revision).toBeGreaterThanOrEqual(oldStatus[0]!.Status.header.revision);
    expect(status[0]!.Status.header.cluster_id).not.toBe(oldStatus[0]!.Status.header.cluster_id);
    expect((await etcdctl(server.clientUrl, ['lease', 'list'])).stdout.split('\n')).toContain(leaseHex);
    const members = await etcdctl(server.clientUrl, ['member', 'list']);
    expect(members.stdout.trim().split('\n').map((line) => line.split(', ').slice(2, 4))).toEqual([['restored', peerUrl]]);
    expect((await etcdctl(server.clientUrl, ['put', 'backup/after', 'y'])).exitCode).toBe(0);
  }, 120_000);

  test('three members restored from one file form one cluster with the data', async () => {
    const original = await startServerUnderTest({ name: 'old' });
    started.push(original);
    for (let i = 0; i < 5; i++) expect((await etcdctl(original.clientUrl, ['put', `three/${i}`, `v${i}`])).exitCode).toBe(0);
    const scratch = makeTempDir('snapshot-restore-3');
    const snapshotFile = join(scratch, 'backup.db');
    expect((await etcdctl(original.clientUrl, ['snapshot', 'save', snapshotFile])).exitCode).toBe(0);
    await original.stop();

    const members = await Promise.all(['m1', 'm2', 'm3'].map(async (name) => ({
      name, peerPort: await freePort(), clientPort: await freePort(), dataDir: join(scratch, `${name}.etcd`),
    })));
    const initialCluster = members.map((member) => `${member.name}=http://127.0.0.1:${member.peerPort}`).join(',');
    for (const member of members) {
      const restored = await restore([snapshotFile, `--name=${member.name}`, `--initial-cluster=${initialCluster}`,
        '--initial-cluster-token=three', `--initial-advertise-peer-urls=http://127.0.0.1:${member.peerPort}`, `--data-dir=${member.dataDir}`]);
      expect(restored.code, restored.output).toBe(0);
    }
    // Each waits for a leader, so all three start together.
    const servers = await Promise.all(members.map((member) => startServerUnderTest({
      name: member.name, dataDir: member.dataDir, peerPort: member.peerPort, clientPort: member.clientPort,
      extraArgs: [`--initial-cluster=${initialCluster}`, '--initial-cluster-token=three'],
    })));
    started.push(...servers);
    expect((await etcdctl(servers[0]!.clientUrl, ['put', 'three/after', 'y'])).exitCode).toBe(0);
    for (const server of servers) {
      const got = await etcdctl(server.clientUrl, ['get', '--prefix', 'three/', '--print-value-only']);
      expect(got.stdout.trim().split('\n')).toEqual(['v0', 'v1', 'v2', 'v3', 'v4', 'y']);
      const list = await etcdctl(server.clientUrl, ['member', 'list']);
      expect(list.stdout.trim().split('\n').map((line) => line.split(', ')[2]).sort()).toEqual(['m1', 'm2', 'm3']);
    }
  }, 120_000);
});
