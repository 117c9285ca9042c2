// Owns running etcd-ts as etcd 3.4's v2 proxy (`--proxy on|readonly`, or a member that found its
// discovery cluster full with `--discovery-fallback=proxy`): a stateless HTTP front for the
// cluster's members on the client URLs. Where the members are: `<data-dir>/proxy/cluster` once
// written, else the discovery service (`--discovery`), DNS SRV (`--discovery-srv`) or
// `--initial-cluster`; then the members' own list, asked of them every refresh interval.
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { AccessControl } from '../api/http/access-control.js';
import { ClientListeners, http1HandlerFor } from '../api/listener/index.js';
import type { EtcdConfig } from '../config/types.js';
import { formatEtcdUrl } from '../config/urls.js';
import { parseDiscoveryProxy } from '../discovery/http-client.js';
import { configuredDnsServers, discoverSrvCluster } from '../discovery/srv.js';
import { V2DiscoveryClient } from '../discovery/v2-discovery.js';
import type { MemberTls } from '../tls/member-tls.js';
import { readClusterFile, writeClusterFile } from './cluster-file.js';
import { clusterFromPeers, type PeerTlsFiles } from './cluster-members.js';
import { ProxyDirector } from './director.js';
import { ProxyMetrics } from './proxy-metrics.js';
import { createReverseProxy } from './reverse-proxy.js';

export interface ProxySettings {
  mode: 'on' | 'readonly';
  failureWaitMs: number;
  refreshIntervalMs: number;
  dialTimeoutMs: number;
  writeTimeoutMs: number;
  readTimeoutMs: number;
}

export interface RunningProxy {
  /** The bound client URLs (ports resolved). */
  urls: string[];
  stop(): Promise<void>;
}

