// The auth additions to the Raft entry codec: every auth management op and the identity trailer
// round-trip exactly; old format-1 entries (no identity) still decode.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AuthManagementRequest } from '../../../src/auth/types.js';
import { RequestCodecError, decodeInternalRequest, encodeInternalRequest } from '../../../src/server/request-codec.js';
import { requestIdFromBigint } from '../../../src/server/request-ids.js';
import type { InternalRequest } from '../../../src/server/requests.js';

const record = { noNullPrototype: true } as const;
const bytes = fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a));
const name = fc.string({ maxLength: 12, unit: 'grapheme' });
const hash = fc.option(fc.string({ maxLength: 60 }), { nil: undefined });
const authOp: fc.Arbitrary<AuthManagementRequest> = fc.oneof(
  fc.record({ op: fc.constant('authEnable' as const), tokenSecret: bytes }, record),
  fc.record({ op: fc.constant('authDisable' as const) }, record),
  fc.record({ op: fc.constant('userAdd' as const), name, passwordHash: hash }, record),
  fc.record({ op: fc.constant('userDelete' as const), name }, record),
  fc.record({ op: fc.constant('userChangePassword' as const), name, passwordHash: hash }, record),
  fc.record({ op: fc.constant('userGrantRole' as const), user: name, role: name }, record),
  fc.record({ op: fc.constant('userRevokeRole' as const), name, role: name }, record),
  fc.record({ op: fc.constant('roleAdd' as const), name }, record),
  fc.record({ op: fc.constant('roleDelete' as const), role: name }, record),
  fc.record({
    op: fc.constant('roleGrantPermission' as const), name,
    perm: fc.record({ permType: fc.constantFrom(0 as const, 1 as const, 2 as const), key: bytes, rangeEnd: bytes }, record),
  }, record),
  fc.record({ op: fc.constant('roleRevokePermission' as const), role: name, key: bytes, rangeEnd: bytes }, record),
);
const identity = fc.option(fc.record({ user: name, revision: fc.nat() }, record), { nil: undefined });

describe('request codec: auth', () => {
  it('round-trips auth management requests with and without an identity', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), authOp, identity, (requestId, authManagement, auth) => {
      const request: InternalRequest = { ...requestIdFromBigint(requestId), authManagement, ...(auth ? { auth } : {}) };
      expect(decodeInternalRequest(encodeInternalRequest(request))).toStrictEqual(request);
    }), { numRuns: 500 });
  });

  it('carries the identity on KV requests and keeps format 1 for requests without one', () => {
    const put = { key: Buffer.from('k'), value: Buffer.from('v'), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false };
    const withAuth: InternalRequest = { requestId: 5, requestOrigin: 0, put, auth: { user: 'alice', revision: 9 } };
    const encoded = encodeInternalRequest(withAuth);
    expect(encoded[0]).toBe(2);
    expect(decodeInternalRequest(encoded)).toStrictEqual(withAuth);
    const plain = encodeInternalRequest({ requestId: 5, put });
    expect(plain[0]).toBe(1);
    expect(decodeInternalRequest(plain).auth).toBeUndefined();
  });

  it('refuses a truncated identity and an unknown auth op', () => {
    const encoded = Buffer.from(encodeInternalRequest({ requestId: 1, authManagement: { op: 'roleAdd', name: 'r' }, auth: { user: 'u', revision: 3 } }));
    expect(() => decodeInternalRequest(encoded.subarray(0, encoded.length - 1))).toThrow(RequestCodecError);
    const bad = Buffer.from(encodeInternalRequest({ requestId: 1, authManagement: { op: 'authDisable' } }));
    bad[bad.length - 1] = 200;
    expect(() => decodeInternalRequest(bad)).toThrow(/unknown auth op/);
  });
});
