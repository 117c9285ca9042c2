// JWT tokens (`--auth-token jwt,pub-key=…,priv-key=…,sign-method=…,ttl=…`), signed and verified with
// node:crypto. Claims are etcd's: `username`, `revision` (the auth revision at issue; an older one
// is answered "revision of auth store is old", on which clients authenticate again) and `exp`.
// A member with only pub-key verifies but cannot issue tokens, as in etcd.
import { type KeyObject, constants, createHmac, createPrivateKey, createPublicKey, sign, timingSafeEqual, verify } from 'node:crypto';
import type { Clock } from './simple-token.js';

export interface JwtClaims {
  user: string;
  revision: number;
}

type Family = 'RS' | 'PS' | 'ES' | 'HS' | 'EdDSA';

const SIGN_METHODS: Record<string, { family: Family; hash: string | null }> = {
  RS256: { family: 'RS', hash: 'sha256' }, RS384: { family: 'RS', hash: 'sha384' }, RS512: { family: 'RS', hash: 'sha512' },
  PS256: { family: 'PS', hash: 'sha256' }, PS384: { family: 'PS', hash: 'sha384' }, PS512: { family: 'PS', hash: 'sha512' },
  ES256: { family: 'ES', hash: 'sha256' }, ES384: { family: 'ES', hash: 'sha384' }, ES512: { family: 'ES', hash: 'sha512' },
  HS256: { family: 'HS', hash: 'sha256' }, HS384: { family: 'HS', hash: 'sha384' }, HS512: { family: 'HS', hash: 'sha512' },
  EdDSA: { family: 'EdDSA', hash: null },
};

export interface JwtOptions {
  signMethod: string;
  /** PEM (RS/PS/ES/EdDSA) or the raw secret (HS). */
  publicKey?: Buffer;
  privateKey?: Buffer;
  ttlSeconds: number;
}

export class JwtTokens {
  private readonly family: Family;
  private readonly hash: string | null;
  private readonly signingKey?: KeyObject | Buffer;
  private readonly verifyingKey: KeyObject | Buffer;

  constructor(private readonly options: JwtOptions, private readonly clock: Clock = { nowMs: () => Date.now() }) {
    const method = SIGN_METHODS[options.signMethod];
    if (!method) throw new Error(`auth-token jwt: unsupported sign-method "${options.signMethod}"`);
    if (!(options.ttlSeconds > 0)) throw new Error('auth-token jwt: ttl must be positive');
    this.family = method.family;
    this.hash = method.hash;
    if (this.family === 'HS') {
      const secret = options.privateKey ?? options.publicKey;
      if (!secret || secret.length === 0) throw new Error('auth-token jwt: HS sign methods need priv-key (the shared secret file)');
      this.signingKey = secret;
      this.verifyingKey = secret;
      return;
    }
    if (options.privateKey) this.signingKey = createPrivateKey(options.privateKey);
    if (options.publicKey) this.verifyingKey = createPublicKey(options.publicKey);
    else if (this.signingKey) this.verifyingKey = createPublicKey(this.signingKey as KeyObject);
    else throw new Error('auth-token jwt: pub-key or priv-key is required');
  }

  get canSign(): boolean {
    return this.signingKey !== undefined;
  }

  assign(claims: JwtClaims): string {
    if (!this.signingKey) throw new Error('auth-token jwt: this member has no priv-key and cannot issue tokens');
    const header = encodeJson({ alg: this.options.signMethod, typ: 'JWT' });
    const exp = Math.floor(this.clock.nowMs() / 1000) + this.options.ttlSeconds;
    const payload = encodeJson({ username: claims.user, revision: claims.revision, exp });
    const input = `${header}.${payload}`;
    return `${input}.${this.signature(input).toString('base64url')}`;
  }

  verify(token: string): JwtClaims | undefined {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const input = `${parts[0]}.${parts[1]}`;
    let header: { alg?: unknown };
    let payload: { username?: unknown; revision?: unknown; exp?: unknown };
    try {
      header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as typeof header;
      payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as typeof payload;
    } catch {
      return undefined;
    }
    // The algorithm is ours, never the token's choice ("alg": "none" and key-confusion attacks).
    if (header.alg !== this.options.signMethod) return undefined;
    if (!this.checkSignature(input, Buffer.from(parts[2]!, 'base64url'))) return undefined;
    if (typeof payload.username !== 'string' || typeof payload.revision !== 'number' || typeof payload.exp !== 'number') return undefined;
    if (this.clock.nowMs() >= payload.exp * 1000) return undefined;
    return { user: payload.username, revision: payload.revision };
  }

  private signature(input: string): Buffer {
    const data = Buffer.from(input);
    switch (this.family) {
      case 'HS': return createHmac(this.hash!, this.signingKey as Buffer).update(data).digest();
      case 'ES': return sign(this.hash, data, { key: this.signingKey as KeyObject, dsaEncoding: 'ieee-p1363' });
      case 'PS': return sign(this.hash, data, { key: this.signingKey as KeyObject, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
      case 'RS': return sign(this.hash, data, this.signingKey as KeyObject);
      case 'EdDSA': return sign(null, data, this.signingKey as KeyObject);
    }
  }

  private checkSignature(input: string, signature: Buffer): boolean {
    const data = Buffer.from(input);
    try {
      switch (this.family) {
        case 'HS': {
          const expected = createHmac(this.hash!, this.verifyingKey as Buffer).update(data).digest();
          return expected.length === signature.length && timingSafeEqual(expected, signature);
        }
        case 'ES': return verify(this.hash, data, { key: this.verifyingKey as KeyObject, dsaEncoding: 'ieee-p1363' }, signature);
        case 'PS': return verify(this.hash, data, { key: this.verifyingKey as KeyObject, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, signature);
        case 'RS': return verify(this.hash, data, this.verifyingKey as KeyObject, signature);
        case 'EdDSA': return verify(null, data, this.verifyingKey as KeyObject, signature);
      }
    } catch {
      return false;
    }
  }
}

function encodeJson(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