export async function startProxy(config: EtcdConfig, settings: ProxySettings, memberTls: MemberTls, logger: Logger): Promise<RunningProxy> {
  logger.info('v2 API proxy starting');
  const log = (message: string, fields: Record<string, unknown> = {}) => logger.info(fields, message);
  const warn = (message: string, fields: Record<string, unknown> = {}) => logger.warn(fields, message);
  const dir = join(config.dataDir, 'proxy');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const clusterFile = join(dir, 'cluster');

  let peerUrls = readClusterFile(clusterFile);
  if (peerUrls !== undefined) {
    if (config.discovery.url !== '') warn('discovery token ignored since the proxy has already been initialized; valid cluster file found', { 'cluster-file': clusterFile });
    if (config.discovery.srvDomain !== '') warn('DNS SRV discovery ignored since the proxy has already been initialized; valid cluster file found', { 'cluster-file': clusterFile });
    log('proxy using peer URLS from cluster file', { 'peer-urls': peerUrls, 'cluster-file': clusterFile });
  } else {
    peerUrls = await initialPeerUrls(config);
    log('proxy using peer URLS', { 'peer-urls': peerUrls });
  }

  const peerTls: PeerTlsFiles | undefined = memberTls.peer
    ? { ca: memberTls.peer.outgoing.ca, cert: memberTls.peer.outgoing.cert, key: memberTls.peer.outgoing.key, insecure: !memberTls.peer.outgoing.rejectUnauthorized }
    : undefined;
  const fetchUrls = async (): Promise<string[]> => {
    let cluster;
    try {
      cluster = await clusterFromPeers(peerUrls!, { tls: peerTls });
    } catch (error) {
      warn('failed to get cluster from remote peers', { 'peer-urls': peerUrls, error: (error as Error).message });
      return [];
    }
    try {
      writeClusterFile(clusterFile, cluster.peerUrls);
    } catch (error) {
      warn('proxy failed to write cluster file', { error: (error as Error).message });
      return cluster.clientUrls;
    }
    if (cluster.peerUrls.join(',') !== peerUrls!.join(',')) log('proxy updated peer URLs', { from: peerUrls, to: cluster.peerUrls });
    peerUrls = cluster.peerUrls;
    return cluster.clientUrls;
  };

  const director = new ProxyDirector({ fetchUrls, failureWaitMs: settings.failureWaitMs, refreshIntervalMs: settings.refreshIntervalMs, log });
  await director.start();
  const metrics = new ProxyMetrics();
  // etcd talks to the members with the client TLS files, or the peer ones when there are none.
  const endpointTls = memberTls.client?.outgoing ?? memberTls.peer?.outgoing;
  const handler = createReverseProxy({
    director, metrics, readonly: settings.mode === 'readonly', accessControl: new AccessControl(config.cors),
    dialTimeoutMs: settings.dialTimeoutMs, writeTimeoutMs: settings.writeTimeoutMs, readTimeoutMs: settings.readTimeoutMs,
    tls: endpointTls ? { ca: endpointTls.ca, cert: endpointTls.cert, key: endpointTls.key, insecure: !endpointTls.rejectUnauthorized } : undefined,
    // Room for the largest request a member takes, with its encoding around it.
    requestBytesMax: config.maxRequestBytes * 2 + 1024 * 1024,
    log,
  });
  const serveRequest = (request: http.IncomingMessage, response: http.ServerResponse): void => {
    // /metrics is the proxy's own (etcd serves it beside the proxy on the same port).
    if ((request.url ?? '/').split('?')[0] === '/metrics') {
      void metrics.registry.metrics().then((text) => {
        response.writeHead(200, { 'content-type': metrics.registry.contentType });
        response.end(text);
      }, () => response.writeHead(500).end());
      return;
    }
    handler(request, response);
  };

  // The client listeners of a member, HTTP only: the same TLS handling (client certificates, CRL,
  // Go's answer to plain HTTP on an https port) and connection bound.
  const server = http.createServer(serveRequest);
  // Long polls (?wait=true) and watch streams may stay open for as long as the client likes.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  const listeners = new ClientListeners({ logger, protocols: 'http-only', http1Handler: http1HandlerFor(server) });
  const stop = async () => {
    director.stop();
    await listeners.close();
    server.closeAllConnections();
  };
  const urls: string[] = [];
  try {
    for (const url of config.listenClientUrls) {
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${formatEtcdUrl(url)}: the v2 proxy listens on http and https URLs only`);
      const tls = url.protocol === 'https:' ? memberTls.client?.server : undefined;
      if (url.protocol === 'https:' && tls === undefined) throw new Error(`${formatEtcdUrl(url)}: https needs --cert-file and --key-file`);
      const { port } = await listeners.listen(url.hostname.replace(/^\[|\]$/g, ''), Number(url.port || (tls ? 443 : 80)), { tls });
      const bound = `${url.protocol}//${url.hostname}:${port}`;
      urls.push(bound);
      log('v2 proxy started listening on client requests', { host: bound });
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { urls, stop };
}

/** The peer URLs to ask first, from the discovery flags or --initial-cluster (etcd's PeerURLsMapAndToken("proxy")). */
async function initialPeerUrls(config: EtcdConfig): Promise<string[]> {
  let members: Array<{ name: string; peerUrls: string[] }>;
  if (config.discovery.url !== '') {
    const client = new V2DiscoveryClient({
      discoveryUrl: config.discovery.url, memberId: 0n, selfValue: '', proxy: parseDiscoveryProxy(config.discovery.proxyUrl),
    });
    members = await client.cluster();
  } else if (config.discovery.srvDomain !== '') {
    members = await discoverSrvCluster({
      domain: config.discovery.srvDomain, serviceSuffix: config.discovery.srvName, name: 'proxy',
      advertisePeerUrls: config.initialAdvertisePeerUrls.map(formatEtcdUrl), dnsServers: configuredDnsServers(),
    });
  } else {
    members = config.initialCluster;
  }
  return [...new Set(members.flatMap((member) => member.peerUrls))].sort();
}
