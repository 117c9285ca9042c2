// TLS flags ⇒ node TLS settings: cipher suites and versions as etcd names them, files checked at
// start with the flag in the message, and etcd's extra refusals (CRL, allowed CN and hostname).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import pino from 'pino';
import { describe, expect, test } from 'vitest';
import type { TlsEndpointConfig } from '../../../src/config/types.js';
import { loadEndpointTls, refusalReason, tls13CipherSuites, tlsProtocolOptions, type ServerTls } from '../../../src/tls/index.js';
import { makeTempDir } from '../../helpers/process-registry.js';
import { handshake, makeTestPki, read } from './tls-helpers.js';

const logger = pino({ level: 'silent' });
const pki = makeTestPki();

function endpoint(overrides: Partial<TlsEndpointConfig>): TlsEndpointConfig {
  return {
    certFile: '', keyFile: '', clientCertFile: '', clientKeyFile: '', clientCertAuth: false, trustedCaFile: '',
    autoTls: false, crlFile: '', allowedHostnames: [], allowedCns: [], ...overrides,
  };
}

function load(role: 'client' | 'peer', overrides: Partial<TlsEndpointConfig>, cipherSuites: string[] = []) {
  return loadEndpointTls({
    role, endpoint: endpoint(overrides), protocol: tlsProtocolOptions(cipherSuites, 'TLS1.2', ''),
    autoTlsDir: join(makeTempDir('auto'), 'fixtures', role), autoTlsHosts: ['127.0.0.1'], selfSignedCertValidityYears: 1,
    skipClientSanVerification: false, httpsUrl: 'https://127.0.0.1:2379/', logger,
  });
}

const clientCert = () => ({ ca: read(pki.caFile), cert: read(pki.clientCertFile), key: read(pki.clientKeyFile), host: '127.0.0.1' });

