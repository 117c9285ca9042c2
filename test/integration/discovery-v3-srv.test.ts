// Bootstrap through etcd 3.6's v3 discovery and through DNS SRV, end to end with real processes on
// 127.0.0.1: three etcd-ts members find each other through an etcd-ts discovery service (size and
// member keys read and written over its gRPC API), and three through SRV records served by a tiny
// DNS server the test runs (ETCD_TS_DISCOVERY_DNS_SERVERS); each forms one healthy 3-member cluster.
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupAll, etcdctl, freePort, makeTempDir, startEtcdTs, type EtcdProcess } from '../helpers/index.js';
import { startDnsServer } from '../helpers/dns-server.js';

afterAll(async () => { await cleanupAll(); });

interface Spec { name: string; clientPort: number; peerPort: number }

async function specs(): Promise<Spec[]> {
  return Promise.all([1, 2, 3].map(async (i) => ({ name: `m${i}`, clientPort: await freePort(), peerPort: await freePort() })));
}

function startMembers(label: string, members: Spec[], discoveryArgs: string[], env?: Record<string, string>): Promise<EtcdProcess[]> {
  const dir = makeTempDir(label);
  return Promise.all(members.map((spec) => {
    const clientUrl = `http://127.0.0.1:${spec.clientPort}`;
    const peerUrl = `http://127.0.0.1:${spec.peerPort}`;
    return startEtcdTs({
      name: spec.name, clientPort: spec.clientPort, peerPort: spec.peerPort, clientUrlOverride: clientUrl, startTimeoutMs: 45_000, env,
      argsOverride: [
        `--name=${spec.name}`, `--data-dir=${dir}/${spec.name}`, `--listen-client-urls=${clientUrl}`, `--advertise-client-urls=${clientUrl}`,
        `--listen-peer-urls=${peerUrl}`, `--initial-advertise-peer-urls=${peerUrl}`, ...discoveryArgs,
      ],
    });
  }));
}

async function expectHealthyCluster(members: EtcdProcess[], names: string[]): Promise<void> {
  const endpoints = members.map((m) => m.clientUrl).join(',');
  let health = await etcdctl(endpoints, ['endpoint', 'health'], { timeoutMs: 15_000 });
  for (let attempt = 0; attempt < 10 && health.exitCode !== 0; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    health = await etcdctl(endpoints, ['endpoint', 'health'], { timeoutMs: 15_000 });
  }
  const said = health.stdout + health.stderr;
  expect(health.exitCode, `${said}\n${members.map((m) => m.output().slice(-3000)).join('\n----\n')}`).toBe(0);
  expect(said.match(/is healthy/g)).toHaveLength(3);
  // Every member sees the same one cluster.
  const lists = await Promise.all(members.map((m) => etcdctl(m.clientUrl, ['member', 'list'], { timeoutMs: 10_000 })));
  const ids = lists.map((list) => list.stdout.trim().split('\n').map((line) => line.split(', ')[0]).sort().join());
  expect(new Set(ids).size).toBe(1);
  expect(lists[0]!.stdout.trim().split('\n').map((l) => l.split(', ')[2]).sort()).toEqual(names);
  const put = await etcdctl(members[0]!.clientUrl, ['put', 'formed', 'yes']);
  expect(put.exitCode).toBe(0);
  const get = await etcdctl(members[2]!.clientUrl, ['get', 'formed', '--print-value-only']);
  expect(get.stdout.trim()).toBe('yes');
}

/**
 * SRV for _etcd-server._tcp.<domain> with targets written as IP literals (the peers must dial them
 * through the system resolver, which knows nothing of this zone).
 */
function dnsServer(domain: string, ports: number[]) {
  return startDnsServer({ srv: { [`_etcd-server._tcp.${domain}`]: ports.map((port) => ({ target: '127.0.0.1', port })) } });
}

describe('v3 discovery (--discovery-endpoints, --discovery-token)', () => {
  it('three etcd-ts members bootstrap through an etcd-ts discovery service over gRPC', async () => {
    const service = await startEtcdTs({ name: 'disco' });
    const token = `tok${Date.now()}`;
    const size = await etcdctl(service.clientUrl, ['put', `/_etcd/registry/${token}/_config/size`, '3']);
    expect(size.exitCode, size.stderr).toBe(0);
    const members = await startMembers('discovery-v3', await specs(), [`--discovery-endpoints=${service.clientUrl}`, `--discovery-token=${token}`]);
    await expectHealthyCluster(members, ['m1', 'm2', 'm3']);
    // The registry holds exactly the three registrations, each `<name>=<peer url>`.
    const registry = await etcdctl(service.clientUrl, ['get', '--prefix', `/_etcd/registry/${token}/members/`, '--print-value-only']);
    expect(registry.stdout.trim().split('\n').map((v) => v.split('=')[0]).sort()).toEqual(['m1', 'm2', 'm3']);
    for (const member of members) await member.stop();
    await service.stop();
  }, 120_000);
});

describe('DNS SRV discovery (--discovery-srv)', () => {
  it('three etcd-ts members bootstrap from _etcd-server._tcp SRV records', async () => {
    const members = await specs();
    const dns = await dnsServer('cluster.test', members.map((m) => m.peerPort));
    try {
      const started = await startMembers('discovery-srv', members, ['--discovery-srv=cluster.test', '--initial-cluster-token=srv-e2e'],
        { ETCD_TS_DISCOVERY_DNS_SERVERS: dns.address });
      expect(dns.queries).toContain('33 _etcd-server._tcp.cluster.test');
      await expectHealthyCluster(started, ['m1', 'm2', 'm3']);
      for (const member of started) await member.stop();
    } finally {
      dns.close();
    }
  }, 120_000);
});
