// Owns turning one side's TLS flags (client or peer) into what node's TLS needs: the server side
// (certificate, trusted CAs, CRL, whether a client certificate is required, which CNs and hostnames
// are allowed) and, for peers, the side this member uses when it connects to others. Files are read
// and checked once at start, so a wrong path or a key that does not match fails the start with the
// flag's name instead of failing every later handshake.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { TlsEndpointConfig } from '../config/types.js';
import type { TlsProtocolOptions } from './cipher-suites.js';
import { ensureSelfSignedFiles } from './self-signed.js';

export type TlsRole = 'client' | 'peer';

interface FlagNames {
  certFile: string;
  keyFile: string;
  trustedCaFile: string;
  crlFile: string;
  clientCertAuth: string;
  autoTls: string;
}

const flagNamesByRole: Record<TlsRole, FlagNames> = {
  client: {
    certFile: '--cert-file', keyFile: '--key-file', trustedCaFile: '--trusted-ca-file', crlFile: '--client-crl-file',
    clientCertAuth: '--client-cert-auth', autoTls: '--auto-tls',
  },
  peer: {
    certFile: '--peer-cert-file', keyFile: '--peer-key-file', trustedCaFile: '--peer-trusted-ca-file', crlFile: '--peer-crl-file',
    clientCertAuth: '--peer-client-cert-auth', autoTls: '--peer-auto-tls',
  },
};

/** The accepting side of one role's connections. */
export interface ServerTls {
  role: TlsRole;
  /**
   * Certificate, key, CAs, CRL, versions and ciphers, checked once at start. Options rather than a
   * built SecureContext: node's tls and https servers ignore a `secureContext` option.
   */
  contextOptions: tls.SecureContextOptions;
  /** Ask for a client certificate and refuse the handshake without a valid one (--client-cert-auth). */
  requireClientCert: boolean;
  /** Peer side: the client certificate's CN must be one of these (--peer-cert-allowed-cn). */
  allowedCns: string[];
  /** The client certificate must be valid for one of these names (--*-cert-allowed-hostname). */
  allowedHostnames: string[];
  /** Peer side: the client certificate's SANs must match the address it connects from, as etcd checks. */
  verifyClientSanAgainstRemote: boolean;
  /** For log lines. */
  certFile: string;
  trustedCaFile: string;
}

/** The connecting side: a member dialing its peers' https URLs. */
export interface OutgoingTls {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  /** False with auto TLS only: every member's certificate is self-signed and cannot be verified. */
  rejectUnauthorized: boolean;
  minVersion: tls.SecureVersion;
  maxVersion: tls.SecureVersion;
  ciphers?: string;
  certFile: string;
}

export interface EndpointTls {
  server: ServerTls;
  outgoing: OutgoingTls;
  autoTls: boolean;
}

export interface EndpointTlsInput {
  role: TlsRole;
  endpoint: TlsEndpointConfig;
  protocol: TlsProtocolOptions;
  /** Where auto TLS keeps its certificate: `<data-dir>/fixtures/<role>`. */
  autoTlsDir: string;
  /** Hosts the auto TLS certificate is made for: the hosts of this role's URLs. */
  autoTlsHosts: string[];
  selfSignedCertValidityYears: number;
  skipClientSanVerification: boolean;
  /** The first https URL of this role, for the error that says certificates are missing. */
  httpsUrl: string;
  logger: Logger;
}

function readFlagFile(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`${flag} ${path}: cannot read the file: ${reason}`);
  }
}

function checkCertificate(flag: string, path: string, pem: Buffer, logger: Logger): void {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(pem);
  } catch (error) {
    throw new Error(`${flag} ${path}: not a PEM certificate: ${error instanceof Error ? error.message : String(error)}`);
  }
  const validToMs = new Date(certificate.validTo).getTime();
  if (validToMs < Date.now()) {
    // Peers and clients will refuse it; say so at start rather than leave only handshake errors.
    logger.warn({ flag, 'cert-file': path, 'valid-to': certificate.validTo }, 'the certificate has expired');
  }
}

