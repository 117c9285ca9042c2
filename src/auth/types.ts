// The shapes auth shares with the server: the auth management requests that travel through the
// Raft log, and the identity a checked request carries into apply.
import type { KeyPermission } from './permissions.js';

/**
 * Who asked for a request and at which auth revision the permission was checked. `user` is empty
 * when auth was disabled at the check. Apply re-checks a request whose revision is older than the
 * store's: the permission may have changed in between.
 */
export interface RequestAuth {
  user: string;
  revision: number;
  /** The member's own internal reads (RequestContext.internal): always permitted. */
  trusted?: boolean;
}

/** Every change of the auth store; passwords arrive already hashed by the proposer (bcrypt is not deterministic). */
export type AuthManagementRequest =
  /** `tokenSecret`: random bytes from the proposer that sign simple tokens cluster-wide from now on. */
  | { op: 'authEnable'; tokenSecret: Buffer }
  | { op: 'authDisable' }
  /** `passwordHash` undefined: a user with no password (etcd's UserAddOptions.no_password). */
  | { op: 'userAdd'; name: string; passwordHash: string | undefined }
  | { op: 'userDelete'; name: string }
  | { op: 'userChangePassword'; name: string; passwordHash: string | undefined }
  | { op: 'userGrantRole'; user: string; role: string }
  | { op: 'userRevokeRole'; name: string; role: string }
  | { op: 'roleAdd'; name: string }
  | { op: 'roleDelete'; role: string }
  | { op: 'roleGrantPermission'; name: string; perm: KeyPermission }
  | { op: 'roleRevokePermission'; role: string; key: Buffer; rangeEnd: Buffer };

export type AuthManagementOp = AuthManagementRequest['op'];

export interface AuthUser {
  name: string;
  /** bcrypt hash; undefined for a user that has no password and cannot Authenticate. */
  passwordHash: string | undefined;
  /** Sorted, as etcd keeps them. */
  roles: string[];
  /** Auth revision of the user's creation or last password change: older tokens are void. */
  tokenRevision: number;
}

export interface AuthRole {
  name: string;
  /** Sorted by key, as etcd keeps them. */
  permissions: KeyPermission[];
}

export const ROOT_USER = 'root';
export const ROOT_ROLE = 'root';
