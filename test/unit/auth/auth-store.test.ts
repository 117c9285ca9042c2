// The auth store's rules and errors (etcd's), its revision, persistence through apply's batch,
// and the checks (root, permissions, stale revisions) as the gate makes them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkAccess, recheckInApply } from '../../../src/auth/auth-gate.js';
import { AuthStore } from '../../../src/auth/auth-store.js';
import { PermissionType } from '../../../src/auth/permissions.js';
import type { AuthManagementRequest } from '../../../src/auth/types.js';
import { EtcdError } from '../../../src/errors.js';
import { Backend, type BatchOp } from '../../../src/storage/backend.js';

const b = (text: string) => Buffer.from(text);
const secret = Buffer.alloc(32, 7);

function apply(store: AuthStore, request: AuthManagementRequest, batch: BatchOp[] = []): BatchOp[] {
  store.apply(request, batch);
  return batch;
}

function errorOf(store: AuthStore, request: AuthManagementRequest): string | undefined {
  const batch: BatchOp[] = [];
  const revision = store.revision;
  try {
    store.apply(request, batch);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(EtcdError);
    // A refused change touches nothing.
    expect(batch).toEqual([]);
    expect(store.revision).toBe(revision);
    return (error as EtcdError).errorName;
  }
}

function withRoot(): AuthStore {
  const store = new AuthStore();
  apply(store, { op: 'userAdd', name: 'root', passwordHash: 'h' });
  apply(store, { op: 'roleAdd', name: 'root' });
  apply(store, { op: 'userGrantRole', user: 'root', role: 'root' });
  return store;
}

describe('AuthStore rules', () => {
  it('enable needs user root with role root', () => {
    const store = new AuthStore();
    expect(store.revision).toBe(1);
    expect(errorOf(store, { op: 'authEnable', tokenSecret: secret })).toBe('RootUserNotExist');
    apply(store, { op: 'userAdd', name: 'root', passwordHash: 'h' });
    expect(errorOf(store, { op: 'authEnable', tokenSecret: secret })).toBe('RootRoleNotExist');
    // The root role may be granted before it exists, as in etcd.
    apply(store, { op: 'userGrantRole', user: 'root', role: 'root' });
    expect(errorOf(store, { op: 'authEnable', tokenSecret: secret })).toBeUndefined();
    expect(store.enabled).toBe(true);
    expect(store.tokenSecret.equals(secret)).toBe(true);
    const revision = store.revision;
    // Enabling twice changes nothing (no revision step either).
    apply(store, { op: 'authEnable', tokenSecret: Buffer.alloc(32, 1) });
    expect(store.revision).toBe(revision);
    expect(store.tokenSecret.equals(secret)).toBe(true);
  });

  it('protects root while enabled, and only then', () => {
    const store = withRoot();
    apply(store, { op: 'authEnable', tokenSecret: secret });
    expect(errorOf(store, { op: 'userDelete', name: 'root' })).toBe('InvalidAuthMgmt');
    expect(errorOf(store, { op: 'userRevokeRole', name: 'root', role: 'root' })).toBe('InvalidAuthMgmt');
    expect(errorOf(store, { op: 'roleDelete', role: 'root' })).toBe('InvalidAuthMgmt');
    apply(store, { op: 'authDisable' });
    expect(errorOf(store, { op: 'userRevokeRole', name: 'root', role: 'root' })).toBeUndefined();
    expect(errorOf(store, { op: 'roleDelete', role: 'root' })).toBeUndefined();
    expect(errorOf(store, { op: 'userDelete', name: 'root' })).toBeUndefined();
  });

  it('answers etcd errors for empty, duplicate and unknown names and grants', () => {
    const store = withRoot();
    expect(errorOf(store, { op: 'userAdd', name: '', passwordHash: 'h' })).toBe('UserEmpty');
    expect(errorOf(store, { op: 'userAdd', name: 'root', passwordHash: 'h' })).toBe('UserAlreadyExist');
    expect(errorOf(store, { op: 'roleAdd', name: '' })).toBe('RoleEmpty');
    expect(errorOf(store, { op: 'roleAdd', name: 'root' })).toBe('RoleAlreadyExist');
    expect(errorOf(store, { op: 'userDelete', name: 'x' })).toBe('UserNotFound');
    expect(errorOf(store, { op: 'userChangePassword', name: 'x', passwordHash: 'h' })).toBe('UserNotFound');
    expect(errorOf(store, { op: 'userGrantRole', user: 'x', role: 'root' })).toBe('UserNotFound');
    expect(errorOf(store, { op: 'userGrantRole', user: 'root', role: 'nope' })).toBe('RoleNotFound');
    expect(errorOf(store, { op: 'userRevokeRole', name: 'root', role: 'nope' })).toBe('RoleNotGranted');
    expect(errorOf(store, { op: 'roleDelete', role: 'x' })).toBe('RoleNotFound');
    expect(errorOf(store, { op: 'roleGrantPermission', name: 'x', perm: { permType: 0, key: b('a'), rangeEnd: Buffer.alloc(0) } })).toBe('RoleNotFound');
    expect(errorOf(store, { op: 'roleRevokePermission', role: 'root', key: b('a'), rangeEnd: Buffer.alloc(0) })).toBe('PermissionNotGranted');
    // A repeated grant is accepted and changes nothing.
    const revision = store.revision;
    expect(errorOf(store, { op: 'userGrantRole', user: 'root', role: 'root' })).toBeUndefined();
    expect(store.revision).toBe(revision);
  });

  it('deleting a role revokes it from its users; roles and users list sorted', () => {
    const store = withRoot();
    apply(store, { op: 'roleAdd', name: 'b' });
    apply(store, { op: 'roleAdd', name: 'a' });
    apply(store, { op: 'userAdd', name: 'u', passwordHash: undefined });
    apply(store, { op: 'userGrantRole', user: 'u', role: 'b' });
    apply(store, { op: 'userGrantRole', user: 'u', role: 'a' });
    expect(store.userRoles('u')).toEqual(['a', 'b']);
    expect(store.roleNames()).toEqual(['a', 'b', 'root']);
    expect(store.userNames()).toEqual(['root', 'u']);
    apply(store, { op: 'roleDelete', role: 'b' });
    expect(store.userRoles('u')).toEqual(['a']);
  });

  it('checks permissions: root may do all, others what their roles grant; no user ⇒ user name is empty', () => {
    const store = withRoot();
    apply(store, { op: 'roleAdd', name: 'r' });
    apply(store, { op: 'roleGrantPermission', name: 'r', perm: { permType: PermissionType.READ, key: b('a'), rangeEnd: b('b') } });
    apply(store, { op: 'userAdd', name: 'u', passwordHash: 'h' });
    apply(store, { op: 'userGrantRole', user: 'u', role: 'r' });
    const read = { admin: false, keys: [{ access: 'read' as const, key: b('a1'), rangeEnd: Buffer.alloc(0) }] };
    const write = { admin: false, keys: [{ access: 'write' as const, key: b('a1'), rangeEnd: Buffer.alloc(0) }] };
    // Disabled: anything goes.
    expect(() => checkAccess(store, { user: '', revision: store.revision }, write)).not.toThrow();
    apply(store, { op: 'authEnable', tokenSecret: secret });
    const now = store.revision;
    expect(() => checkAccess(store, { user: 'u', revision: now }, read)).not.toThrow();
    expect(() => checkAccess(store, { user: 'u', revision: now }, write)).toThrow('etcdserver: permission denied');
    expect(() => checkAccess(store, { user: 'u', revision: now }, { admin: true, keys: [] })).toThrow('etcdserver: permission denied');
    expect(() => checkAccess(store, { user: 'root', revision: now }, write)).not.toThrow();
    expect(() => checkAccess(store, { user: '', revision: now }, read)).toThrow('etcdserver: user name is empty');
    expect(() => checkAccess(store, { user: 'u', revision: now - 1 }, read)).toThrow('etcdserver: revision of auth store is old');
  });

  it('apply re-checks a request checked at an older revision against the store as it is now', () => {
    const store = withRoot();
    apply(store, { op: 'roleAdd', name: 'r' });
    apply(store, { op: 'roleGrantPermission', name: 'r', perm: { permType: PermissionType.WRITE, key: b('k'), rangeEnd: Buffer.alloc(0) } });
    apply(store, { op: 'userAdd', name: 'u', passwordHash: 'h' });
    apply(store, { op: 'userGrantRole', user: 'u', role: 'r' });
    apply(store, { op: 'authEnable', tokenSecret: secret });
    const checkedAt = { user: 'u', revision: store.revision };
    const write = () => ({ admin: false, keys: [{ access: 'write' as const, key: b('k'), rangeEnd: Buffer.alloc(0) }] });
    expect(() => recheckInApply(store, checkedAt, write)).not.toThrow();
    // An unrelated change: still permitted.
    apply(store, { op: 'roleAdd', name: 'other' });
    expect(() => recheckInApply(store, checkedAt, write)).not.toThrow();
    // The permission is revoked between the check and apply: refused.
    apply(store, { op: 'roleRevokePermission', role: 'r', key: b('k'), rangeEnd: Buffer.alloc(0) });
    expect(() => recheckInApply(store, checkedAt, write)).toThrow('etcdserver: permission denied');
    // The server's own requests carry no identity and are never refused.
    expect(() => recheckInApply(store, undefined, write)).not.toThrow();
  });
});

