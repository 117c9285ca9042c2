// Cluster bootstrap discovery end to end with real processes on 127.0.0.1: three real etcd 3.4
// members bootstrapped through etcd-ts's discovery service (/new, v2 keys), and three etcd-ts
// members bootstrapped through an etcd-ts and through a real etcd 3.4 with --enable-v2; each
// forms a healthy 3-member cluster (etcdctl endpoint health on every member, one member list).
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupAll, etcdctl, freePort, makeTempDir, startEtcdTs, startRealEtcd, type EtcdProcess } from '../helpers/index.js';

afterAll(async () => { await cleanupAll(); });

async function newDiscoveryUrl(service: EtcdProcess, size: number, kind: 'etcd' | 'etcd-ts'): Promise<string> {
  if (kind === 'etcd-ts') {
    const response = await fetch(`${service.clientUrl}/new?size=${size}`);
    expect(response.status).toBe(200);
    return response.text();
  }
  // A real etcd has no /new: make the token the way the public service did, through v2 keys.
  const token = `t${Date.now()}`;
  const put = await fetch(`${service.clientUrl}/v2/keys/_etcd/registry/${token}/_config/size`, {
    method: 'PUT', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: `value=${size}`,
  });
  expect(put.status).toBe(201);
  return `${service.clientUrl}/v2/keys/_etcd/registry/${token}`;
}

async function bootstrapThree(kind: 'etcd' | 'etcd-ts', discoveryUrl: string): Promise<EtcdProcess[]> {
  const dir = makeTempDir(`discovery-${kind}`);
  const specs = await Promise.all([1, 2, 3].map(async (i) => ({ name: `m${i}`, clientPort: await freePort(), peerPort: await freePort() })));
  const start = kind === 'etcd' ? startRealEtcd : startEtcdTs;
  return Promise.all(specs.map((spec) => {
    const clientUrl = `http://127.0.0.1:${spec.clientPort}`;
    const peerUrl = `http://127.0.0.1:${spec.peerPort}`;
    return start({
      name: spec.name, clientPort: spec.clientPort, peerPort: spec.peerPort, clientUrlOverride: clientUrl, startTimeoutMs: 45_000,
      argsOverride: [
        `--name=${spec.name}`, `--data-dir=${dir}/${spec.name}`, `--listen-client-urls=${clientUrl}`, `--advertise-client-urls=${clientUrl}`,
        `--listen-peer-urls=${peerUrl}`, `--initial-advertise-peer-urls=${peerUrl}`, `--discovery=${discoveryUrl}`,
      ],
    });
  }));
}

async function expectHealthyCluster(members: EtcdProcess[]): Promise<void> {
  const endpoints = members.map((m) => m.clientUrl).join(',');
  // Followers may still be catching up with the leader's first entries right after the start.
  let health = await etcdctl(endpoints, ['endpoint', 'health'], { timeoutMs: 15_000 });
  for (let attempt = 0; attempt < 10 && health.exitCode !== 0; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    health = await etcdctl(endpoints, ['endpoint', 'health'], { timeoutMs: 15_000 });
  }
  const said = health.stdout + health.stderr;
  expect(health.exitCode, `${said}\n${members.map((m) => m.output().slice(-3000)).join('\n----\n')}`).toBe(0);
  expect(said.match(/is healthy/g)).toHaveLength(3);
  const list = await etcdctl(members[0].clientUrl, ['member', 'list'], { timeoutMs: 10_000 });
  expect(list.stdout.trim().split('\n').map((l) => l.split(', ')[2]).sort()).toEqual(['m1', 'm2', 'm3']);
}

describe('discovery, serving side', () => {
  it('three real etcd 3.4 members bootstrap through etcd-ts /new and v2 keys', async () => {
    const service = await startEtcdTs({ extraArgs: ['--enable-v2'] });
    const url = await newDiscoveryUrl(service, 3, 'etcd-ts');
    expect(url).toMatch(new RegExp(`^${service.clientUrl}/v2/keys/_etcd/registry/[0-9a-f]{32}$`));
    const members = await bootstrapThree('etcd', url);
    await expectHealthyCluster(members);
    // The service holds the three registrations, readable by any v2 client.
    const registry = await (await fetch(url)).json() as { node: { nodes: Array<{ key: string }> } };
    expect(registry.node.nodes.filter((n) => !n.key.endsWith('/_config'))).toHaveLength(3);
    for (const member of members) await member.stop();
  }, 120_000);
});

describe('discovery, joining side', () => {
  it('three etcd-ts members bootstrap through an etcd-ts discovery service', async () => {
    const service = await startEtcdTs({ extraArgs: ['--enable-v2'] });
    const members = await bootstrapThree('etcd-ts', await newDiscoveryUrl(service, 3, 'etcd-ts'));
    await expectHealthyCluster(members);
    for (const member of members) await member.stop();
  }, 120_000);

  it('three etcd-ts members bootstrap through a real etcd 3.4 with --enable-v2', async () => {
    const service = await startRealEtcd({ extraArgs: ['--enable-v2'] });
    const members = await bootstrapThree('etcd-ts', await newDiscoveryUrl(service, 3, 'etcd'));
    await expectHealthyCluster(members);
    for (const member of members) await member.stop();
  }, 120_000);
});
