// Owns turning the discovery flags into the initial cluster before the server starts: --discovery
// (v2 protocol), --discovery-endpoints + --discovery-token (v3), --discovery-srv (DNS SRV). A member
// that already has data ignores discovery, as etcd does. Imports config types and membership ids.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { EtcdConfig } from '../config/types.js';
import { formatEtcdUrl } from '../config/urls.js';
import { computeMemberId } from '../server/membership.js';
import { urlsMapString } from './errors.js';
import { parseDiscoveryProxy } from './http-client.js';
import { configuredDnsServers, discoverSrvCluster } from './srv.js';
import { V2DiscoveryClient } from './v2-discovery.js';
import { joinClusterV3 } from './v3-discovery.js';

export interface ResolvedCluster {
  initialCluster: Array<{ name: string; peerUrls: string[] }>;
  /** Member ids are computed with this token: the discovery URL or token replaces --initial-cluster-token. */
  initialClusterToken: string;
  /** Which method produced it ('initial-cluster' when no discovery flag was used). */
  method: 'initial-cluster' | 'existing-data' | 'discovery' | 'discovery-v3' | 'discovery-srv';
}

export interface ResolveOptions {
  /** DNS servers for --discovery-srv (tests run their own); env ETCD_TS_DISCOVERY_DNS_SERVERS otherwise. */
  dnsServers?: string[];
  log?: (message: string, fields?: Record<string, unknown>) => void;
  signal?: AbortSignal;
}

export async function resolveInitialCluster(config: EtcdConfig, options: ResolveOptions = {}): Promise<ResolvedCluster> {
  const given = {
    initialCluster: config.initialCluster.map((m) => ({ name: m.name, peerUrls: [...m.peerUrls] })),
    initialClusterToken: config.initialClusterToken,
  };
  const { discovery } = config;
  const usesDiscovery = discovery.url !== '' || discovery.srvDomain !== '' || discovery.endpoints.length > 0;
  if (!usesDiscovery || config.initialCluster.length > 0) return { ...given, method: 'initial-cluster' };
  if (existsSync(join(config.dataDir, 'member', 'db'))) return { ...given, method: 'existing-data' };

  const peerUrls = config.initialAdvertisePeerUrls.map(formatEtcdUrl);
  const selfValue = urlsMapString(config.name, peerUrls);
  if (discovery.url !== '') {
    const memberId = computeMemberId(peerUrls, discovery.url);
    options.log?.('joining the cluster through the v2 discovery service', { discovery: discovery.url, 'member-id': memberId.toString(16) });
    const proxy = parseDiscoveryProxy(discovery.proxyUrl);
    if (proxy) options.log?.('running proxy with discovery', { 'proxy-url': redactedUrl(proxy) });
    const client = new V2DiscoveryClient({ discoveryUrl: discovery.url, memberId, selfValue, proxy, log: options.log, signal: options.signal });
    // A full cluster throws DiscoveryError('FullCluster'): main() then runs as a v2 proxy of it
    // with --discovery-fallback=proxy (the default), as etcd does.
    return { initialCluster: await client.join(), initialClusterToken: discovery.url, method: 'discovery' };
  }
  if (discovery.endpoints.length > 0) {
    const memberId = computeMemberId(peerUrls, discovery.token);
    options.log?.('joining the cluster through v3 discovery', { endpoints: discovery.endpoints, 'member-id': memberId.toString(16) });
    const initialCluster = await joinClusterV3({ endpoints: discovery.endpoints, token: discovery.token, memberId, selfValue, signal: options.signal });
    return { initialCluster, initialClusterToken: discovery.token, method: 'discovery-v3' };
  }
  const dnsServers = options.dnsServers ?? configuredDnsServers();
  const initialCluster = await discoverSrvCluster({
    domain: discovery.srvDomain, serviceSuffix: discovery.srvName, name: config.name, advertisePeerUrls: peerUrls, dnsServers,
  });
  if (!initialCluster.some((m) => m.name === config.name)) {
    throw new Error(`cannot find local etcd member "${config.name}" in SRV records for ${discovery.srvDomain}`);
  }
  return { initialCluster, initialClusterToken: config.initialClusterToken, method: 'discovery-srv' };
}

/** A URL as a log may show it: a password in it is replaced by "xxxxx" (Go's URL.Redacted). */
function redactedUrl(url: URL): string {
  if (url.password === '') return url.href;
  const shown = new URL(url.href);
  shown.password = 'xxxxx';
  return shown.href;
}
