// Request metadata ⇒ RequestContext: the auth token (etcd clients send `token`; the gateway's
// `authorization` header arrives the same way), `hasleader`, which asks to fail fast without a
// leader, and the CN of a verified client certificate, which only the client listener can set: it
// travels under a header name with a per-process secret suffix that no client knows.
import type { IncomingHttpHeaders } from 'node:http2';
import type { Metadata } from '@grpc/grpc-js';
import { verifiedCommonNameHeader } from '../listener/verified-identity.js';
import type { RequestContext } from '../../server/server-api.js';

/**
 * A streaming call's context: from its raw HTTP/2 headers on the lean path (LeanDuplexCall), which
 * saves building grpc-js Metadata per stream (a keep-alive per stream is etcd's benchmark load),
 * else from grpc-js's Metadata. Both read the same values (see contextFromHttp2Headers).
 */
export function contextOfCall(call: { readonly metadata: Metadata; readonly http2Headers?: IncomingHttpHeaders }): RequestContext {
  return call.http2Headers !== undefined ? contextFromHttp2Headers(call.http2Headers) : contextFromMetadata(call.metadata);
}

export function contextFromMetadata(metadata: Metadata): RequestContext {
  return contextFrom((key) => {
    const value = metadata.get(key)[0];
    return typeof value === 'string' ? value : undefined;
  });
}

/**
 * The same from the raw HTTP/2 request headers (the lean unary path has no Metadata), read as
 * grpc-js's Metadata.fromHttp2Headers would give them: node joins a repeated header into one
 * ", "-separated string, and grpc-js keeps that string as the first value.
 */
export function contextFromHttp2Headers(headers: IncomingHttpHeaders): RequestContext {
  return contextFrom((key) => {
    const value = headers[key];
    return typeof value === 'string' ? value : Array.isArray(value) ? value[0] : undefined;
  });
}

/**
 * Contexts of header objects that are shared between streams: a connection hands every stream
 * whose header block repeats the last one the same frozen headers (h2-connection.ts), which at
 * etcd's benchmark load is nearly every request. Their context is made once and frozen, not per
 * request (an object and a closure each time).
 */
const sharedHeaderContexts = new WeakMap<IncomingHttpHeaders, Readonly<RequestContext>>();

/** contextFromHttp2Headers, made once for frozen (shared) headers. */
export function contextOfHttp2Headers(headers: IncomingHttpHeaders): RequestContext {
  if (!Object.isFrozen(headers)) return contextFromHttp2Headers(headers);
  let context = sharedHeaderContexts.get(headers);
  if (context === undefined) {
    context = Object.freeze(contextFromHttp2Headers(headers));
    sharedHeaderContexts.set(headers, context);
  }
  return context;
}

function contextFrom(firstString: (key: string) => string | undefined): RequestContext {
  const context: RequestContext = {};
  const token = firstString('token') ?? firstString('authorization');
  if (token !== undefined && token !== '') context.token = token;
  if (firstString('hasleader') === 'true') context.requireLeader = true;
  // The connection handler URI-encodes the CN (lean-path.ts), so that any CN survives the relay.
  const commonName = decodedCommonName(firstString(verifiedCommonNameHeader));
  if (commonName !== undefined && commonName !== '') context.certCommonName = commonName;
  return context;
}

function decodedCommonName(encoded: string | undefined): string | undefined {
  if (encoded === undefined) return undefined;
  try {
    return decodeURIComponent(encoded);
  } catch {
    return undefined;
  }
}