/** Reads and checks one role's TLS files (or makes the auto TLS certificate). Throws on any bad file. */
export function loadEndpointTls(input: EndpointTlsInput): EndpointTls {
  const { role, endpoint, protocol, logger } = input;
  const flags = flagNamesByRole[role];
  let certFile = endpoint.certFile;
  let keyFile = endpoint.keyFile;
  let autoTls = false;
  if (certFile !== '' || keyFile !== '') {
    if (endpoint.autoTls) logger.warn({ flag: flags.autoTls }, `ignoring ${flags.autoTls} since ${flags.certFile} and ${flags.keyFile} are given`);
    if (certFile === '' || keyFile === '') throw new Error(`${flags.certFile} and ${flags.keyFile} must be given together`);
  } else if (endpoint.autoTls) {
    const made = ensureSelfSignedFiles(input.autoTlsDir, { hosts: input.autoTlsHosts, validityYears: input.selfSignedCertValidityYears });
    ({ certFile, keyFile } = made);
    autoTls = true;
    logger.info({ flag: flags.autoTls, 'cert-file': certFile, created: made.created }, 'using a self-signed certificate');
    if (endpoint.clientCertAuth && endpoint.trustedCaFile === '') {
      logger.warn({ flag: flags.clientCertAuth }, `${flags.clientCertAuth} without ${flags.trustedCaFile}: self-signed client certificates will be refused`);
    }
  } else {
    throw new Error(`TLS key/cert (${flags.certFile}, ${flags.keyFile}) must be provided for ${role} url ${input.httpsUrl} with HTTPS scheme`);
  }

  const cert = readFlagFile(flags.certFile, certFile);
  const key = readFlagFile(flags.keyFile, keyFile);
  checkCertificate(flags.certFile, certFile, cert, logger);
  const ca = endpoint.trustedCaFile === '' ? undefined : readFlagFile(flags.trustedCaFile, endpoint.trustedCaFile);
  if (ca !== undefined) checkCertificate(flags.trustedCaFile, endpoint.trustedCaFile, ca, logger);
  const crl = endpoint.crlFile === '' ? undefined : readFlagFile(flags.crlFile, endpoint.crlFile);

  const contextOptions: tls.SecureContextOptions = {
    cert, key, ...(ca === undefined ? {} : { ca }), ...(crl === undefined ? {} : { crl }),
    minVersion: protocol.minVersion, maxVersion: protocol.maxVersion,
    ...(protocol.ciphers === undefined ? {} : { ciphers: protocol.ciphers }),
  };
  try {
    tls.createSecureContext(contextOptions);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`${flags.certFile} ${certFile}, ${flags.keyFile} ${keyFile}${crl === undefined ? '' : `, ${flags.crlFile} ${endpoint.crlFile}`}: unusable: ${reason}`);
  }

  // etcd 3.5 --peer-client-cert-file: a distinct certificate for dialing out; the server one otherwise.
  const outgoingCertFile = endpoint.clientCertFile !== '' ? endpoint.clientCertFile : certFile;
  const outgoingKeyFile = endpoint.clientKeyFile !== '' ? endpoint.clientKeyFile : keyFile;
  const outgoingCert = outgoingCertFile === certFile ? cert : readFlagFile(`--${role === 'peer' ? 'peer-' : ''}client-cert-file`, outgoingCertFile);
  const outgoingKey = outgoingKeyFile === keyFile ? key : readFlagFile(`--${role === 'peer' ? 'peer-' : ''}client-key-file`, outgoingKeyFile);

  return {
    autoTls,
    server: {
      role,
      contextOptions,
      requireClientCert: endpoint.clientCertAuth,
      allowedCns: endpoint.allowedCns,
      allowedHostnames: endpoint.allowedHostnames,
      verifyClientSanAgainstRemote: role === 'peer' && endpoint.clientCertAuth && !input.skipClientSanVerification,
      certFile,
      trustedCaFile: endpoint.trustedCaFile,
    },
    outgoing: {
      cert: outgoingCert,
      key: outgoingKey,
      ...(ca === undefined ? {} : { ca }),
      rejectUnauthorized: !autoTls,
      minVersion: protocol.minVersion,
      maxVersion: protocol.maxVersion,
      ...(protocol.ciphers === undefined ? {} : { ciphers: protocol.ciphers }),
      certFile: outgoingCertFile,
    },
  };
}
