// Owns `etcd-ts gateway start`: etcd's L4 gateway, with etcd's flags, messages and exit codes. The
// endpoints come from --endpoints (URLs or host:port) or, with --discovery-srv, from the
// _etcd-client-ssl and _etcd-client SRV records of that domain, all of them, as etcd 3.4 takes
// them: its check of the discovered endpoints (https, and reachable, unless --insecure-discovery)
// is logged and changes nothing.
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { parseGoDurationMs } from '../config/duration.js';
import { configuredDnsServers, srvResolver } from '../discovery/srv.js';
import { createLogger } from '../logging.js';
import { sdNotify } from '../systemd-notify.js';
import { dial, joinHostPort, TcpProxy, type ProxyEndpoint } from './tcp-proxy.js';

interface GatewayFlags {
  'listen-addr': string;
  endpoints: string[];
  'discovery-srv': string;
  'discovery-srv-name': string;
  'insecure-discovery': boolean;
  'trusted-ca-file': string;
  'retry-delay': number;
}

const defaults = (): GatewayFlags => ({
  'listen-addr': '127.0.0.1:23790', endpoints: [], 'discovery-srv': '', 'discovery-srv-name': '', 'insecure-discovery': false,
  'trusted-ca-file': '', 'retry-delay': 60_000,
});

const gatewayUsage = `gateway related command

Usage:
  etcd-ts gateway [command]

Available Commands:
  start       start the gateway

Flags:
  -h, --help   help for gateway

Use "etcd-ts gateway [command] --help" for more information about a command.
`;

const startUsage = `start the gateway

Usage:
  etcd-ts gateway start [flags]

Flags:
      --discovery-srv string        DNS domain used to bootstrap initial cluster
      --discovery-srv-name string   service name to query when using DNS discovery
      --endpoints strings           comma separated etcd cluster endpoints (default [127.0.0.1:2379])
  -h, --help                        help for start
      --insecure-discovery          accept insecure SRV records
      --listen-addr string          listen address (default "127.0.0.1:23790")
      --retry-delay duration        duration of delay before retrying failed endpoints (default 1m0s)
      --trusted-ca-file string      path to the client server TLS CA file for verifying the discovered endpoints when discovery-srv is provided.
`;

class UsageError extends Error {}

/** cobra's (pflag's) syntax: `--flag value`, `--flag=value`, booleans bare; a repeated --endpoints adds. */
function parseStartFlags(args: readonly string[]): GatewayFlags | 'help' {
  const flags = defaults();
  let endpointsGiven = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-h' || arg === '--help') return 'help';
    if (!arg.startsWith('-')) throw new UsageError(`unknown command "${arg}" for "etcd-ts gateway start"`);
    const body = arg.replace(/^--?/, '');
    const equalsAt = body.indexOf('=');
    const name = equalsAt === -1 ? body : body.slice(0, equalsAt);
    if (!(name in flags)) throw new UsageError(`unknown flag: --${name}`);
    const key = name as keyof GatewayFlags;
    if (key === 'insecure-discovery') {
      const text = equalsAt === -1 ? 'true' : body.slice(equalsAt + 1);
      if (text !== 'true' && text !== 'false') throw new UsageError(`invalid argument "${text}" for "--${name}" flag: strconv.ParseBool: parsing "${text}": invalid syntax`);
      flags[key] = text === 'true';
      continue;
    }
    const value = equalsAt === -1 ? args[++i] : body.slice(equalsAt + 1);
    if (value === undefined) throw new UsageError(`flag needs an argument: --${name}`);
    if (key === 'endpoints') {
      flags.endpoints = [...(endpointsGiven ? flags.endpoints : []), ...value.split(',').filter((ep) => ep !== '')];
      endpointsGiven = true;
    } else if (key === 'retry-delay') {
      try {
        flags[key] = parseGoDurationMs(value);
      } catch (error) {
        throw new UsageError(`invalid argument "${value}" for "--${name}" flag: ${(error as Error).message}`);
      }
    } else {
      flags[key] = value;
    }
  }
  if (!endpointsGiven) flags.endpoints = ['127.0.0.1:2379'];
  return flags;
}

/** A host:port from an endpoint: a URL's host (port written out), or the text itself (etcd strips the scheme). */
function stripScheme(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return endpoint;
  }
  if (url.host === '') return endpoint;
  const defaultPort = url.protocol === 'https:' ? '443' : url.protocol === 'http:' ? '80' : '';
  return `${url.hostname}:${url.port || defaultPort}`;
}

function splitHostPort(text: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  if (!match) return undefined;
  const port = Number(match[3]);
  return port <= 65535 ? { host: match[1] ?? match[2]!, port } : undefined;
}

/** The client SRV records of the --discovery-srv domain, as etcd's gateway reads them, and their URLs. */
async function discoverClientEndpoints(flags: GatewayFlags): Promise<{ records: ProxyEndpoint[]; urls: string[] }> {
  const resolver = srvResolver(configuredDnsServers());
  const suffix = flags['discovery-srv-name'] ? `-${flags['discovery-srv-name']}` : '';
  const records: ProxyEndpoint[] = [];
  const urls: string[] = [];
  const failures: string[] = [];
  for (const [service, scheme] of [[`etcd-client-ssl${suffix}`, 'https'], [`etcd-client${suffix}`, 'http']] as const) {
    const name = `_${service}._tcp.${flags['discovery-srv']}`;
    try {
      for (const record of await resolver.resolveSrv(name)) {
        const host = record.name.replace(/\.$/, '');
        records.push({ host, port: record.port, priority: record.priority, weight: record.weight });
        urls.push(`${scheme}://${joinHostPort(host, record.port)}`);
      }
    } catch (error) {
      failures.push(`${name}: ${(error as Error).message}`);
    }
  }
  if (records.length === 0) throw new Error(`dns lookup errors: ${failures.join(' and ')}`);
  return { records, urls };
}

