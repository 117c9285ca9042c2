// Request metadata ⇒ RequestContext: the auth token (etcd clients send `token`; the gateway's
// `authorization` header arrives the same way), `hasleader`, which asks to fail fast without a
// leader, and the CN of a verified client certificate, which only the client listener can set: it
// travels under a header name with a per-process secret suffix that no client knows.
import type { Metadata } from '@grpc/grpc-js';
import { verifiedCommonNameHeader } from '../listener/verified-identity.js';
import type { RequestContext } from '../../server/server-api.js';

function firstString(metadata: Metadata, key: string): string | undefined {
  const value = metadata.get(key)[0];
  return typeof value === 'string' ? value : undefined;
}

export function contextFromMetadata(metadata: Metadata): RequestContext {
  const context: RequestContext = {};
  const token = firstString(metadata, 'token') ?? firstString(metadata, 'authorization');
  if (token !== undefined && token !== '') context.token = token;
  if (firstString(metadata, 'hasleader') === 'true') context.requireLeader = true;
  const commonName = firstString(metadata, verifiedCommonNameHeader);
  if (commonName !== undefined && commonName !== '') context.certCommonName = commonName;
  return context;
}
