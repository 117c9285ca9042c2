// Owns DNS SRV bootstrap (`--discovery-srv <domain>`): `_etcd-server-ssl[-<suffix>]._tcp.<domain>`
// (https) and `_etcd-server[-<suffix>]._tcp.<domain>` (http) name the peers; the target whose address
// is one of our advertised peer URLs' addresses gets our name, the others are named 0, 1, ….
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';

export interface SrvDiscoveryOptions {
  domain: string;
  /** --discovery-srv-name: a suffix to the service names. */
  serviceSuffix: string;
  name: string;
  advertisePeerUrls: readonly string[];
  /** DNS servers (`host` or `host:port`); the system's when empty. */
  dnsServers?: readonly string[];
  timeoutMs?: number;
}

/** More SRV answers than this for one cluster is a misconfigured zone, not a cluster. */
export const srvTargetsMax = 64;

/** The DNS servers ETCD_TS_DISCOVERY_DNS_SERVERS names (`host` or `host:port`, comma-separated); none: the system's. */
export function configuredDnsServers(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.ETCD_TS_DISCOVERY_DNS_SERVERS ?? '').split(',').filter((server) => server !== '');
}

/** A resolver for SRV discovery: these servers, or the system's when none are given. */
export function srvResolver(dnsServers: readonly string[] = [], timeoutMs = 5_000): Resolver {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
  if (dnsServers.length > 0) resolver.setServers([...dnsServers]);
  return resolver;
}

export async function discoverSrvCluster(options: SrvDiscoveryOptions): Promise<Array<{ name: string; peerUrls: string[] }>> {
  const resolver = srvResolver(options.dnsServers, options.timeoutMs);
  const addressOf = async (host: string): Promise<string | undefined> => {
    const bare = host.replace(/\.$/, '').replace(/^\[|\]$/g, '');
    if (isIP(bare)) return bare;
    const found = await resolver.resolve4(bare).catch(() => [] as string[]);
    return found[0];
  };
  const own = new Map<string, URL>();
  for (const text of options.advertisePeerUrls) {
    const url = new URL(text);
    const address = await addressOf(url.hostname);
    if (address) own.set(`${address}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`, url);
  }
  const suffix = options.serviceSuffix ? `-${options.serviceSuffix}` : '';
  const parts: string[] = [];
  const errors: string[] = [];
  let tempName = 0;
  for (const [service, scheme] of [[`etcd-server-ssl${suffix}`, 'https'], [`etcd-server${suffix}`, 'http']] as const) {
    let records;
    try {
      records = await resolver.resolveSrv(`_${service}._tcp.${options.domain}`);
    } catch (error) {
      errors.push(`_${service}._tcp.${options.domain}: ${(error as Error).message}`);
      continue;
    }
    for (const record of records.slice(0, srvTargetsMax)) {
      const target = record.name.replace(/\.$/, '');
      const address = await addressOf(target);
      if (!address) {
        errors.push(`${target}: no address`);
        continue;
      }
      const mine = own.get(`${address}:${record.port}`);
      if (mine && mine.protocol !== `${scheme}:`) {
        throw new Error(`bootstrap at ${scheme}://${target}:${record.port} from DNS for ${service} has scheme mismatch with expected peer ${mine.href}`);
      }
      const memberName = mine ? options.name : String(tempName++);
      parts.push(`${memberName}=${scheme}://${target}:${record.port}`);
    }
  }
  if (parts.length === 0) throw new Error(`error querying DNS SRV records for ${options.domain}: ${errors.join('; ')}`);
  const byName = new Map<string, string[]>();
  for (const part of parts) {
    const at = part.indexOf('=');
    byName.set(part.slice(0, at), [...(byName.get(part.slice(0, at)) ?? []), part.slice(at + 1)]);
  }
  return [...byName].map(([name, peerUrls]) => ({ name, peerUrls }));
}
