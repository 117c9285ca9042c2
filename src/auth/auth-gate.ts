// Enforcement: turns a request's token into an identity and answers whether that identity may do
// what a request needs, with etcd's errors. Used by the server before it proposes or reads, and by
// apply to re-check a request whose check was made at an older auth revision.
//   - auth disabled: everything is allowed and tokens are ignored, as in etcd;
//   - a token that is not valid: "invalid auth token", whatever the RPC;
//   - no token: the user name is empty, which etcd answers "user name is empty" where a
//     permission is needed (open RPCs such as LeaseGrant still pass);
//   - a JWT issued before the last auth change: "revision of auth store is old" (clients re-authenticate).
import { EtcdError } from '../errors.js';
import type { AuthStore } from './auth-store.js';
import type { KeyAccess } from './permissions.js';
import type { RequiredAccess } from './request-access.js';
import type { TokenProvider } from './token-provider.js';
import type { RequestAuth } from './types.js';

export class AuthGate {
  constructor(private readonly store: () => AuthStore, readonly tokens: TokenProvider) {}

  get enabled(): boolean {
    return this.store().enabled;
  }

  /** The caller of a request; throws InvalidAuthToken for a token that is not valid while auth is on. */
  /** etcd's rule for --client-cert-auth: with no token, the verified certificate's CN is the user. */
  identifyCommonName(commonName: string): RequestAuth {
    const store = this.store();
    return { user: store.enabled ? commonName : '', revision: store.revision };
  }

  /** The member's own internal reads. */
  trusted(): RequestAuth {
    return { user: '', revision: this.store().revision, trusted: true };
  }

  identify(token: string | undefined): RequestAuth {
    const store = this.store();
    if (!store.enabled) return { user: '', revision: store.revision };
    if (token === undefined || token === '') return { user: '', revision: store.revision };
    const identity = this.tokens.identify(store, token);
    if (!identity) throw new EtcdError('InvalidAuthToken');
    return identity;
  }

  /** Throws etcd's error unless `auth` may do what `access` needs. */
  require(auth: RequestAuth, access: RequiredAccess): void {
    checkAccess(this.store(), auth, access);
  }

  /**
   * Throws etcd's error unless `auth` may access what `keys()` lists. The list is only built when
   * auth is on: with auth off (the common case) a put would otherwise build it for nothing.
   */
  requireKeys(auth: RequestAuth, keys: () => KeyAccess[]): void {
    const store = this.store();
    if (!store.enabled || auth.trusted) return;
    checkAccess(store, auth, { admin: false, keys: keys() });
  }

  requireAdmin(auth: RequestAuth): void {
    checkAccess(this.store(), auth, { admin: true, keys: [] });
  }
}

export function checkAccess(store: AuthStore, auth: RequestAuth, access: RequiredAccess): void {
  if (!store.enabled || auth.trusted) return;
  if (auth.user === '') throw new EtcdError('UserEmpty');
  if (auth.revision < store.revision) throw new EtcdError('AuthOldRevision');
  const permitted = access.admin ? store.isAdmin(auth.user) : store.isPermitted(auth.user, access.keys);
  if (!permitted) throw new EtcdError('PermissionDenied');
}

/**
 * Apply's check of a logged request: checked by the proposer at `auth.revision`; if the store has
 * changed since, the request is judged again by the store as it is now, so a revoked permission
 * can never slip through between check and apply.
 */
export function recheckInApply(store: AuthStore, auth: RequestAuth | undefined, access: () => RequiredAccess): void {
  if (!auth || auth.revision === store.revision) return;
  checkAccess(store, { user: auth.user, revision: store.revision }, access());
}
