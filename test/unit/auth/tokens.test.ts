// Simple tokens (HMAC, cluster-wide, TTL renewed on use) and JWTs (every sign method family,
// expiry, forgery), through TokenProvider against a real auth store.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AuthStore } from '../../../src/auth/auth-store.js';
import { JwtTokens } from '../../../src/auth/jwt-token.js';
import { SimpleTokens } from '../../../src/auth/simple-token.js';
import { TokenProvider } from '../../../src/auth/token-provider.js';

const secret = Buffer.alloc(32, 9);

function clockAt(startMs: number) {
  const clock = { ms: startMs, nowMs: () => clock.ms };
  return clock;
}

function enabledStore(): AuthStore {
  const store = new AuthStore();
  store.apply({ op: 'userAdd', name: 'root', passwordHash: 'h' }, []);
  store.apply({ op: 'userGrantRole', user: 'root', role: 'root' }, []);
  store.apply({ op: 'userAdd', name: 'alice', passwordHash: 'h' }, []);
  store.apply({ op: 'authEnable', tokenSecret: secret }, []);
  return store;
}

describe('simple tokens', () => {
  it('look like etcd tokens (16 letters, dot, index) and verify on any holder of the secret', () => {
    const issuer = new SimpleTokens(300, clockAt(1_000));
    const token = issuer.assign(secret, { user: 'alice', issuedRevision: 5 }, 42);
    expect(token).toMatch(/^[a-zA-Z]{16}\.42\./);
    // Another member: its own SimpleTokens, same replicated secret.
    const other = new SimpleTokens(300, clockAt(2_000));
    expect(other.verify(secret, token)).toEqual({ user: 'alice', issuedRevision: 5 });
    expect(other.verify(Buffer.alloc(32, 1), token)).toBeUndefined();
  });

  it('refuses a token with any byte changed', () => {
    const tokens = new SimpleTokens(300, clockAt(0));
    const token = tokens.assign(secret, { user: 'alice', issuedRevision: 5 }, 1);
    const forged = token.replace('.5.', '.6.');
    expect(forged).not.toBe(token);
    expect(tokens.verify(secret, forged)).toBeUndefined();
    const otherUser = token.replace(Buffer.from('alice').toString('base64url'), Buffer.from('root').toString('base64url'));
    expect(tokens.verify(secret, otherUser)).toBeUndefined();
    expect(tokens.verify(secret, 'abcdefghijklmnop.1')).toBeUndefined();
  });

  it('expires after the TTL unless used, and each use restarts the TTL', () => {
    const clock = clockAt(0);
    const tokens = new SimpleTokens(10, clock);
    const idle = tokens.assign(secret, { user: 'alice', issuedRevision: 1 }, 1);
    const used = tokens.assign(secret, { user: 'alice', issuedRevision: 1 }, 2);
    clock.ms = 8_000;
    expect(tokens.verify(secret, used)).toBeDefined();
    clock.ms = 10_000;
    expect(tokens.verify(secret, idle)).toBeUndefined();
    expect(tokens.verify(secret, used)).toBeDefined();
    clock.ms = 30_000;
    expect(tokens.verify(secret, used)).toBeUndefined();
  });

  it('via TokenProvider: voided by a password change, by deleting the user, and by re-enabling auth', () => {
    const store = enabledStore();
    const provider = TokenProvider.fromSpec('simple', 300);
    const token = provider.assign(store, 'alice', 7);
    expect(provider.identify(store, token)).toEqual({ user: 'alice', revision: store.revision });
    store.apply({ op: 'roleAdd', name: 'unrelated' }, []);
    expect(provider.identify(store, token)?.user).toBe('alice');
    store.apply({ op: 'userChangePassword', name: 'alice', passwordHash: 'h2' }, []);
    expect(provider.identify(store, token)).toBeUndefined();
    const second = provider.assign(store, 'alice', 8);
    expect(provider.identify(store, second)?.user).toBe('alice');
    store.apply({ op: 'authDisable' }, []);
    store.apply({ op: 'authEnable', tokenSecret: Buffer.alloc(32, 3) }, []);
    expect(provider.identify(store, second)).toBeUndefined();
    const third = provider.assign(store, 'alice', 9);
    store.apply({ op: 'userDelete', name: 'alice' }, []);
    expect(provider.identify(store, third)).toBeUndefined();
  });
});

