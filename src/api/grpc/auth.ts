// The etcdserverpb.Auth service: thin handlers over AuthServerApi (EtcdServer.auth). Registered
// with registerAuthService on the server that createGrpcServer built.
import type { Server, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { AuthServerApi } from '../../server/server-api.js';
import { headerToWire } from './translate/common.js';
import {
  authHeaderResponseToWire, authStatusResponseToWire, authStringField, roleGetResponseToWire,
  roleGrantPermissionRequestFromWire, roleRevokePermissionRequestFromWire, userAddRequestFromWire,
} from './translate/auth.js';
import { loadServiceDefinitions } from './definitions.js';
import { unary } from './calls.js';
import { addServiceWithFastPath } from './lean-path.js';

export function authService(auth: AuthServerApi, logger: Logger): UntypedServiceImplementation {
  const s = authStringField;
  return {
    AuthEnable: unary(logger, 'AuthEnable', async (_r, ctx) => authHeaderResponseToWire(await auth.authEnable(ctx))),
    AuthDisable: unary(logger, 'AuthDisable', async (_r, ctx) => authHeaderResponseToWire(await auth.authDisable(ctx))),
    AuthStatus: unary(logger, 'AuthStatus', async (_r, ctx) => authStatusResponseToWire(await auth.authStatus(ctx))),
    Authenticate: unary(logger, 'Authenticate', async (r, ctx) => {
      const { header, token } = await auth.authenticate(s(r, 'AuthenticateRequest', 'name'), s(r, 'AuthenticateRequest', 'password'), ctx);
      return { header: headerToWire(header), token };
    }),
    UserAdd: unary(logger, 'UserAdd', async (r, ctx) => {
      const { name, password, noPassword, hashedPassword } = userAddRequestFromWire(r);
      return authHeaderResponseToWire(await auth.userAdd(name, password, { noPassword, hashedPassword }, ctx));
    }),
    UserGet: unary(logger, 'UserGet', async (r, ctx) => {
      const { header, roles } = await auth.userGet(s(r, 'AuthUserGetRequest', 'name'), ctx);
      return { header: headerToWire(header), roles };
    }),
    UserList: unary(logger, 'UserList', async (_r, ctx) => {
      const { header, users } = await auth.userList(ctx);
      return { header: headerToWire(header), users };
    }),
    UserDelete: unary(logger, 'UserDelete', async (r, ctx) =>
      authHeaderResponseToWire(await auth.userDelete(s(r, 'AuthUserDeleteRequest', 'name'), ctx))),
    UserChangePassword: unary(logger, 'UserChangePassword', async (r, ctx) => authHeaderResponseToWire(await auth.userChangePassword(
      s(r, 'AuthUserChangePasswordRequest', 'name'), s(r, 'AuthUserChangePasswordRequest', 'password'),
      s(r, 'AuthUserChangePasswordRequest', 'hashedPassword'), ctx))),
    UserGrantRole: unary(logger, 'UserGrantRole', async (r, ctx) => authHeaderResponseToWire(await auth.userGrantRole(
      s(r, 'AuthUserGrantRoleRequest', 'user'), s(r, 'AuthUserGrantRoleRequest', 'role'), ctx))),
    UserRevokeRole: unary(logger, 'UserRevokeRole', async (r, ctx) => authHeaderResponseToWire(await auth.userRevokeRole(
      s(r, 'AuthUserRevokeRoleRequest', 'name'), s(r, 'AuthUserRevokeRoleRequest', 'role'), ctx))),
    RoleAdd: unary(logger, 'RoleAdd', async (r, ctx) => authHeaderResponseToWire(await auth.roleAdd(s(r, 'AuthRoleAddRequest', 'name'), ctx))),
    RoleGet: unary(logger, 'RoleGet', async (r, ctx) => roleGetResponseToWire(await auth.roleGet(s(r, 'AuthRoleGetRequest', 'role'), ctx))),
    RoleList: unary(logger, 'RoleList', async (_r, ctx) => {
      const { header, roles } = await auth.roleList(ctx);
      return { header: headerToWire(header), roles };
    }),
    RoleDelete: unary(logger, 'RoleDelete', async (r, ctx) => authHeaderResponseToWire(await auth.roleDelete(s(r, 'AuthRoleDeleteRequest', 'role'), ctx))),
    RoleGrantPermission: unary(logger, 'RoleGrantPermission', async (r, ctx) => {
      const { name, perm } = roleGrantPermissionRequestFromWire(r);
      return authHeaderResponseToWire(await auth.roleGrantPermission(name, perm, ctx));
    }),
    RoleRevokePermission: unary(logger, 'RoleRevokePermission', async (r, ctx) => {
      const { role, key, rangeEnd } = roleRevokePermissionRequestFromWire(r);
      return authHeaderResponseToWire(await auth.roleRevokePermission(role, key, rangeEnd, ctx));
    }),
  };
}

/** Adds the Auth service to a server built by createGrpcServer (before it is bound). */
export function registerAuthService(grpcServer: Server, auth: AuthServerApi, logger: Logger): void {
  addServiceWithFastPath(grpcServer, loadServiceDefinitions()['etcdserverpb.Auth'], authService(auth, logger.child({ component: 'grpc' })));
}
