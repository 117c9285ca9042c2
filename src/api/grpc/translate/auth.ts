// Auth wire messages (etcdserverpb.Auth*Request/Response, authpb.Permission) ⇄ AuthServerApi
// arguments and results. Names are strings on the Auth requests and bytes in authpb; keys are bytes.
import type { AuthPermission, ResponseHeader } from '../../../server/server-api.js';
import {
  headerToWire, wireBool, wireBytes, wireEnum, wireObject, wireString, type WireResponseHeader,
} from './common.js';

export interface WirePermission {
  permType: number;
  key: Buffer;
  range_end: Buffer;
}

/** A request's string field (`field` of message `message`). */
export function authStringField(value: unknown, message: string, field: string): string {
  return wireString(wireObject(value, message)[field], field);
}

export function userAddRequestFromWire(value: unknown): { name: string; password: string; noPassword: boolean; hashedPassword: string } {
  const wire = wireObject(value, 'AuthUserAddRequest');
  return {
    name: wireString(wire.name, 'name'),
    password: wireString(wire.password, 'password'),
    noPassword: wireBool(wireObject(wire.options, 'options').no_password, 'no_password'),
    hashedPassword: wireString(wire.hashedPassword, 'hashedPassword'),
  };
}

export function permissionFromWire(value: unknown): AuthPermission {
  const wire = wireObject(value, 'Permission');
  return { permType: wireEnum(wire.permType, 'permType'), key: wireBytes(wire.key, 'key'), rangeEnd: wireBytes(wire.range_end, 'range_end') };
}

export function roleGrantPermissionRequestFromWire(value: unknown): { name: string; perm: AuthPermission | undefined } {
  const wire = wireObject(value, 'AuthRoleGrantPermissionRequest');
  const perm = wire.perm === undefined || wire.perm === null ? undefined : permissionFromWire(wire.perm);
  return { name: wireString(wire.name, 'name'), perm };
}

export function roleRevokePermissionRequestFromWire(value: unknown): { role: string; key: Buffer; rangeEnd: Buffer } {
  const wire = wireObject(value, 'AuthRoleRevokePermissionRequest');
  return { role: wireString(wire.role, 'role'), key: wireBytes(wire.key, 'key'), rangeEnd: wireBytes(wire.range_end, 'range_end') };
}

export function permissionToWire(permission: AuthPermission): WirePermission {
  return { permType: permission.permType, key: permission.key, range_end: permission.rangeEnd };
}

export function authHeaderResponseToWire(result: { header: ResponseHeader }): { header: WireResponseHeader } {
  return { header: headerToWire(result.header) };
}

export function authStatusResponseToWire(result: { header: ResponseHeader; enabled: boolean; authRevision: number }):
{ header: WireResponseHeader; enabled: boolean; authRevision: string } {
  return { header: headerToWire(result.header), enabled: result.enabled, authRevision: String(result.authRevision) };
}

export function roleGetResponseToWire(result: { header: ResponseHeader; perm: AuthPermission[] }): { header: WireResponseHeader; perm: WirePermission[] } {
  return { header: headerToWire(result.header), perm: result.perm.map(permissionToWire) };
}