describe('JWT tokens', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ed = generateKeyPairSync('ed25519');
  const pem = (key: { export(o: object): string | Buffer }, type: 'pkcs8' | 'spki') => Buffer.from(key.export({ type, format: 'pem' }));
  const cases: Array<[string, Buffer, Buffer]> = [
    ['RS256', pem(rsa.privateKey, 'pkcs8'), pem(rsa.publicKey, 'spki')],
    ['PS384', pem(rsa.privateKey, 'pkcs8'), pem(rsa.publicKey, 'spki')],
    ['ES256', pem(ec.privateKey, 'pkcs8'), pem(ec.publicKey, 'spki')],
    ['EdDSA', pem(ed.privateKey, 'pkcs8'), pem(ed.publicKey, 'spki')],
    ['HS256', Buffer.from('a shared secret'), Buffer.from('a shared secret')],
  ];

  for (const [signMethod, privateKey, publicKey] of cases) {
    it(`${signMethod}: issues etcd's claims, verifies with the public key only, refuses tampering and expiry`, () => {
      const clock = clockAt(1_700_000_000_000);
      const issuer = new JwtTokens({ signMethod, privateKey, publicKey, ttlSeconds: 60 }, clock);
      const token = issuer.assign({ user: 'alice', revision: 12 });
      const [header, payload] = token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>);
      expect(header).toEqual({ alg: signMethod, typ: 'JWT' });
      expect(payload).toEqual({ username: 'alice', revision: 12, exp: 1_700_000_060 });
      const verifier = signMethod === 'HS256' ? issuer : new JwtTokens({ signMethod, publicKey, ttlSeconds: 60 }, clock);
      expect(verifier.canSign).toBe(signMethod === 'HS256');
      expect(verifier.verify(token)).toEqual({ user: 'alice', revision: 12 });
      const parts = token.split('.');
      const rootPayload = Buffer.from(JSON.stringify({ username: 'root', revision: 12, exp: 1_700_000_060 })).toString('base64url');
      expect(verifier.verify(`${parts[0]}.${rootPayload}.${parts[2]}`)).toBeUndefined();
      const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
      expect(verifier.verify(`${none}.${parts[1]}.`)).toBeUndefined();
      clock.ms += 60_000;
      expect(verifier.verify(token)).toBeUndefined();
    });
  }

  it('parses the --auth-token jwt spec and makes a stale revision visible to the gate', () => {
    const files: Record<string, Buffer> = { '/priv': pem(ec.privateKey, 'pkcs8'), '/pub': pem(ec.publicKey, 'spki') };
    const provider = TokenProvider.fromSpec('jwt,pub-key=/pub,priv-key=/priv,sign-method=ES256,ttl=5m', 300, { readFile: (p) => files[p]! });
    expect(provider.kind).toBe('jwt');
    const store = enabledStore();
    const token = provider.assign(store, 'alice', 1);
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number };
    expect(payload.exp - Math.floor(Date.now() / 1000)).toBeGreaterThan(290);
    expect(provider.identify(store, token)).toEqual({ user: 'alice', revision: store.revision });
    store.apply({ op: 'roleAdd', name: 'x' }, []);
    expect(provider.identify(store, token)!.revision).toBeLessThan(store.revision);
    expect(() => TokenProvider.fromSpec('jwt,sign-method=XX256,priv-key=/priv', 300, { readFile: (p) => files[p]! })).toThrow(/sign-method/);
    expect(() => TokenProvider.fromSpec('jwt,priv-key=/priv', 300, { readFile: (p) => files[p]! })).toThrow(/sign-method/);
    expect(() => TokenProvider.fromSpec('magic', 300)).toThrow(/unknown auth-token/);
  });
});
