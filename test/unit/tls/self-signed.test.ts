// The --auto-tls certificate: parsed and verified by node and by openssl, valid for its hosts only,
// accepted by a real TLS handshake, and reused (not remade) on a second start.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { createSelfSignedCertificate, ensureSelfSignedFiles } from '../../../src/tls/self-signed.js';
import { makeTempDir } from '../../helpers/process-registry.js';
import { handshake } from './tls-helpers.js';

describe('self-signed certificate', () => {
  test('node and openssl read it: SANs, usages, validity, self-signature', () => {
    const now = new Date('2030-06-01T00:00:00Z');
    const { certPem, keyPem } = createSelfSignedCertificate({ hosts: ['127.0.0.1', 'localhost', '::1', 'node-a.example'], validityYears: 3, now });
    const cert = new X509Certificate(certPem);
    expect(cert.subjectAltName).toBe('IP Address:127.0.0.1, DNS:localhost, IP Address:0:0:0:0:0:0:0:1, DNS:node-a.example');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkIP('127.0.0.2')).toBeUndefined();
    expect(cert.checkHost('node-a.example')).toBe('node-a.example');
    expect(cert.subject).toBe('O=etcd');
    expect(cert.issuer).toBe(cert.subject);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    expect(new Date(cert.validTo).getUTCFullYear()).toBe(2033);
    expect(new Date(cert.validFrom).getTime()).toBeLessThan(now.getTime());
    expect(keyPem).toMatch(/^-----BEGIN EC PRIVATE KEY-----/);
    const dir = makeTempDir('selfsigned');
    writeFileSync(join(dir, 'cert.pem'), certPem);
    const text = execFileSync('openssl', ['x509', '-in', join(dir, 'cert.pem'), '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toMatch(/Version: 3/);
    expect(text).toMatch(/Digital Signature, Key Encipherment/);
    expect(text).toMatch(/CA:FALSE/);
    // openssl verifies the self-signature with the certificate as its own trust anchor.
    const verify = execFileSync('openssl', ['verify', '-CAfile', join(dir, 'cert.pem'), '-attime', String(now.getTime() / 1000), '-purpose', 'sslserver', join(dir, 'cert.pem')], { encoding: 'utf8' });
    expect(verify.trim()).toMatch(/: OK$/);
  });

  test('a TLS client trusting the certificate completes a handshake with it', async () => {
    const { certPem, keyPem } = createSelfSignedCertificate({ hosts: ['127.0.0.1'], validityYears: 1 });
    const result = await handshake({ cert: certPem, key: keyPem }, { ca: certPem, host: '127.0.0.1' });
    expect(result.clientError).toBeUndefined();
    expect(result.serverCertAuthorized).toBe(true);
  });

  test('files are made once and reused by the next start', () => {
    const dir = join(makeTempDir('autotls'), 'fixtures', 'client');
    const first = ensureSelfSignedFiles(dir, { hosts: ['127.0.0.1'], validityYears: 1 });
    expect(first.created).toBe(true);
    const pem = readFileSync(first.certFile, 'utf8');
    const second = ensureSelfSignedFiles(dir, { hosts: ['127.0.0.1'], validityYears: 1 });
    expect(second.created).toBe(false);
    expect(readFileSync(second.certFile, 'utf8')).toBe(pem);
  });

  test('refuses no hosts and a validity below one year', () => {
    expect(() => createSelfSignedCertificate({ hosts: [], validityYears: 1 })).toThrow(/at least one host/);
    expect(() => createSelfSignedCertificate({ hosts: ['127.0.0.1'], validityYears: 0 })).toThrow(/at least 1 year/);
  });
});
