// Owns the decision, from a member's whole configuration, of which side needs TLS: the client side
// when a --listen-client-urls (or -http-urls / metrics) entry is https, the peer side when any peer URL (its own or another
// member's) is https. Certificates given for a side that has no https URL are ignored, as etcd does.
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { EtcdConfig } from '../config/types.js';
import { tlsProtocolOptions } from './cipher-suites.js';
import { loadEndpointTls, type EndpointTls, type TlsRole } from './endpoint-tls.js';

export interface MemberTls {
  client?: EndpointTls;
  peer?: EndpointTls;
}

const isSecure = (url: URL): boolean => url.protocol === 'https:' || url.protocol === 'unixs:';

function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

export function loadTlsForUrls(config: EtcdConfig, logger: Logger): MemberTls {
  const protocol = tlsProtocolOptions(config.tls.cipherSuites, config.tls.minVersion, config.tls.maxVersion);
  const peerUrls = [
    ...config.listenPeerUrls, ...config.initialAdvertisePeerUrls,
    ...config.initialCluster.flatMap((member) => member.peerUrls.map((url) => new URL(url))),
  ];
  const sides: Array<{ role: TlsRole; urls: URL[]; hostUrls: URL[] }> = [
    {
      role: 'client',
      // HTTP-only and metrics listeners use the client certificates too (as in etcd).
      urls: [...config.listenClientUrls, ...config.listenClientHttpUrls, ...config.listenMetricsUrls],
      hostUrls: [...config.listenClientUrls, ...config.listenClientHttpUrls, ...config.advertiseClientUrls],
    },
    { role: 'peer', urls: peerUrls, hostUrls: [...config.listenPeerUrls, ...config.initialAdvertisePeerUrls] },
  ];
  const result: MemberTls = {};
  for (const { role, urls, hostUrls } of sides) {
    const endpoint = config.tls[role];
    const httpsUrl = urls.find(isSecure);
    if (httpsUrl === undefined) {
      if (endpoint.certFile !== '' || endpoint.keyFile !== '' || endpoint.autoTls) {
        logger.warn({ role }, `${role} URLs are all http while TLS certificates or auto TLS are configured for them; ignoring the TLS settings`);
      }
      continue;
    }
    result[role] = loadEndpointTls({
      role,
      endpoint,
      protocol,
      autoTlsDir: join(config.dataDir, 'fixtures', role),
      autoTlsHosts: [...new Set(hostUrls.map(hostOf))],
      selfSignedCertValidityYears: config.tls.selfSignedCertValidityYears,
      skipClientSanVerification: config.tls.peerSkipClientSanVerification,
      httpsUrl: httpsUrl.href,
      logger: logger.child({ component: 'tls', role }),
    });
  }
  return result;
}
