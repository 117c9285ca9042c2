// Owns a throwaway certificate authority made with the openssl binary at test time: a CA, a server
// certificate for 127.0.0.1/localhost, and client certificates for any common name (with
// client-cert-auth the CN is the etcd user, so auth tests need one per user).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from './process-registry.js';

export interface CertPair {
  certFile: string;
  keyFile: string;
}

export interface TestCa {
  dir: string;
  caFile: string;
  /** Server certificate: SAN IP 127.0.0.1 + DNS localhost, serverAuth and clientAuth. */
  server: CertPair;
  /** Issues (once per CN) a client certificate with subject CN=`commonName` and no SAN. */
  client(commonName: string): CertPair;
}

/** A test never needs more certificates; more means a loop issuing them. */
const certsPerCaMax = 32;

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
}

function issue(dir: string, fileStem: string, commonName: string, subjectAltName: string | undefined): CertPair {
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${commonName}`,
    '-keyout', `${fileStem}.key`, '-out', `${fileStem}.csr`]);
  const extensions = [
    'basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth,clientAuth', ...(subjectAltName === undefined ? [] : [`subjectAltName=${subjectAltName}`]),
  ];
  writeFileSync(join(dir, `${fileStem}.ext`), `${extensions.join('\n')}\n`);
  openssl(dir, ['x509', '-req', '-in', `${fileStem}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '2', '-extfile', `${fileStem}.ext`, '-out', `${fileStem}.pem`]);
  return { certFile: join(dir, `${fileStem}.pem`), keyFile: join(dir, `${fileStem}.key`) };
}

export function makeTestCa(): TestCa {
  const dir = makeTempDir('test-ca');
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', '/CN=test-ca', '-keyout', 'ca.key', '-out', 'ca.pem',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const issued = new Map<string, CertPair>();
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    server: issue(dir, 'server', 'etcd-member', 'IP:127.0.0.1,DNS:localhost'),
    client(commonName) {
      const existing = issued.get(commonName);
      if (existing) return existing;
      if (!/^[A-Za-z0-9._-]+$/.test(commonName)) throw new Error(`test CA: CN "${commonName}" would need escaping`);
      if (issued.size >= certsPerCaMax) throw new Error(`test CA: more than ${certsPerCaMax} client certificates`);
      const pair = issue(dir, `client-${commonName}`, commonName, undefined);
      issued.set(commonName, pair);
      return pair;
    },
  };
}
