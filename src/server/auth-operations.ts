// The Auth service of a member (AuthServerApi): checks the caller, hashes passwords before
// proposing (bcrypt salts are random, so the hash must be in the log, not made in apply), proposes
// the change through Raft, and serves the auth reads after a read index. Authenticate checks the
// password here, on the member that received it, never in apply.
import { randomBytes } from 'node:crypto';
import type { AuthGate } from '../auth/auth-gate.js';
import type { AuthStore } from '../auth/auth-store.js';
import { checkPassword, hashPassword, isBcryptHash } from '../auth/password.js';
import type { PermissionTypeValue } from '../auth/permissions.js';
import type { AuthManagementRequest, RequestAuth } from '../auth/types.js';
import { EtcdError } from '../errors.js';
import type { InternalRequest } from './requests.js';
import type { AuthPermission, AuthServerApi, RequestContext, ResponseHeader } from './server-api.js';
import type { Applied } from './wait.js';

/** What the Auth service needs of its member. */
export interface AuthHost {
  authStore(): AuthStore;
  readonly gate: AuthGate;
  propose(request: InternalRequest): Promise<Applied>;
  linearizableRead(): Promise<void>;
  header(revision?: number): ResponseHeader;
  /** Who is asking: a token's user, else a verified client certificate's CN (as etcd does). */
  identify(ctx?: RequestContext): RequestAuth;
  appliedIndex(): number;
  readonly bcryptCost: number;
}

/** Random bytes AuthEnable puts in the log: the key of the HMAC that makes simple tokens cluster-wide. */
const TOKEN_SECRET_BYTES = 32;

export class AuthOperations implements AuthServerApi {
  constructor(private readonly host: AuthHost) {}

  private admin(ctx?: RequestContext): RequestAuth {
    const auth = this.host.identify(ctx);
    this.host.gate.requireAdmin(auth);
    return auth;
  }

  private async change(auth: RequestAuth, change: AuthManagementRequest): Promise<{ header: ResponseHeader }> {
    const { revision } = await this.host.propose({ requestId: 0, auth, authManagement: change });
    return { header: this.host.header(revision) };
  }

  async authEnable(ctx?: RequestContext): Promise<{ header: ResponseHeader }> {
    return this.change(this.admin(ctx), { op: 'authEnable', tokenSecret: randomBytes(TOKEN_SECRET_BYTES) });
  }

  async authDisable(ctx?: RequestContext): Promise<{ header: ResponseHeader }> {
    return this.change(this.admin(ctx), { op: 'authDisable' });
  }

  async authStatus(ctx?: RequestContext): Promise<{ header: ResponseHeader; enabled: boolean; authRevision: number }> {
    this.host.identify(ctx);
    await this.host.linearizableRead();
    const store = this.host.authStore();
    return { header: this.host.header(), enabled: store.enabled, authRevision: store.revision };
  }

  async authenticate(name: string, password: string): Promise<{ header: ResponseHeader; token: string }> {
    // The password is checked against state at least as new as the moment of the request.
    await this.host.linearizableRead();
    let store = this.host.authStore();
    if (!store.enabled) throw new EtcdError('AuthNotEnabled');
    const user = store.getUser(name);
    // A user added with no password can only be authenticated by a client certificate.
    if (!user || user.passwordHash === undefined) throw new EtcdError('AuthFailed');
    if (!(await checkPassword(password, user.passwordHash))) throw new EtcdError('AuthFailed');
    store = this.host.authStore();
    if (store.getUser(name)?.passwordHash !== user.passwordHash) throw new EtcdError('AuthFailed');
    const token = this.host.gate.tokens.assign(store, name, this.host.appliedIndex());
    return { header: this.host.header(), token };
  }

  private async passwordHash(password: string, hashedPassword: string): Promise<string> {
    if (hashedPassword !== '') {
      if (!isBcryptHash(hashedPassword)) throw new Error('hashedPassword is not a bcrypt hash');
      return hashedPassword;
    }
    return hashPassword(password, this.host.bcryptCost);
  }

