// Owns the certificates --auto-tls and --peer-auto-tls make: an ECDSA P-256 key and a self-signed
// X.509 v3 certificate for the member's own hosts, written as PEM with node:crypto only (no
// package, no openssl binary), and kept in the data dir so a restart presents the same certificate.
import { generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import {
  bitString, boolean, contextTag, namedBits, objectIdentifier, octetString, sequence, set, smallInteger, time,
  unsignedInteger, utf8String,
} from './der.js';

const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const OID_ORGANIZATION = '2.5.4.10';
const OID_KEY_USAGE = '2.5.29.15';
const OID_EXT_KEY_USAGE = '2.5.29.37';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const OID_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const OID_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const KEY_USAGE_DIGITAL_SIGNATURE = 0;
const KEY_USAGE_KEY_ENCIPHERMENT = 2;
/** A clock a little behind ours must not see the certificate as not yet valid. */
const NOT_BEFORE_SLACK_MS = 60 * 60 * 1000;
const SERIAL_BYTES = 16;

export interface SelfSignedCertificate {
  certPem: string;
  keyPem: string;
}

export interface SelfSignedOptions {
  /** Host names and IP addresses the certificate is valid for (subjectAltName). */
  hosts: string[];
  validityYears: number;
  /** The issuing time; now by default. */
  now?: Date;
}

function ipAddressBytes(address: string): Buffer {
  if (isIP(address) === 4) return Buffer.from(address.split('.').map((part) => Number(part)));
  // Expand "::" so every one of the eight groups is present.
  const [head, tail] = address.includes('::') ? address.split('::') as [string, string] : [address, undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  const bytes = Buffer.alloc(16);
  groups.forEach((group, index) => bytes.writeUInt16BE(parseInt(group, 16), index * 2));
  return bytes;
}

function subjectAltNames(hosts: string[]): Buffer {
  const names = hosts.map((host) => {
    const bare = host.replace(/^\[(.*)\]$/, '$1');
    // GeneralName: dNSName [2] IA5String, iPAddress [7] OCTET STRING, both implicit.
    return isIP(bare) !== 0 ? contextTag(7, ipAddressBytes(bare), false) : contextTag(2, Buffer.from(bare, 'ascii'), false);
  });
  return sequence(...names);
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return sequence(objectIdentifier(oid), ...(critical ? [boolean(true)] : []), octetString(value));
}

/** A self-signed server-and-client certificate as etcd's transport.SelfCert makes (organization "etcd"). */
export function createSelfSignedCertificate(options: SelfSignedOptions): SelfSignedCertificate {
  if (!(options.validityYears >= 1)) throw new Error(`self-signed certificate validity must be at least 1 year, got ${options.validityYears}`);
  const hosts = [...new Set(options.hosts.filter((host) => host !== ''))];
  if (hosts.length === 0) throw new Error('a self-signed certificate needs at least one host');
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = options.now ?? new Date();
  const notAfter = new Date(now.getTime());
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + options.validityYears);
  const name = sequence(set(sequence(objectIdentifier(OID_ORGANIZATION), utf8String('etcd'))));
  const signatureAlgorithm = sequence(objectIdentifier(OID_ECDSA_WITH_SHA256));
  const serial = randomBytes(SERIAL_BYTES);
  serial[0]! &= 0x7f;
  const extensions = sequence(
    extension(OID_KEY_USAGE, true, namedBits([KEY_USAGE_DIGITAL_SIGNATURE, KEY_USAGE_KEY_ENCIPHERMENT])),
    // A member presents the same certificate as a server and, to its peers, as a client.
    extension(OID_EXT_KEY_USAGE, false, sequence(objectIdentifier(OID_SERVER_AUTH), objectIdentifier(OID_CLIENT_AUTH))),
    extension(OID_BASIC_CONSTRAINTS, true, sequence()),
    extension(OID_SUBJECT_ALT_NAME, false, subjectAltNames(hosts)),
  );
  const toBeSigned = sequence(
    contextTag(0, smallInteger(2), true),
    unsignedInteger(serial),
    signatureAlgorithm,
    name,
    sequence(time(new Date(now.getTime() - NOT_BEFORE_SLACK_MS)), time(notAfter)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    contextTag(3, extensions, true),
  );
  const signature = sign('sha256', toBeSigned, privateKey as KeyObject);
  const der = sequence(toBeSigned, signatureAlgorithm, bitString(signature));
  const certPem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`;
  // Read back what was written: a malformed certificate must fail here, not in a peer's handshake.
  const parsed = new X509Certificate(certPem);
  if (!parsed.verify(publicKey)) throw new Error('self-signed certificate does not verify with its own key');
  return { certPem, keyPem: privateKey.export({ type: 'sec1', format: 'pem' }).toString() };
}

export interface SelfSignedFiles {
  certFile: string;
  keyFile: string;
  /** False when an earlier start's files were reused. */
  created: boolean;
}

/** Reuses `<dir>/cert.pem` + `<dir>/key.pem` when both exist (etcd does the same), else makes them. */
export function ensureSelfSignedFiles(dir: string, options: SelfSignedOptions): SelfSignedFiles {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  if (existsSync(certFile) && existsSync(keyFile)) {
    // An unreadable leftover is not silently replaced: the operator may depend on it.
    new X509Certificate(readFileSync(certFile));
    return { certFile, keyFile, created: false };
  }
  const { certPem, keyPem } = createSelfSignedCertificate(options);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(keyFile, keyPem, { mode: 0o600 });
  writeFileSync(certFile, certPem, { mode: 0o644 });
  return { certFile, keyFile, created: true };
}
