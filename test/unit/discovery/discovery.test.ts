// Discovery, joining side, in process: the v2 protocol client against our own v2 API on a socket
// (three members agree, a fourth finds the cluster full, etcd's errors), and DNS SRV against a tiny
// DNS server on 127.0.0.1 answering SRV and A records.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeMemberId } from '../../../src/server/membership.js';
import { V2DiscoveryClient } from '../../../src/discovery/v2-discovery.js';
import { discoverSrvCluster } from '../../../src/discovery/srv.js';
import { urlsMapString, membersFromValues } from '../../../src/discovery/errors.js';
import { resolveInitialCluster } from '../../../src/discovery/resolve.js';
import { parseConfig } from '../../../src/config/index.js';
import { makeTempDir } from '../../helpers/index.js';
import { startDnsServer } from '../../helpers/dns-server.js';
import { v2, type V2Harness } from '../v2/harness.js';
import { startDiscoveryService, type DiscoveryService } from './discovery-service.js';

let service: DiscoveryService;
let h: V2Harness;
beforeAll(async () => {
  service = await startDiscoveryService();
  h = service.harness;
});
afterAll(async () => {
  await service.close();
});

const newToken = (size: string): Promise<string> => service.newToken(size);

function member(url: string, name: string, peer: string): V2DiscoveryClient {
  return new V2DiscoveryClient({ discoveryUrl: url, memberId: computeMemberId([peer], url), selfValue: urlsMapString(name, [peer]), retriesMax: 0 });
}

describe('v2 discovery protocol', () => {
  it('three members register and all see the same three-member cluster; a fourth is refused', async () => {
    const url = await newToken('3');
    const joins = [1, 2, 3].map((i) => member(url, `m${i}`, `http://127.0.0.1:${3000 + i}`).join());
    const clusters = await Promise.all(joins);
    for (const cluster of clusters) {
      expect([...cluster].sort((a, b) => a.name.localeCompare(b.name))).toEqual([1, 2, 3].map((i) => ({ name: `m${i}`, peerUrls: [`http://127.0.0.1:${3000 + i}`] })));
    }
    await expect(member(url, 'm4', 'http://127.0.0.1:3004').join()).rejects.toThrow('discovery: cluster is full');
    // The registry holds each member under its id in hex, with URLsMap's value.
    const id = computeMemberId(['http://127.0.0.1:3001'], url).toString(16);
    const registered = await v2(h.app, 'GET', `${new URL(url).pathname}/${id}`);
    expect(registered.body.node.value).toBe('m1=http://127.0.0.1:3001');
  });

  it("a full cluster is etcd's error whatever the fallback (main() then starts the v2 proxy); a proxy reads the cluster without joining it", async () => {
    const url = await newToken('1');
    await member(url, 'm1', 'http://127.0.0.1:3201').join();
    const configFor = (fallback: string[]) => parseConfig([
      '--name', 'm2', '--data-dir', makeTempDir('discovery-fallback'), '--discovery', url, ...fallback,
      '--initial-advertise-peer-urls', 'http://127.0.0.1:3202', '--listen-peer-urls', 'http://127.0.0.1:3202',
    ], {}).config;
    for (const fallback of [[], ['--discovery-fallback', 'proxy'], ['--discovery-fallback', 'exit']]) {
      await expect(resolveInitialCluster(configFor(fallback))).rejects.toThrow(/^discovery: cluster is full$/);
    }
    const reader = new V2DiscoveryClient({ discoveryUrl: url, memberId: 0n, selfValue: '' });
    expect(await reader.cluster()).toEqual([{ name: 'm1', peerUrls: ['http://127.0.0.1:3201'] }]);
  });

  it('etcd errors: size key not found, duplicate id, bad size', async () => {
    const missing = `http://127.0.0.1:${service.port}/v2/keys/_etcd/registry/nosuchtoken`;
    await expect(member(missing, 'a', 'http://127.0.0.1:3100').join()).rejects.toThrow('discovery: size key not found');
    const url = await newToken('2');
    const first = member(url, 'a', 'http://127.0.0.1:3101');
    const joining = first.join();
    await new Promise((r) => setTimeout(r, 300));
    await expect(member(url, 'a', 'http://127.0.0.1:3101').join()).rejects.toThrow('discovery: found duplicate id');
    // The second member completes the cluster, so the first one's wait ends too.
    const [a, b] = await Promise.all([joining, member(url, 'b', 'http://127.0.0.1:3103').join()]);
    expect(a).toEqual(b);
    const bad = `http://127.0.0.1:${service.port}/v2/keys/_etcd/registry/badsize`;
    await v2(h.app, 'PUT', '/v2/keys/_etcd/registry/badsize/_config/size', { value: 'three' });
    await expect(member(bad, 'a', 'http://127.0.0.1:3102').join()).rejects.toThrow('discovery: size key is bad');
  });

  it('duplicate names among the registered values are refused', () => {
    expect(() => membersFromValues(['a=http://h:1', 'a=http://h:2'], 2)).toThrow('discovery: found duplicate name');
    expect(() => membersFromValues(['a=http://h:1', 'b=http://h:1'], 2)).toThrow('discovery: found duplicate url');
    expect(membersFromValues(['a=http://h:1,a=http://h:3', 'b=http://h:2'], 2)).toEqual([{ name: 'a', peerUrls: ['http://h:1', 'http://h:3'] }, { name: 'b', peerUrls: ['http://h:2'] }]);
  });
});

/** SRV for _etcd-server._tcp.<domain> naming n<i>.<domain>, whose A records are 127.0.0.1. */
function dnsServer(domain: string, targets: Array<{ host: string; port: number }>) {
  return startDnsServer({
    srv: { [`_etcd-server._tcp.${domain}`]: targets.map((t) => ({ target: `${t.host}.${domain}`, port: t.port })) },
    a: targets.map((t) => `${t.host}.${domain}`),
  });
}

describe('DNS SRV discovery', () => {
  it('names our own target by our name and the others 0, 1, … from the SRV answers', async () => {
    const dns = await dnsServer('cluster.test', [{ host: 'n1', port: 4001 }, { host: 'n2', port: 4002 }, { host: 'n3', port: 4003 }]);
    try {
      const cluster = await discoverSrvCluster({
        domain: 'cluster.test', serviceSuffix: '', name: 'me', advertisePeerUrls: ['http://127.0.0.1:4002'], dnsServers: [`127.0.0.1:${dns.port}`], timeoutMs: 1000,
      });
      expect(cluster).toEqual([
        { name: '0', peerUrls: ['http://n1.cluster.test:4001'] },
        { name: 'me', peerUrls: ['http://n2.cluster.test:4002'] },
        { name: '1', peerUrls: ['http://n3.cluster.test:4003'] },
      ]);
      expect(dns.queries).toContain('33 _etcd-server-ssl._tcp.cluster.test');
      await expect(discoverSrvCluster({ domain: 'other.test', serviceSuffix: '', name: 'me', advertisePeerUrls: [], dnsServers: [`127.0.0.1:${dns.port}`], timeoutMs: 500 }))
        .rejects.toThrow(/SRV records for other.test/);
    } finally {
      dns.close();
    }
  });
});
