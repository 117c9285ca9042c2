// --force-new-cluster, the disaster-recovery runbook: a 3-member cluster loses two members for good;
// the survivor restarts with --force-new-cluster and becomes a one-member cluster with all its data;
// it stays one on a plain restart; a new member then joins it and gets the data. Run against
// etcd-ts, or a real etcd 3.4 with COMPAT_SELF_CHECK=1.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { selfCheck } from '../helpers/index.js';
import { TestCluster, type ClusterMember } from '../helpers/cluster.js';

let cluster: TestCluster;
const keys = 20;

beforeAll(async () => {
  cluster = await TestCluster.start({ size: 3 });
}, 60_000);

afterAll(async () => {
  await cluster?.close();
});

async function memberNames(via: ClusterMember): Promise<string[]> {
  const result = await cluster.ctl(via, ['member', 'list']);
  if (result.exitCode !== 0) throw new Error(`member list failed: ${result.stderr}`);
  return result.stdout.trim().split('\n').map((line) => line.split(', ')[2] ?? '').sort();
}

async function values(via: ClusterMember, consistency: 'l' | 's' = 'l'): Promise<string[]> {
  const result = await cluster.ctl(via, ['get', '--prefix', 'recover/', '--print-value-only', `--consistency=${consistency}`], 5);
  if (result.exitCode !== 0) throw new Error(`get failed: ${result.stderr}`);
  return result.stdout.trim().split('\n').filter((line) => line !== '');
}

describe(`--force-new-cluster (${selfCheck ? 'real etcd' : 'etcd-ts'})`, () => {
  test('the survivor of a lost quorum becomes a one-member cluster with its data, and a new member can join it', async () => {
    const [survivor, lostA, lostB] = cluster.members as [ClusterMember, ClusterMember, ClusterMember];
    for (let i = 0; i < keys; i++) {
      const put = await cluster.ctl(cluster.members[i % 3]!, ['put', `recover/${String(i).padStart(2, '0')}`, `v${i}`]);
      expect(put.exitCode).toBe(0);
    }
    const expected = Array.from({ length: keys }, (_, i) => `v${i}`);
    // Every member has applied every put before they go.
    for (const member of cluster.members) expect(await values(member, 's')).toEqual(expected);

    await cluster.stop(lostA);
    await cluster.stop(lostB);
    await cluster.stop(survivor);
    await cluster.restart(survivor, 'health', ['--force-new-cluster']);
    expect(await memberNames(survivor)).toEqual([survivor.name]);
    expect(await values(survivor)).toEqual(expected);
    expect((await cluster.ctl(survivor, ['put', 'recover/99', 'after'])).exitCode).toBe(0);

    // The flag did its work once: a plain restart finds a one-member cluster.
    await cluster.stop(survivor);
    await cluster.restart(survivor, 'health');
    expect(await memberNames(survivor)).toEqual([survivor.name]);
    expect(await values(survivor)).toEqual([...expected, 'after']);

    const joined = await cluster.addMember('n4', survivor, { learner: false });
    await cluster.waitReady(joined, 'health');
    expect(await memberNames(joined)).toEqual([survivor.name, 'n4'].sort());
    expect(await values(joined)).toEqual([...expected, 'after']);
  }, 120_000);
});
