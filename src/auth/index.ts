// auth/ owns authentication and authorization: the replicated auth store (users, roles, key
// permissions, enabled flag, auth revision, token secret), passwords (bcrypt), tokens (simple and
// JWT), what each request needs and the checks. It imports only errors, mvcc/types, storage and
// config/duration; server/ wires it in, apply is the only writer of the store.
export { AuthStore, usersMax, rolesMax, permissionsPerRoleMax } from './auth-store.js';
export { AuthGate, checkAccess, recheckInApply } from './auth-gate.js';
export { PermissionType, type PermissionTypeValue, type KeyPermission, type KeyAccess, isAccessPermitted, grantPermission } from './permissions.js';
export { requiredAccess, rangeAccess, putAccess, deleteRangeAccess, txnAccess, leaseRevokeAccess, type RequiredAccess, type LeaseKeys } from './request-access.js';
export { TokenProvider, type TokenIdentity } from './token-provider.js';
export { SimpleTokens } from './simple-token.js';
export { JwtTokens } from './jwt-token.js';
export { hashPassword, checkPassword, isBcryptHash } from './password.js';
export { type AuthManagementRequest, type AuthManagementOp, type AuthUser, type AuthRole, type RequestAuth, ROOT_USER, ROOT_ROLE } from './types.js';
