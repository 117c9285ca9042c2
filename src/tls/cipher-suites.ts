// Owns --cipher-suites, --tls-min-version and --tls-max-version: etcd takes Go's (IANA) cipher suite
// names and TLS1.2/TLS1.3; node wants OpenSSL names and TLSv1.2/TLSv1.3.
import type { SecureVersion } from 'node:tls';

/** IANA names as Go (and so etcd) spells them ⇒ the OpenSSL names node's `ciphers` option takes. */
const opensslNameByIanaName: ReadonlyMap<string, string> = new Map([
  ['TLS_RSA_WITH_RC4_128_SHA', 'RC4-SHA'],
  ['TLS_RSA_WITH_3DES_EDE_CBC_SHA', 'DES-CBC3-SHA'],
  ['TLS_RSA_WITH_AES_128_CBC_SHA', 'AES128-SHA'],
  ['TLS_RSA_WITH_AES_256_CBC_SHA', 'AES256-SHA'],
  ['TLS_RSA_WITH_AES_128_CBC_SHA256', 'AES128-SHA256'],
  ['TLS_RSA_WITH_AES_128_GCM_SHA256', 'AES128-GCM-SHA256'],
  ['TLS_RSA_WITH_AES_256_GCM_SHA384', 'AES256-GCM-SHA384'],
  ['TLS_ECDHE_ECDSA_WITH_RC4_128_SHA', 'ECDHE-ECDSA-RC4-SHA'],
  ['TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA', 'ECDHE-ECDSA-AES128-SHA'],
  ['TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA', 'ECDHE-ECDSA-AES256-SHA'],
  ['TLS_ECDHE_RSA_WITH_RC4_128_SHA', 'ECDHE-RSA-RC4-SHA'],
  ['TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA', 'ECDHE-RSA-DES-CBC3-SHA'],
  ['TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA', 'ECDHE-RSA-AES128-SHA'],
  ['TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA', 'ECDHE-RSA-AES256-SHA'],
  ['TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256', 'ECDHE-ECDSA-AES128-SHA256'],
  ['TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256', 'ECDHE-RSA-AES128-SHA256'],
  ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'ECDHE-RSA-AES128-GCM-SHA256'],
  ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'ECDHE-ECDSA-AES128-GCM-SHA256'],
  ['TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', 'ECDHE-RSA-AES256-GCM-SHA384'],
  ['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'ECDHE-ECDSA-AES256-GCM-SHA384'],
  ['TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305'],
  ['TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', 'ECDHE-RSA-CHACHA20-POLY1305'],
  ['TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305', 'ECDHE-ECDSA-CHACHA20-POLY1305'],
  ['TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256', 'ECDHE-ECDSA-CHACHA20-POLY1305'],
]);

/**
 * Go never lets a configuration choose TLS 1.3 suites, so a --cipher-suites list restricts TLS 1.2
 * only; node would otherwise read a list without TLS_ suites as "no TLS 1.3 at all".
 */
export const tls13CipherSuites = 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256';

export interface TlsProtocolOptions {
  minVersion: SecureVersion;
  maxVersion: SecureVersion;
  /** Absent: node's default list. */
  ciphers?: string;
}

function secureVersion(flagValue: 'TLS1.2' | 'TLS1.3'): SecureVersion {
  return flagValue === 'TLS1.2' ? 'TLSv1.2' : 'TLSv1.3';
}

/** Throws etcd's kind of message for an unknown suite or suites with TLS 1.3 only. */
export function tlsProtocolOptions(cipherSuites: string[], minVersion: 'TLS1.2' | 'TLS1.3', maxVersion: '' | 'TLS1.2' | 'TLS1.3'): TlsProtocolOptions {
  const options: TlsProtocolOptions = {
    minVersion: secureVersion(minVersion),
    maxVersion: maxVersion === '' ? 'TLSv1.3' : secureVersion(maxVersion),
  };
  const suites = cipherSuites.map((suite) => suite.trim()).filter((suite) => suite !== '');
  if (suites.length === 0) return options;
  if (options.minVersion === 'TLSv1.3') {
    throw new Error('cipher suites cannot be configured when only TLS1.3 is enabled');
  }
  const openssl = suites.map((suite) => {
    const name = opensslNameByIanaName.get(suite);
    if (name === undefined) throw new Error(`unexpected TLS cipher suite ${JSON.stringify(suite)}`);
    return name;
  });
  const tls12 = [...new Set(openssl)].join(':');
  options.ciphers = options.maxVersion === 'TLSv1.3' ? `${tls13CipherSuites}:${tls12}` : tls12;
  return options;
}