describe('AuthStore persistence', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a store loaded from the batches apply wrote equals the store in memory', async () => {
    dir = mkdtempSync(join(tmpdir(), 'auth-store-'));
    const backend = await Backend.open(join(dir, 'db'));
    const store = new AuthStore();
    const batch: BatchOp[] = [];
    for (const request of [
      { op: 'userAdd', name: 'root', passwordHash: '$2a$04$x' },
      { op: 'userAdd', name: 'nopw', passwordHash: undefined },
      { op: 'roleAdd', name: 'r' },
      { op: 'roleGrantPermission', name: 'r', perm: { permType: PermissionType.READWRITE, key: b('k\u00ff'), rangeEnd: Buffer.from([0]) } },
      { op: 'userGrantRole', user: 'root', role: 'root' },
      { op: 'userGrantRole', user: 'nopw', role: 'r' },
      { op: 'authEnable', tokenSecret: secret },
      { op: 'roleAdd', name: 'gone' },
      { op: 'roleDelete', role: 'gone' },
    ] satisfies AuthManagementRequest[]) apply(store, request, batch);
    await backend.write(batch, true);
    const loaded = await AuthStore.load(backend);
    await backend.close();
    expect(loaded.enabled).toBe(true);
    expect(loaded.revision).toBe(store.revision);
    expect(loaded.tokenSecret.equals(secret)).toBe(true);
    expect(loaded.userNames()).toEqual(['nopw', 'root']);
    expect(loaded.getUser('nopw')).toEqual(store.getUser('nopw'));
    expect(loaded.getUser('nopw')!.passwordHash).toBeUndefined();
    expect(loaded.roleNames()).toEqual(['r']);
    expect(loaded.rolePermissions('r')).toEqual(store.rolePermissions('r'));
  });
});