/**
 * etcd's check of discovered endpoints: each must be https and answer a TCP dial (etcd's transport
 * dials them plainly); a --trusted-ca-file that cannot be read fails them all. The reasons, or
 * undefined when all passed.
 */
async function discoveredEndpointProblems(urls: readonly string[], caFile: string): Promise<string | undefined> {
  if (caFile !== '') {
    try {
      readFileSync(caFile);
    } catch (error) {
      return (error as Error).message;
    }
  }
  const problems: string[] = [];
  for (const text of urls) {
    const url = new URL(text);
    if (url.protocol !== 'https:') {
      problems.push(`${JSON.stringify(text)} is insecure`);
      continue;
    }
    try {
      (await dial(url.hostname.replace(/^\[|\]$/g, ''), Number(url.port), 5_000)).destroy();
    } catch (error) {
      problems.push(`${JSON.stringify(text)} failed to dial (${(error as Error).message})`);
    }
  }
  return problems.length > 0 ? problems.join(',') : undefined;
}

/** etcd-ts gateway …: returns the exit code once the gateway stops (SIGTERM, SIGINT). */
export async function gatewayCommand(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb !== 'start') {
    if (verb === undefined || verb === '-h' || verb === '--help') {
      out.write(gatewayUsage);
      return 0;
    }
    err.write(`Error: unknown command "${verb}" for "etcd-ts gateway"\nRun 'etcd-ts gateway --help' for usage.\n`);
    return 1;
  }
  let flags: GatewayFlags | 'help';
  try {
    flags = parseStartFlags(rest);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    err.write(`Error: ${error.message}\n${startUsage.slice(startUsage.indexOf('Usage:'))}`);
    return 1;
  }
  if (flags === 'help') {
    out.write(startUsage);
    return 0;
  }
  const logger = createLogger({ logLevel: 'info', logOutputs: ['stderr'] });

  // Discovered SRV records are the endpoints when there are any; otherwise --endpoints.
  let endpoints: ProxyEndpoint[] = [];
  const domain = flags['discovery-srv'];
  if (domain !== '') {
    let discovered: { records: ProxyEndpoint[]; urls: string[] };
    try {
      discovered = await discoverClientEndpoints(flags);
    } catch (error) {
      err.write(`${(error as Error).message}\n`);
      return 1;
    }
    logger.info({ 'srv-server': domain, endpoints: discovered.urls }, 'discovered cluster from SRV');
    if (!flags['insecure-discovery']) {
      logger.info({ 'srv-server': domain, endpoints: discovered.urls }, 'validating discovered SRV endpoints');
      const problems = await discoveredEndpointProblems(discovered.urls, flags['trusted-ca-file']);
      if (problems === undefined) logger.info({ 'srv-server': domain, endpoints: discovered.urls }, 'using validated discovered SRV endpoints');
      else logger.warn({ 'srv-server': domain, error: problems }, 'failed to validate discovered endpoints');
    }
    endpoints = discovered.records;
  }
  if (endpoints.length === 0) {
    for (const endpoint of flags.endpoints.map(stripScheme)) {
      const parsed = splitHostPort(endpoint);
      if (parsed === undefined) {
        out.write(`error parsing endpoint ${JSON.stringify(endpoint)}`);
        return 1;
      }
      endpoints.push({ ...parsed, priority: 0, weight: 0 });
    }
  }
  if (endpoints.length === 0) {
    out.write('no endpoints found\n');
    return 1;
  }

  const listen = splitHostPort(flags['listen-addr']);
  if (listen === undefined) {
    out.write(`failed to validate listen address: ${flags['listen-addr']}\n`);
    return 1;
  }
  const addressesOf = async (host: string): Promise<string[] | undefined> => {
    try {
      return (await lookup(host, { all: true })).map((entry) => entry.address);
    } catch {
      return undefined;
    }
  };
  const listenAddresses = await addressesOf(listen.host);
  if (listenAddresses === undefined) {
    out.write(`failed to resolve listen host: ${listen.host}\n`);
    return 1;
  }
  // A gateway that proxies to itself would loop every connection back into itself.
  for (const endpoint of endpoints) {
    const addresses = await addressesOf(endpoint.host);
    if (addresses === undefined) {
      out.write(`failed to resolve endpoint host: ${endpoint.host}\n`);
      return 1;
    }
    if (endpoint.port !== listen.port) continue;
    const loop = addresses.find((address) => listenAddresses.includes(address));
    if (loop !== undefined) {
      out.write(`SRV or endpoint (${endpoint.host}:${endpoint.port}->${loop}:${endpoint.port}) should not resolve to the gateway listen addr (${flags['listen-addr']})\n`);
      return 1;
    }
  }

  const proxy = new TcpProxy({ endpoints, retryDelayMs: flags['retry-delay'] > 0 ? flags['retry-delay'] : 5 * 60_000, logger });
  try {
    await proxy.listen(listen.host, listen.port);
  } catch (error) {
    err.write(`${(error as Error).message}\n`);
    return 1;
  }
  // Listening: systemd may go on (etcd notifies here too).
  await sdNotify('READY=1', logger);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await proxy.close();
  return 0;
}
