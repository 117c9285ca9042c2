// Swapping the binary on a data dir that etcd itself wrote: etcd-ts cannot read bbolt and etcd's WAL,
// so it must refuse to start (rather than bootstrap an empty member beside the data), and the
// migration its error suggests — `etcdctl make-mirror` from that etcd into a new etcd-ts — carries
// the keys over. etcd-ts only (the real etcd reads its own dir).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import {
  etcdctl, etcdctlPath, makeTempDir, selfCheck, startEtcdTs, startRealEtcd, type EtcdProcess,
} from '../helpers/index.js';
import { registerChild } from '../helpers/process-registry.js';

const started: EtcdProcess[] = [];

afterAll(async () => {
  for (const server of started) await server.stop();
});

describe.skipIf(selfCheck)("etcd's own data dir", () => {
  test('etcd-ts refuses it with a clear error, and make-mirror moves the keys to a new etcd-ts', async () => {
    const dataDir = join(makeTempDir('etcd-data-dir'), 'old.etcd');
    const etcd = await startRealEtcd({ dataDir });
    started.push(etcd);
    for (let i = 0; i < 5; i++) expect((await etcdctl(etcd.clientUrl, ['put', `mirror/${i}`, `v${i}`])).exitCode).toBe(0);
    await etcd.stop();

    await expect(startEtcdTs({ dataDir, startTimeoutMs: 15_000 })).rejects.toThrow(/was written by etcd \(member\/snap\/db\), which etcd-ts cannot read/);
    // Nothing of etcd-ts's was left in it.
    expect(existsSync(join(dataDir, 'member', 'db'))).toBe(false);
    expect(existsSync(join(dataDir, 'member', 'raft-wal'))).toBe(false);

    const source = await startRealEtcd({ dataDir });
    started.push(source);
    const target = await startEtcdTs({});
    started.push(target);
    const mirror = spawn(etcdctlPath, [`--endpoints=${source.clientUrl}`, 'make-mirror', target.clientUrl.replace(/^http:\/\//, '')], {
      env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    registerChild(mirror);
    try {
      const deadline = Date.now() + 20_000;
      let values: string[] = [];
      while (Date.now() < deadline) {
        values = (await etcdctl(target.clientUrl, ['get', '--prefix', 'mirror/', '--print-value-only'])).stdout.trim().split('\n');
        if (values.length === 5) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(values).toEqual(['v0', 'v1', 'v2', 'v3', 'v4']);
    } finally {
      mirror.kill('SIGTERM');
    }
  }, 90_000);
});
