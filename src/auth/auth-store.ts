// The replicated auth state: users, roles and their key permissions, the enabled flag, the auth
// revision (grows with every change, so a permission checked at revision R is known to be stale
// once the store is past R) and the cluster-wide secret that signs simple tokens. Changed only by
// apply (`apply`), deterministically, with its LevelDB ops in apply's batch; loaded at start.
// Rules and errors are etcd's (auth/store.go): root user with root role before enable, no removal
// of root while enabled, sorted roles and permissions.
import { EtcdError } from '../errors.js';
import type { Backend, BatchOp } from '../storage/backend.js';
import { prefix, prefixEnd } from '../storage/keys.js';
import { type KeyAccess, type KeyPermission, type PermissionTypeValue, grantPermission, isAccessPermitted } from './permissions.js';
import { type AuthManagementRequest, type AuthRole, type AuthUser, ROOT_ROLE, ROOT_USER } from './types.js';

const META_KEY = Buffer.concat([prefix.auth, Buffer.from('meta')]);
const USER_PREFIX = Buffer.concat([prefix.auth, Buffer.from('user/')]);
const ROLE_PREFIX = Buffer.concat([prefix.auth, Buffer.from('role/')]);

/** A fresh store is at revision 1, as etcd's. */
const INITIAL_REVISION = 1;

/** Bounds on what one store may hold, so a client cannot grow it without limit. */
export const usersMax = 100_000;
export const rolesMax = 100_000;
export const permissionsPerRoleMax = 10_000;

export class AuthStore {
  private readonly users = new Map<string, AuthUser>();
  private readonly roles = new Map<string, AuthRole>();
  private enabledFlag = false;
  private revisionValue = INITIAL_REVISION;
  private secret: Buffer = Buffer.alloc(0);

  static async load(backend: Backend): Promise<AuthStore> {
    const store = new AuthStore();
    const meta = await backend.get(META_KEY);
    if (meta) {
      const parsed = JSON.parse(meta.toString('utf8')) as { enabled: boolean; revision: number; secret: string };
      store.enabledFlag = parsed.enabled;
      store.revisionValue = parsed.revision;
      store.secret = Buffer.from(parsed.secret, 'base64');
    }
    for (const [, value] of await backend.readAll(USER_PREFIX, prefixEnd(USER_PREFIX))) {
      const user = decodeUser(value);
      store.users.set(user.name, user);
    }
    for (const [, value] of await backend.readAll(ROLE_PREFIX, prefixEnd(ROLE_PREFIX))) {
      const role = decodeRole(value);
      store.roles.set(role.name, role);
    }
    return store;
  }

  get enabled(): boolean {
    return this.enabledFlag;
  }

  get revision(): number {
    return this.revisionValue;
  }

  /** Empty until auth is first enabled. */
  get tokenSecret(): Buffer {
    return this.secret;
  }

  getUser(name: string): AuthUser | undefined {
    return this.users.get(name);
  }

  getRole(name: string): AuthRole | undefined {
    return this.roles.get(name);
  }

  userNames(): string[] {
    return [...this.users.keys()].sort();
  }

  roleNames(): string[] {
    return [...this.roles.keys()].sort();
  }

  /** Reads etcd answers for a user: UserNotFound for an unknown one. */
  userRoles(name: string): string[] {
    const user = this.users.get(name);
    if (!user) throw new EtcdError('UserNotFound');
    return [...user.roles];
  }

  rolePermissions(name: string): KeyPermission[] {
    const role = this.roles.get(name);
    if (!role) throw new EtcdError('RoleNotFound');
    return [...role.permissions];
  }

  isAdmin(userName: string): boolean {
    return this.users.get(userName)?.roles.includes(ROOT_ROLE) ?? false;
  }

  /** True when auth is off, or `userName` exists and may do every access (root may do anything). */
  isPermitted(userName: string, accesses: readonly KeyAccess[]): boolean {
    if (!this.enabledFlag) return true;
    const user = this.users.get(userName);
    if (!user) return false;
    if (user.roles.includes(ROOT_ROLE)) return true;
    if (accesses.length === 0) return true;
    const permissions = user.roles.flatMap((name) => this.roles.get(name)?.permissions ?? []);
    return accesses.every((access) => isAccessPermitted(permissions, access));
  }

  /** Admin-only operations: every one when auth is off, only users with the root role when on. */
  isAdminPermitted(userName: string): boolean {
    return !this.enabledFlag || this.isAdmin(userName);
  }

