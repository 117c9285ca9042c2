// Request contexts from raw HTTP/2 headers: the same fields whichever way they are made, and one
// frozen context per shared (frozen) headers object rather than one per request.
import { describe, expect, it } from 'vitest';
import { contextFromHttp2Headers, contextOfHttp2Headers } from '../../../src/api/grpc/context.js';

describe('request context from HTTP/2 headers', () => {
  it('reads the token, hasleader and a repeated header as grpc-js would', () => {
    expect(contextFromHttp2Headers({ token: 't1', hasleader: 'true' })).toEqual({ token: 't1', requireLeader: true });
    expect(contextFromHttp2Headers({ authorization: 'a1' })).toEqual({ token: 'a1' });
    expect(contextFromHttp2Headers({ token: '', hasleader: 'false' })).toEqual({});
    expect(contextFromHttp2Headers({ 'set-cookie': ['x'], token: 't2' })).toEqual({ token: 't2' });
  });

  it('makes one frozen context per frozen headers object, and a new one for headers of a single stream', () => {
    const shared = Object.freeze({ ':path': '/etcdserverpb.KV/Put', token: 'shared-token', hasleader: 'true' });
    const first = contextOfHttp2Headers(shared);
    expect(first).toEqual({ token: 'shared-token', requireLeader: true });
    expect(contextOfHttp2Headers(shared)).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    // Another connection's shared headers have their own context.
    const other = Object.freeze({ ':path': '/etcdserverpb.KV/Put', token: 'other-token' });
    expect(contextOfHttp2Headers(other)).toEqual({ token: 'other-token' });
    const single = { ':path': '/etcdserverpb.KV/Put', token: 'single' };
    const a = contextOfHttp2Headers(single);
    const b = contextOfHttp2Headers(single);
    expect(a).toEqual({ token: 'single' });
    expect(a).not.toBe(b);
    expect(Object.isFrozen(a)).toBe(false);
  });
});
