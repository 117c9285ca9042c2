// Simple tokens (`--auth-token simple`, etcd's default), verifiable by every member. etcd keeps its
// simple tokens in the memory of the member that issued them, so another member answers "invalid
// auth token" (a known pain: etcd issues 9629, 7012). Ours carry their own proof: etcd's shape
// `<16 random letters>.<index>` followed by the user, the auth revision of issue, an expiry and an
// HMAC-SHA256 over all of it, keyed by the cluster-wide secret that AuthEnable put in the
// replicated auth state. Clients treat tokens as opaque strings, so the longer shape is invisible.
//
// As in etcd, a token's TTL starts again each time it is used; each member remembers the renewed
// deadlines of the tokens it has seen (bounded), a member that never saw the token goes by the
// deadline written in it.
import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';

export interface SimpleTokenClaims {
  user: string;
  /** Auth revision when the token was issued: a password changed since voids it. */
  issuedRevision: number;
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const RANDOM_LETTERS = 16;
const MAC_BYTES = 16;
/** Renewed deadlines remembered per member; the oldest is forgotten first. */
export const renewedTokensMax = 100_000;

export interface Clock {
  nowMs(): number;
}

export class SimpleTokens {
  private readonly renewedDeadlineMs = new Map<string, number>();

  constructor(readonly ttlSeconds: number, private readonly clock: Clock = { nowMs: () => Date.now() }) {
    if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) throw new Error(`auth token TTL must be a positive number of seconds, got ${ttlSeconds}`);
  }

  assign(secret: Buffer, claims: SimpleTokenClaims, index: number): string {
    if (secret.length === 0) throw new Error('simple token: no cluster secret (auth was never enabled)');
    let letters = '';
    for (let i = 0; i < RANDOM_LETTERS; i++) letters += LETTERS[randomInt(LETTERS.length)];
    const expiresAtMs = this.clock.nowMs() + this.ttlSeconds * 1000;
    const body = [letters, String(index), Buffer.from(claims.user, 'utf8').toString('base64url'), String(claims.issuedRevision), String(expiresAtMs)].join('.');
    return `${body}.${mac(secret, body)}`;
  }

  /** The claims of a genuine, unexpired token (its TTL restarts), else undefined. */
  verify(secret: Buffer, token: string): SimpleTokenClaims | undefined {
    if (secret.length === 0) return undefined;
    const parts = token.split('.');
    if (parts.length !== 6) return undefined;
    const body = parts.slice(0, 5).join('.');
    const given = Buffer.from(parts[5]!, 'base64url');
    const expected = Buffer.from(mac(secret, body), 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    const issuedRevision = Number(parts[3]);
    const writtenDeadlineMs = Number(parts[4]);
    if (!Number.isSafeInteger(issuedRevision) || !Number.isSafeInteger(writtenDeadlineMs)) return undefined;
    const now = this.clock.nowMs();
    const deadlineMs = Math.max(writtenDeadlineMs, this.renewedDeadlineMs.get(token) ?? 0);
    if (now >= deadlineMs) {
      this.renewedDeadlineMs.delete(token);
      return undefined;
    }
    this.renew(token, now + this.ttlSeconds * 1000);
    return { user: Buffer.from(parts[2]!, 'base64url').toString('utf8'), issuedRevision };
  }

  private renew(token: string, deadlineMs: number): void {
    this.renewedDeadlineMs.delete(token);
    if (this.renewedDeadlineMs.size >= renewedTokensMax) {
      const oldest = this.renewedDeadlineMs.keys().next().value;
      if (oldest !== undefined) this.renewedDeadlineMs.delete(oldest);
    }
    this.renewedDeadlineMs.set(token, deadlineMs);
  }
}

function mac(secret: Buffer, body: string): string {
  return createHmac('sha256', secret).update(body).digest().subarray(0, MAC_BYTES).toString('base64url');
}