  /** Applies one change (apply only). Throws EtcdError, having changed nothing, when etcd refuses it. */
  apply(request: AuthManagementRequest, batch: BatchOp[]): Record<string, never> {
    switch (request.op) {
      case 'authEnable': {
        if (this.enabledFlag) return {};
        const root = this.users.get(ROOT_USER);
        if (!root) throw new EtcdError('RootUserNotExist');
        if (!root.roles.includes(ROOT_ROLE)) throw new EtcdError('RootRoleNotExist');
        this.enabledFlag = true;
        this.secret = Buffer.from(request.tokenSecret);
        break;
      }
      case 'authDisable':
        if (!this.enabledFlag) return {};
        this.enabledFlag = false;
        break;
      case 'userAdd': {
        if (request.name === '') throw new EtcdError('UserEmpty');
        if (this.users.has(request.name)) throw new EtcdError('UserAlreadyExist');
        if (this.users.size >= usersMax) throw new EtcdError('TooManyRequests');
        this.putUser({ name: request.name, passwordHash: request.passwordHash, roles: [], tokenRevision: this.revisionValue + 1 }, batch);
        break;
      }
      case 'userDelete': {
        if (this.enabledFlag && request.name === ROOT_USER) throw new EtcdError('InvalidAuthMgmt');
        if (!this.users.has(request.name)) throw new EtcdError('UserNotFound');
        this.users.delete(request.name);
        batch.push({ type: 'del', key: userKey(request.name) });
        break;
      }
      case 'userChangePassword': {
        const user = this.users.get(request.name);
        if (!user) throw new EtcdError('UserNotFound');
        this.putUser({ ...user, passwordHash: request.passwordHash, tokenRevision: this.revisionValue + 1 }, batch);
        break;
      }
      case 'userGrantRole': {
        const user = this.users.get(request.user);
        if (!user) throw new EtcdError('UserNotFound');
        // etcd lets the root role be granted before it exists (it is built in).
        if (request.role !== ROOT_ROLE && !this.roles.has(request.role)) throw new EtcdError('RoleNotFound');
        if (user.roles.includes(request.role)) return {};
        this.putUser({ ...user, roles: [...user.roles, request.role].sort() }, batch);
        break;
      }
      case 'userRevokeRole': {
        if (this.enabledFlag && request.name === ROOT_USER && request.role === ROOT_ROLE) throw new EtcdError('InvalidAuthMgmt');
        const user = this.users.get(request.name);
        if (!user) throw new EtcdError('UserNotFound');
        if (!user.roles.includes(request.role)) throw new EtcdError('RoleNotGranted');
        this.putUser({ ...user, roles: user.roles.filter((r) => r !== request.role) }, batch);
        break;
      }
      case 'roleAdd': {
        if (request.name === '') throw new EtcdError('RoleEmpty');
        if (this.roles.has(request.name)) throw new EtcdError('RoleAlreadyExist');
        if (this.roles.size >= rolesMax) throw new EtcdError('TooManyRequests');
        this.putRole({ name: request.name, permissions: [] }, batch);
        break;
      }
      case 'roleDelete': {
        if (this.enabledFlag && request.role === ROOT_ROLE) throw new EtcdError('InvalidAuthMgmt');
        if (!this.roles.has(request.role)) throw new EtcdError('RoleNotFound');
        this.roles.delete(request.role);
        batch.push({ type: 'del', key: roleKey(request.role) });
        // A deleted role is revoked from everyone who had it.
        for (const user of this.users.values()) {
          if (user.roles.includes(request.role)) this.putUser({ ...user, roles: user.roles.filter((r) => r !== request.role) }, batch);
        }
        break;
      }
      case 'roleGrantPermission': {
        const role = this.roles.get(request.name);
        if (!role) throw new EtcdError('RoleNotFound');
        const permissions = grantPermission(role.permissions, request.perm);
        if (permissions.length > permissionsPerRoleMax) throw new EtcdError('TooManyRequests');
        this.putRole({ ...role, permissions }, batch);
        break;
      }
      case 'roleRevokePermission': {
        const role = this.roles.get(request.role);
        if (!role) throw new EtcdError('RoleNotFound');
        const permissions = role.permissions.filter((p) => !(p.key.equals(request.key) && p.rangeEnd.equals(request.rangeEnd)));
        if (permissions.length === role.permissions.length) throw new EtcdError('PermissionNotGranted');
        this.putRole({ ...role, permissions }, batch);
        break;
      }
      default: {
        const unknown: never = request;
        throw new Error(`auth store: unknown request ${JSON.stringify(unknown)}`);
      }
    }
    this.revisionValue++;
    batch.push({ type: 'put', key: META_KEY, value: this.encodeMeta() });
    return {};
  }

  private putUser(user: AuthUser, batch: BatchOp[]): void {
    this.users.set(user.name, user);
    batch.push({ type: 'put', key: userKey(user.name), value: encodeUser(user) });
  }

  private putRole(role: AuthRole, batch: BatchOp[]): void {
    this.roles.set(role.name, role);
    batch.push({ type: 'put', key: roleKey(role.name), value: encodeRole(role) });
  }

  private encodeMeta(): Buffer {
    return Buffer.from(JSON.stringify({ enabled: this.enabledFlag, revision: this.revisionValue, secret: this.secret.toString('base64') }));
  }
}

function userKey(name: string): Buffer {
  return Buffer.concat([USER_PREFIX, Buffer.from(name, 'utf8')]);
}

function roleKey(name: string): Buffer {
  return Buffer.concat([ROLE_PREFIX, Buffer.from(name, 'utf8')]);
}

function encodeUser(user: AuthUser): Buffer {
  return Buffer.from(JSON.stringify({ name: user.name, passwordHash: user.passwordHash ?? null, roles: user.roles, tokenRevision: user.tokenRevision }));
}

function decodeUser(bytes: Buffer): AuthUser {
  const raw = JSON.parse(bytes.toString('utf8')) as { name: string; passwordHash: string | null; roles: string[]; tokenRevision: number };
  return { name: raw.name, passwordHash: raw.passwordHash ?? undefined, roles: raw.roles, tokenRevision: raw.tokenRevision };
}

function encodeRole(role: AuthRole): Buffer {
  return Buffer.from(JSON.stringify({
    name: role.name,
    permissions: role.permissions.map((p) => ({ permType: p.permType, key: p.key.toString('base64'), rangeEnd: p.rangeEnd.toString('base64') })),
  }));
}

function decodeRole(bytes: Buffer): AuthRole {
  const raw = JSON.parse(bytes.toString('utf8')) as { name: string; permissions: Array<{ permType: number; key: string; rangeEnd: string }> };
  return {
    name: raw.name,
    permissions: raw.permissions.map((p) => ({
      permType: p.permType as PermissionTypeValue, key: Buffer.from(p.key, 'base64'), rangeEnd: Buffer.from(p.rangeEnd, 'base64'),
    })),
  };
}
