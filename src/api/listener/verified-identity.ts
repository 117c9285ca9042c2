// Owns the one header through which the listener tells the gRPC layer who a TLS client proved to be:
// the CN of its verified certificate. Its name is the public prefix plus a secret made at process
// start, so no client can send it; the connection handler (api/grpc/lean-path.ts) sets it for a
// verified certificate and replaces or drops whatever a client sent under it. api/grpc trusts the
// secret name alone.
import { randomBytes } from 'node:crypto';

/** What every identity header of ours starts with; a client header with this prefix is never trusted. */
export const verifiedIdentityHeaderPrefix = 'etcd-ts-verified-cert-cn';

/** The header that carries a verified CN in this process: the prefix and 128 random bits. */
export const verifiedCommonNameHeader = `${verifiedIdentityHeaderPrefix}-${randomBytes(16).toString('hex')}`;

/** HTTP/2 header names are lowercase on the wire; any case is treated alike so none slips through. */
export function isVerifiedIdentityHeaderName(name: string): boolean {
  return name.length >= verifiedIdentityHeaderPrefix.length
    && name.slice(0, verifiedIdentityHeaderPrefix.length).toLowerCase() === verifiedIdentityHeaderPrefix;
}
