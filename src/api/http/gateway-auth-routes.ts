// The gateway's /v3/auth/* paths: each calls AuthServerApi (EtcdServer.auth) through the wire
// translators the gRPC Auth service uses, so a JSON client and a gRPC client see the same answers.
// The Authorization header reaches the calls as RequestContext.token (see gateway.ts); errors keep
// their etcd status code (a wrong password is INVALID_ARGUMENT, a stale token UNAUTHENTICATED), as
// etcd's gateway passes the Auth service's status through unchanged.
import { GrpcCode } from '../../errors.js';
import type { AuthServerApi, RequestContext } from '../../server/server-api.js';
import { GrpcStatusError } from '../grpc/errors.js';
import { headerToWire } from '../grpc/translate/common.js';
import {
  authHeaderResponseToWire, authStatusResponseToWire, authStringField, roleGetResponseToWire,
  roleGrantPermissionRequestFromWire, roleRevokePermissionRequestFromWire, userAddRequestFromWire,
} from '../grpc/translate/auth.js';
import type { UnaryRoute } from './gateway-route-types.js';

export const authServiceName = 'etcdserverpb.Auth';

type AuthHandler = (auth: AuthServerApi, request: Record<string, unknown>, context: RequestContext) => Promise<object>;

/** A server built without an Auth API answers as a Go server that never registered the service. */
function authRoute(method: string, handle: AuthHandler): UnaryRoute {
  return {
    service: authServiceName,
    method,
    handle: async (_server, request, context, services) => {
      if (!services.auth) throw new GrpcStatusError(GrpcCode.UNIMPLEMENTED, `unknown service ${authServiceName}`);
      return handle(services.auth, request, context);
    },
  };
}

const s = authStringField;

/** Paths below the /v3 (or /v3beta) prefix, as etcd's rpc.proto maps them. */
export const authRoutes: ReadonlyArray<readonly [string, UnaryRoute]> = [
  ['/auth/enable', authRoute('AuthEnable', async (auth, _r, ctx) => authHeaderResponseToWire(await auth.authEnable(ctx)))],
  ['/auth/disable', authRoute('AuthDisable', async (auth, _r, ctx) => authHeaderResponseToWire(await auth.authDisable(ctx)))],
  // etcd 3.5 added AuthStatus; 3.4's gateway answers 404 here. Serving it keeps 3.5 clients working.
  ['/auth/status', authRoute('AuthStatus', async (auth, _r, ctx) => authStatusResponseToWire(await auth.authStatus(ctx)))],
  ['/auth/authenticate', authRoute('Authenticate', async (auth, r, ctx) => {
    const { header, token } = await auth.authenticate(s(r, 'AuthenticateRequest', 'name'), s(r, 'AuthenticateRequest', 'password'), ctx);
    return { header: headerToWire(header), token };
  })],
  ['/auth/user/add', authRoute('UserAdd', async (auth, r, ctx) => {
    const { name, password, noPassword, hashedPassword } = userAddRequestFromWire(r);
    return authHeaderResponseToWire(await auth.userAdd(name, password, { noPassword, hashedPassword }, ctx));
  })],
  ['/auth/user/get', authRoute('UserGet', async (auth, r, ctx) => {
    const { header, roles } = await auth.userGet(s(r, 'AuthUserGetRequest', 'name'), ctx);
    return { header: headerToWire(header), roles };
  })],
  ['/auth/user/list', authRoute('UserList', async (auth, _r, ctx) => {
    const { header, users } = await auth.userList(ctx);
    return { header: headerToWire(header), users };
  })],
  ['/auth/user/delete', authRoute('UserDelete', async (auth, r, ctx) =>
    authHeaderResponseToWire(await auth.userDelete(s(r, 'AuthUserDeleteRequest', 'name'), ctx)))],
  ['/auth/user/changepw', authRoute('UserChangePassword', async (auth, r, ctx) => authHeaderResponseToWire(await auth.userChangePassword(
    s(r, 'AuthUserChangePasswordRequest', 'name'), s(r, 'AuthUserChangePasswordRequest', 'password'),
    s(r, 'AuthUserChangePasswordRequest', 'hashedPassword'), ctx)))],
  ['/auth/user/grant', authRoute('UserGrantRole', async (auth, r, ctx) => authHeaderResponseToWire(await auth.userGrantRole(
    s(r, 'AuthUserGrantRoleRequest', 'user'), s(r, 'AuthUserGrantRoleRequest', 'role'), ctx)))],
  ['/auth/user/revoke', authRoute('UserRevokeRole', async (auth, r, ctx) => authHeaderResponseToWire(await auth.userRevokeRole(
    s(r, 'AuthUserRevokeRoleRequest', 'name'), s(r, 'AuthUserRevokeRoleRequest', 'role'), ctx)))],
  ['/auth/role/add', authRoute('RoleAdd', async (auth, r, ctx) =>
    authHeaderResponseToWire(await auth.roleAdd(s(r, 'AuthRoleAddRequest', 'name'), ctx)))],
  ['/auth/role/get', authRoute('RoleGet', async (auth, r, ctx) =>
    roleGetResponseToWire(await auth.roleGet(s(r, 'AuthRoleGetRequest', 'role'), ctx)))],
  ['/auth/role/list', authRoute('RoleList', async (auth, _r, ctx) => {
    const { header, roles } = await auth.roleList(ctx);
    return { header: headerToWire(header), roles };
  })],
  ['/auth/role/delete', authRoute('RoleDelete', async (auth, r, ctx) =>
    authHeaderResponseToWire(await auth.roleDelete(s(r, 'AuthRoleDeleteRequest', 'role'), ctx)))],
  ['/auth/role/grant', authRoute('RoleGrantPermission', async (auth, r, ctx) => {
    const { name, perm } = roleGrantPermissionRequestFromWire(r);
    return authHeaderResponseToWire(await auth.roleGrantPermission(name, perm, ctx));
  })],
  ['/auth/role/revoke', authRoute('RoleRevokePermission', async (auth, r, ctx) => {
    const { role, key, rangeEnd } = roleRevokePermissionRequestFromWire(r);
    return authHeaderResponseToWire(await auth.roleRevokePermission(role, key, rangeEnd, ctx));
  })],
];