  async userAdd(name: string, password: string, options: { noPassword: boolean; hashedPassword: string }, ctx?: RequestContext): Promise<{ header: ResponseHeader }> {
    const auth = this.admin(ctx);
    // Refuse early what apply would refuse, before paying for a bcrypt hash.
    if (name === '') throw new EtcdError('UserEmpty');
    if (this.host.authStore().getUser(name)) throw new EtcdError('UserAlreadyExist');
    const passwordHash = options.noPassword ? undefined : await this.passwordHash(password, options.hashedPassword);
    return this.change(auth, { op: 'userAdd', name, passwordHash });
  }

  async userGet(name: string, ctx?: RequestContext): Promise<{ header: ResponseHeader; roles: string[] }> {
    const auth = this.host.identify(ctx);
    await this.host.linearizableRead();
    // Users may read their own entry (etcd 3.5).
    if (auth.user !== name || name === '') this.host.gate.requireAdmin(auth);
    return { header: this.host.header(), roles: this.host.authStore().userRoles(name) };
  }

  async userList(ctx?: RequestContext): Promise<{ header: ResponseHeader; users: string[] }> {
    const auth = this.admin(ctx);
    await this.host.linearizableRead();
    this.host.gate.requireAdmin(auth);
    return { header: this.host.header(), users: this.host.authStore().userNames() };
  }

  async userDelete(name: string, ctx?: RequestContext): Promise<{ header: ResponseHeader }> {
    return this.change(this.admin(ctx), { op: 'userDelete', name });
  }

  async userChangePassword(name: string, password: string, hashedPassword: string, ctx?: RequestContext): Promise<{ header: ResponseHeader }> {
    const auth = this.admin(ctx);
    if (!this.host.authStore().getUser(name)) throw new EtcdError('UserNotFound');
    return this.change(auth, { op: 'userChangePassword', name, passwordHash: await this.passwordHash(password, hashedPassword) });
  }

  async userGrantRole(user: string, role: string, ctx?: RequestContext): Promise<{ header: ResponseHeader }> {
    return this.change(this.admin(ctx), { op: 'userGrantRole', user, role });
  }

  async userRevokeRole(name: string, role: string, ctx?: RequestContext): Promise<{ header: ResponseHeader }> {
    return this.change(this.admin(ctx), { op: 'userRevokeRole', name, role });
  }

  async roleAdd(name: string, ctx?: RequestContext): Promise<{ header: ResponseHeader }> {
    return this.change(this.admin(ctx), { op: 'roleAdd', name });
  }

  async roleGet(role: string, ctx?: RequestContext): Promise<{ header: ResponseHeader; perm: AuthPermission[] }> {
    const auth = this.host.identify(ctx);
    await this.host.linearizableRead();
    const store = this.host.authStore();
    // Users may read the roles they have (etcd 3.5).
    const ownRole = auth.user !== '' && (store.getUser(auth.user)?.roles.includes(role) ?? false);
    if (!ownRole) this.host.gate.requireAdmin(auth);
    return { header: this.host.header(), perm: store.rolePermissions(role) };
  }

  async roleList(ctx?: RequestContext): Promise<{ header: ResponseHeader; roles: string[] }> {
    const auth = this.admin(ctx);
    await this.host.linearizableRead();
    this.host.gate.requireAdmin(auth);
    return { header: this.host.header(), roles: this.host.authStore().roleNames() };
  }

  async roleDelete(role: string, ctx?: RequestContext): Promise<{ header: ResponseHeader }> {
    return this.change(this.admin(ctx), { op: 'roleDelete', role });
  }

  async roleGrantPermission(name: string, perm: AuthPermission | undefined, ctx?: RequestContext): Promise<{ header: ResponseHeader }> {
    const auth = this.admin(ctx);
    if (!perm) throw new EtcdError('PermissionNotGiven');
    if (perm.permType !== 0 && perm.permType !== 1 && perm.permType !== 2) throw new EtcdError('PermissionNotGiven');
    return this.change(auth, {
      op: 'roleGrantPermission', name, perm: { permType: perm.permType as PermissionTypeValue, key: perm.key, rangeEnd: perm.rangeEnd },
    });
  }

  async roleRevokePermission(role: string, key: Buffer, rangeEnd: Buffer, ctx?: RequestContext): Promise<{ header: ResponseHeader }> {
    return this.change(this.admin(ctx), { op: 'roleRevokePermission', role, key, rangeEnd });
  }
}
