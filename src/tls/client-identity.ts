// Owns what is decided about a connection after its handshake: the common name of a verified client
// certificate (etcd's user when a request has no token), the CN and hostname allow-lists, the SAN
// check of a peer's certificate against the address it connects from, and the words a log line uses
// for a refused handshake.
import { lookup } from 'node:dns/promises';
import tls, { type PeerCertificate, type TLSSocket } from 'node:tls';
import type { ServerTls } from './endpoint-tls.js';

/** A certificate listing more DNS names than this is checked against the first ones only. */
export const sanDnsLookupsMax = 8;

/** The CN of the client certificate, only when the handshake verified it against the trusted CAs. */
export function verifiedCommonName(socket: TLSSocket): string | undefined {
  if (!socket.authorized) return undefined;
  const commonName = socket.getPeerCertificate().subject?.CN;
  // A certificate may carry several CNs; node gives an array then. etcd takes the first.
  const first = Array.isArray(commonName) ? commonName[0] : commonName;
  return typeof first === 'string' && first !== '' ? first : undefined;
}

function bareAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice('::ffff:'.length) : address;
}

function dnsNames(certificate: PeerCertificate): string[] {
  return (certificate.subjectaltname ?? '').split(', ').filter((name) => name.startsWith('DNS:')).map((name) => name.slice(4));
}

async function sanMatchesRemote(certificate: PeerCertificate, remoteAddress: string): Promise<boolean> {
  const san = certificate.subjectaltname ?? '';
  if (san === '') return true;
  const remote = bareAddress(remoteAddress);
  if (san.includes('IP Address:') && tls.checkServerIdentity(remote, certificate) === undefined) return true;
  for (const name of dnsNames(certificate).slice(0, sanDnsLookupsMax)) {
    try {
      const addresses = await lookup(name, { all: true });
      if (addresses.some((entry) => bareAddress(entry.address) === remote)) return true;
    } catch {
      // A name that does not resolve cannot be the remote.
    }
  }
  return false;
}

/**
 * Why a handshake that TLS accepted is still refused by etcd's extra rules, or undefined when it
 * is accepted. Only meaningful when client certificates are required.
 */
export async function refusalReason(socket: TLSSocket, server: ServerTls): Promise<string | undefined> {
  if (!server.requireClientCert) return undefined;
  const certificate = socket.getPeerCertificate();
  if (!socket.authorized || certificate.raw === undefined) return 'no verified client certificate';
  const commonName = verifiedCommonName(socket) ?? '';
  if (server.allowedCns.length > 0 && !server.allowedCns.includes(commonName)) {
    return `client certificate CN ${JSON.stringify(commonName)} is not among the allowed CNs ${JSON.stringify(server.allowedCns)}`;
  }
  if (server.allowedHostnames.length > 0
    && !server.allowedHostnames.some((hostname) => tls.checkServerIdentity(hostname, certificate) === undefined)) {
    return `client certificate (CN ${JSON.stringify(commonName)}, SAN ${JSON.stringify(certificate.subjectaltname ?? '')}) is valid for none of the allowed hostnames ${JSON.stringify(server.allowedHostnames)}`;
  }
  if (server.verifyClientSanAgainstRemote && server.allowedCns.length === 0 && server.allowedHostnames.length === 0) {
    const remote = socket.remoteAddress ?? '';
    if (!(await sanMatchesRemote(certificate, remote))) {
      return `client certificate SAN ${JSON.stringify(certificate.subjectaltname)} does not match the remote address ${remote}`;
    }
  }
  return undefined;
}

const reasonByCode: ReadonlyMap<string, string> = new Map([
  ['ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE', 'the client sent no certificate and one is required'],
  ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'the client sent no certificate and one is required'],
  ['ERR_SSL_CERTIFICATE_VERIFY_FAILED', 'the client certificate is not signed by a trusted CA (or is expired or revoked)'],
  ['ERR_SSL_HTTP_REQUEST', 'the client spoke plain HTTP to a TLS port'],
  ['ERR_SSL_WRONG_VERSION_NUMBER', 'the client did not speak TLS (or a TLS version outside --tls-min-version/--tls-max-version)'],
  ['ERR_SSL_UNSUPPORTED_PROTOCOL', 'the client offered a TLS version outside --tls-min-version/--tls-max-version'],
  ['ERR_SSL_NO_SHARED_CIPHER', 'no cipher suite in common (--cipher-suites)'],
  ['ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'the other side does not trust this member\'s certificate (unknown CA)'],
  ['ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'the other side refused this member\'s certificate'],
  ['ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR', 'the other side could not verify this member\'s certificate'],
  ['DEPTH_ZERO_SELF_SIGNED_CERT', 'the certificate is self-signed and not trusted'],
  ['SELF_SIGNED_CERT_IN_CHAIN', 'the certificate chain ends in an untrusted self-signed CA'],
  ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'the certificate is not signed by a trusted CA'],
  ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'the certificate is not signed by a trusted CA'],
  ['CERT_HAS_EXPIRED', 'the certificate has expired'],
  ['CERT_NOT_YET_VALID', 'the certificate is not valid yet'],
  ['CERT_REVOKED', 'the certificate is revoked'],
  ['ERR_TLS_CERT_ALTNAME_INVALID', 'the certificate is not valid for the host it was reached at'],
  ['ECONNRESET', 'the connection was reset during the handshake'],
]);

/** Plain words for a handshake error, followed by node's own message so nothing is lost. */
export function describeTlsError(error: Error & { code?: string }): string {
  const known = error.code === undefined ? undefined : reasonByCode.get(error.code);
  return known === undefined ? error.message : `${known} (${error.code}: ${error.message})`;
}
