// Request metadata ⇒ RequestContext: the auth token (etcd clients send `token`; the gateway's
// `authorization` header arrives the same way) and `hasleader`, which asks to fail fast without a leader.
import type { Metadata } from '@grpc/grpc-js';
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
  return context;
}