describe('cipher suites and versions', () => {
  test('Go names map to OpenSSL names; TLS 1.3 suites stay on unless the maximum is TLS 1.2', () => {
    expect(tlsProtocolOptions([], 'TLS1.2', '')).toEqual({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' });
    expect(tlsProtocolOptions(['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384'], 'TLS1.2', '').ciphers)
      .toBe(`${tls13CipherSuites}:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384`);
    expect(tlsProtocolOptions(['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'], 'TLS1.2', 'TLS1.2'))
      .toEqual({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' });
  });

  test('unknown suites and suites with TLS 1.3 only are refused', () => {
    expect(() => tlsProtocolOptions(['TLS_NOT_A_SUITE'], 'TLS1.2', '')).toThrow('unexpected TLS cipher suite "TLS_NOT_A_SUITE"');
    expect(() => tlsProtocolOptions(['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'], 'TLS1.3', '')).toThrow(/only TLS1.3/);
  });

  test('a handshake uses the one allowed TLS 1.2 suite; a TLS 1.2-only client cannot reach a TLS 1.3-only server', async () => {
    const loaded = load('client', { certFile: pki.serverCertFile, keyFile: pki.serverKeyFile }, ['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384']);
    const tls12 = await handshake(loaded.server.contextOptions, { ...clientCert(), maxVersion: 'TLSv1.2' });
    expect(tls12.clientError).toBeUndefined();
    expect(tls12.cipher).toBe('ECDHE-ECDSA-AES256-GCM-SHA384');
    const tls13Only = { ...loaded.server.contextOptions, ...tlsProtocolOptions([], 'TLS1.3', '') };
    const refused = await handshake(tls13Only, { ...clientCert(), maxVersion: 'TLSv1.2' });
    expect(refused.clientError).toBeDefined();
  });
});

describe('loading certificate files', () => {
  test('a missing file, a key that does not match and https without certificates name the flag', () => {
    expect(() => load('client', { certFile: '/nonexistent/cert.pem', keyFile: pki.serverKeyFile })).toThrow(/^--cert-file \/nonexistent\/cert.pem: cannot read the file/);
    expect(() => load('peer', { certFile: pki.serverCertFile, keyFile: pki.clientKeyFile })).toThrow(/--peer-cert-file .*--peer-key-file .*unusable/);
    expect(() => load('peer', {})).toThrow('TLS key/cert (--peer-cert-file, --peer-key-file) must be provided for peer url https://127.0.0.1:2379/ with HTTPS scheme');
    const notPem = join(makeTempDir('notpem'), 'ca.pem');
    writeFileSync(notPem, 'hello');
    expect(() => load('client', { certFile: pki.serverCertFile, keyFile: pki.serverKeyFile, trustedCaFile: notPem })).toThrow(/--trusted-ca-file .*not a PEM certificate/);
  });

  test('auto TLS makes a certificate and dials peers without verifying them', () => {
    const loaded = load('peer', { autoTls: true });
    expect(loaded.autoTls).toBe(true);
    expect(loaded.outgoing.rejectUnauthorized).toBe(false);
    expect(loaded.server.certFile).toMatch(/fixtures\/peer\/cert\.pem$/);
    const withFiles = load('peer', { autoTls: true, certFile: pki.serverCertFile, keyFile: pki.serverKeyFile });
    expect(withFiles.autoTls).toBe(false);
    expect(withFiles.outgoing.rejectUnauthorized).toBe(true);
  });
});

/** Runs a handshake with the server side's settings and etcd's extra rules; the reason or undefined. */
async function verdict(server: ServerTls, client: tls.ConnectionOptions): Promise<{ tlsError?: Error; refusal?: string }> {
  return new Promise((resolve) => {
    const listener = tls.createServer({ ...server.contextOptions, requestCert: server.requireClientCert, rejectUnauthorized: server.requireClientCert }, (socket) => {
      void refusalReason(socket, server).then((refusal) => {
        socket.destroy();
        listener.close();
        resolve(refusal === undefined ? {} : { refusal });
      });
    });
    listener.on('tlsClientError', (error) => {
      listener.close();
      resolve({ tlsError: error });
    });
    listener.listen(0, '127.0.0.1', () => {
      const port = (listener.address() as { port: number }).port;
      tls.connect({ port, ...client }).on('error', () => { /* the server's view is what is checked */ });
    });
  });
}

describe('client certificate rules', () => {
  const base = { certFile: pki.serverCertFile, keyFile: pki.serverKeyFile, trustedCaFile: pki.caFile, clientCertAuth: true };

  test('a CA-signed client certificate passes; no certificate and a foreign CA fail the handshake', async () => {
    const server = load('client', base).server;
    expect(await verdict(server, clientCert())).toEqual({});
    expect((await verdict(server, { ca: read(pki.caFile), host: '127.0.0.1' })).tlsError).toBeDefined();
    const foreign = await verdict(server, { ...clientCert(), cert: read(pki.foreignClientCertFile), key: read(pki.foreignClientKeyFile) });
    expect(foreign.tlsError).toBeDefined();
  });

  test('a CRL revoking the client certificate refuses it', async () => {
    const server = load('client', { ...base, crlFile: pki.crlRevokingClientFile }).server;
    const revoked = await verdict(server, clientCert());
    expect(revoked.tlsError).toBeDefined();
    expect(await verdict(load('client', base).server, clientCert()), 'same certificate without the CRL').toEqual({});
    // The server certificate is not revoked: it passes as a client certificate under the same CRL.
    expect(await verdict(server, { ...clientCert(), cert: read(pki.serverCertFile), key: read(pki.serverKeyFile) })).toEqual({});
  });

  test('peer allowed CNs and allowed hostnames', async () => {
    expect(await verdict(load('peer', { ...base, allowedCns: ['root'] }).server, clientCert())).toEqual({});
    expect((await verdict(load('peer', { ...base, allowedCns: ['etcd-member'] }).server, clientCert())).refusal)
      .toBe('client certificate CN "root" is not among the allowed CNs ["etcd-member"]');
    const serverAsClient = { ...clientCert(), cert: read(pki.serverCertFile), key: read(pki.serverKeyFile) };
    expect(await verdict(load('peer', { ...base, allowedHostnames: ['localhost'] }).server, serverAsClient)).toEqual({});
    expect((await verdict(load('peer', { ...base, allowedHostnames: ['elsewhere.example'] }).server, serverAsClient)).refusal)
      .toMatch(/valid for none of the allowed hostnames \["elsewhere.example"\]/);
  });

  test('peer client certificates must match the address they connect from (SAN check)', async () => {
    const wrongHost = { ...clientCert(), cert: read(pki.wrongHostCertFile), key: read(pki.wrongHostKeyFile) };
    expect((await verdict(load('peer', base).server, wrongHost)).refusal).toMatch(/does not match the remote address 127\.0\.0\.1/);
    const serverAsClient = { ...clientCert(), cert: read(pki.serverCertFile), key: read(pki.serverKeyFile) };
    expect(await verdict(load('peer', base).server, serverAsClient)).toEqual({});
    // The client side of etcd does not check SANs of client certificates.
    expect(await verdict(load('client', base).server, wrongHost)).toEqual({});
  });
});
