// The token kind chosen by --auth-token: parses the flag and issues and reads tokens against the
// current auth store. A token's identity is checked against the store every time: a user deleted
// or whose password changed after the token was issued has no valid token (etcd drops them).
import { readFileSync } from 'node:fs';
import { parseGoDurationMs } from '../config/duration.js';
import type { AuthStore } from './auth-store.js';
import { JwtTokens } from './jwt-token.js';
import { type Clock, SimpleTokens } from './simple-token.js';

export interface TokenIdentity {
  user: string;
  /** The auth revision the permission check is made against: the token's own for JWT, as in etcd. */
  revision: number;
}

/** etcd's default JWT lifetime. */
const JWT_DEFAULT_TTL_SECONDS = 300;

export class TokenProvider {
  private constructor(private readonly simple: SimpleTokens | undefined, private readonly jwt: JwtTokens | undefined) {}

  /** `spec`: "simple" or "jwt,pub-key=PATH,priv-key=PATH,sign-method=ALG,ttl=DURATION". */
  static fromSpec(spec: string, simpleTtlSeconds: number, options: { readFile?: (path: string) => Buffer; clock?: Clock } = {}): TokenProvider {
    const readFile = options.readFile ?? ((path: string) => readFileSync(path));
    const [kind, ...rest] = spec.split(',');
    if (kind === 'simple' || kind === '') {
      if (rest.length > 0) throw new Error(`auth-token simple takes no options: "${spec}"`);
      return new TokenProvider(new SimpleTokens(simpleTtlSeconds, options.clock), undefined);
    }
    if (kind !== 'jwt') throw new Error(`unknown auth-token type "${kind}" (expected simple or jwt)`);
    const values = new Map<string, string>();
    for (const part of rest) {
      const eq = part.indexOf('=');
      if (eq <= 0) throw new Error(`auth-token jwt: bad option "${part}"`);
      values.set(part.slice(0, eq), part.slice(eq + 1));
    }
    for (const name of values.keys()) {
      if (!['pub-key', 'priv-key', 'sign-method', 'ttl'].includes(name)) throw new Error(`auth-token jwt: unknown option "${name}"`);
    }
    const signMethod = values.get('sign-method');
    if (!signMethod) throw new Error('auth-token jwt: sign-method is required');
    const ttlText = values.get('ttl');
    const ttlSeconds = ttlText === undefined ? JWT_DEFAULT_TTL_SECONDS : parseGoDurationMs(ttlText) / 1000;
    const publicKeyPath = values.get('pub-key');
    const privateKeyPath = values.get('priv-key');
    return new TokenProvider(undefined, new JwtTokens({
      signMethod,
      ttlSeconds,
      ...(publicKeyPath ? { publicKey: readFile(publicKeyPath) } : {}),
      ...(privateKeyPath ? { privateKey: readFile(privateKeyPath) } : {}),
    }, options.clock));
  }

  get kind(): 'simple' | 'jwt' {
    return this.jwt ? 'jwt' : 'simple';
  }

  /** A new token for `user`, who just proved their password; `index` is the applied index then. */
  assign(store: AuthStore, user: string, index: number): string {
    if (this.jwt) return this.jwt.assign({ user, revision: store.revision });
    return this.simple!.assign(store.tokenSecret, { user, issuedRevision: store.revision }, index);
  }

  /** The identity behind a token, or undefined when it is not valid (forged, expired, voided). */
  identify(store: AuthStore, token: string): TokenIdentity | undefined {
    if (this.jwt) return this.jwt.verify(token);
    const claims = this.simple!.verify(store.tokenSecret, token);
    if (!claims) return undefined;
    const user = store.getUser(claims.user);
    if (!user || user.tokenRevision > claims.issuedRevision) return undefined;
    return { user: claims.user, revision: store.revision };
  }
}
