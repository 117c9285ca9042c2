// Test PKI made with the openssl binary at test time (a CA, a server certificate for 127.0.0.1, client
// certificates, a second unrelated CA), and a one-shot TLS handshake between two in-process ends.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { makeTempDir } from '../../helpers/process-registry.js';

export interface TestPki {
  dir: string;
  caFile: string;
  /** Server (and peer) certificate: SAN IP 127.0.0.1 + DNS localhost, serverAuth and clientAuth. */
  serverCertFile: string;
  serverKeyFile: string;
  /** Client certificate with CN=root. */
  clientCertFile: string;
  clientKeyFile: string;
  /** A client certificate with CN=root issued by another CA the server does not trust. */
  foreignClientCertFile: string;
  foreignClientKeyFile: string;
  foreignCaFile: string;
  /** A server certificate for another IP only (hostname check must fail for 127.0.0.1). */
  wrongHostCertFile: string;
  wrongHostKeyFile: string;
  /** A CRL from the CA that revokes the client certificate. */
  crlRevokingClientFile: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): void {
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.pem`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
}

function issue(dir: string, ca: string, name: string, cn: string, san: string | undefined): void {
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${cn}`,
    '-keyout', `${name}.key`, '-out', `${name}.csr`]);
  const ext = [
    'basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth,clientAuth', ...(san === undefined ? [] : [`subjectAltName=${san}`]),
  ].join('\n');
  writeFileSync(join(dir, `${name}.ext`), `${ext}\n`);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial',
    '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
}

function revoke(dir: string, ca: string, certName: string): string {
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'crlnumber'), '01\n');
  writeFileSync(join(dir, 'ca.cnf'), [
    '[ca]', 'default_ca = testca', '[testca]', `database = ${join(dir, 'index.txt')}`, `crlnumber = ${join(dir, 'crlnumber')}`,
    'default_md = sha256', 'default_crl_days = 2', `certificate = ${join(dir, `${ca}.pem`)}`, `private_key = ${join(dir, `${ca}.key`)}`, '',
  ].join('\n'));
  openssl(dir, ['ca', '-config', 'ca.cnf', '-revoke', `${certName}.pem`]);
  openssl(dir, ['ca', '-config', 'ca.cnf', '-gencrl', '-out', 'revoked.crl']);
  return join(dir, 'revoked.crl');
}

export function makeTestPki(): TestPki {
  const dir = makeTempDir('tls-pki');
  makeCa(dir, 'ca');
  makeCa(dir, 'foreign-ca');
  issue(dir, 'ca', 'server', 'etcd-member', 'IP:127.0.0.1,DNS:localhost');
  issue(dir, 'ca', 'client', 'root', undefined);
  issue(dir, 'foreign-ca', 'foreign-client', 'root', undefined);
  issue(dir, 'ca', 'wrong-host', 'elsewhere', 'IP:10.9.8.7,DNS:elsewhere.example');
  const crl = revoke(dir, 'ca', 'client');
  const file = (name: string) => join(dir, name);
  return {
    dir,
    caFile: file('ca.pem'),
    serverCertFile: file('server.pem'),
    serverKeyFile: file('server.key'),
    clientCertFile: file('client.pem'),
    clientKeyFile: file('client.key'),
    foreignClientCertFile: file('foreign-client.pem'),
    foreignClientKeyFile: file('foreign-client.key'),
    foreignCaFile: file('foreign-ca.pem'),
    wrongHostCertFile: file('wrong-host.pem'),
    wrongHostKeyFile: file('wrong-host.key'),
    crlRevokingClientFile: crl,
  };
}

export const read = (path: string): string => readFileSync(path, 'utf8');

export interface HandshakeResult {
  /** Set when the client side failed. */
  clientError?: Error;
  /** Set when the server side refused or failed. */
  serverError?: Error;
  /** The server's view: the client presented a certificate that verified. */
  clientCertAuthorized?: boolean;
  /** The client's view: the server's certificate verified. */
  serverCertAuthorized?: boolean;
  /** The CN of the client certificate the server saw, if any. */
  peerCommonName?: string;
  protocol?: string | null;
  cipher?: string;
}

/** One TLS handshake over 127.0.0.1; resolves when both ends are done (or one failed), within 5 s. */
export function handshake(serverOptions: tls.TlsOptions, clientOptions: tls.ConnectionOptions): Promise<HandshakeResult> {
  return new Promise((resolve) => {
    const result: HandshakeResult = {};
    let pending = 2;
    const server = tls.createServer(serverOptions, (socket) => {
      result.clientCertAuthorized = socket.authorized;
      const cn = socket.getPeerCertificate().subject?.CN;
      if (typeof cn === 'string') result.peerCommonName = cn;
      socket.end();
      done();
    });
    const timer = setTimeout(() => finish(), 5000);
    const finish = () => {
      clearTimeout(timer);
      server.close();
      resolve(result);
    };
    const done = () => {
      pending--;
      if (pending === 0) finish();
    };
    server.on('tlsClientError', (error) => {
      result.serverError = error;
      done();
    });
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port;
      const client = tls.connect({ port, ...clientOptions }, () => {
        result.serverCertAuthorized = client.authorized;
        result.protocol = client.getProtocol();
        result.cipher = client.getCipher().name;
        client.end();
        done();
      });
      client.on('error', (error) => {
        result.clientError = error;
        client.destroy();
        done();
      });
    });
  });
}
