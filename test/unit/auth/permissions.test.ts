// Permission range logic against a dumb reference that enumerates keys one by one.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type KeyAccess, type KeyPermission, PermissionType, grantPermission, isAccessPermitted } from '../../../src/auth/permissions.js';

const b = (text: string) => Buffer.from(text, 'latin1');

// Interval bounds use the alphabet {0,1,2} and at most 2 bytes, so a single key's end (key+"\0")
// has at most 3: every gap between such intervals starts at one of their bounds, hence some key of
// at most 3 bytes over the same alphabet lies in it. Enumerating those keys decides coverage exactly.
const ALPHABET = [0, 1, 2];
const universe: Buffer[] = [];
function enumerate(prefix: number[]): void {
  if (prefix.length > 0) universe.push(Buffer.from(prefix));
  if (prefix.length === 3) return;
  for (const c of ALPHABET) enumerate([...prefix, c]);
}
enumerate([]);

function inRange(key: Buffer, start: Buffer, rangeEnd: Buffer): boolean {
  if (rangeEnd.length === 0) return key.equals(start);
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return Buffer.compare(key, start) >= 0;
  return Buffer.compare(key, start) >= 0 && Buffer.compare(key, rangeEnd) < 0;
}

function referencePermitted(permissions: KeyPermission[], request: KeyAccess): boolean {
  const usable = permissions.filter((p) => p.permType === PermissionType.READWRITE
    || (request.access === 'read' ? p.permType === PermissionType.READ : p.permType === PermissionType.WRITE));
  const covered = (key: Buffer) => usable.some((p) => inRange(key, p.key, p.rangeEnd));
  const keys = universe.filter((key) => inRange(key, request.key, request.rangeEnd));
  // An empty range (end <= start) holds no key: like the sweep, require its start to be covered.
  if (keys.length === 0) return covered(request.key);
  return keys.every(covered);
}

const key = fc.array(fc.constantFrom(...ALPHABET), { minLength: 1, maxLength: 2 }).map((a) => Buffer.from(a));
const rangeEnd = fc.oneof(
  fc.constant(Buffer.alloc(0)),
  fc.constant(Buffer.from([0])),
  key,
);
const permission: fc.Arbitrary<KeyPermission> = fc.record({
  permType: fc.constantFrom(PermissionType.READ, PermissionType.WRITE, PermissionType.READWRITE),
  key, rangeEnd,
}, { noNullPrototype: true });
const access: fc.Arbitrary<KeyAccess> = fc.record({ access: fc.constantFrom('read' as const, 'write' as const), key, rangeEnd }, { noNullPrototype: true });

describe('isAccessPermitted', () => {
  it('agrees with key-by-key enumeration', () => {
    fc.assert(fc.property(fc.array(permission, { maxLength: 6 }), access, (permissions, request) => {
      expect(isAccessPermitted(permissions, request)).toBe(referencePermitted(permissions, request));
    }), { numRuns: 3000 });
  });

  it('joins adjacent ranges and single keys, and keeps READ and WRITE apart', () => {
    const perms: KeyPermission[] = [
      { permType: PermissionType.READ, key: b('a'), rangeEnd: b('c') },
      { permType: PermissionType.READ, key: b('c'), rangeEnd: Buffer.alloc(0) },
      { permType: PermissionType.READWRITE, key: b('c\0'), rangeEnd: b('e') },
    ];
    expect(isAccessPermitted(perms, { access: 'read', key: b('a'), rangeEnd: b('e') })).toBe(true);
    expect(isAccessPermitted(perms, { access: 'read', key: b('a'), rangeEnd: b('e\0') })).toBe(false);
    expect(isAccessPermitted(perms, { access: 'write', key: b('b'), rangeEnd: Buffer.alloc(0) })).toBe(false);
    expect(isAccessPermitted(perms, { access: 'write', key: b('d'), rangeEnd: Buffer.alloc(0) })).toBe(true);
    expect(isAccessPermitted(perms, { access: 'read', key: b('z'), rangeEnd: b('\0') })).toBe(false);
    const open: KeyPermission[] = [{ permType: PermissionType.READ, key: b('m'), rangeEnd: b('\0') }];
    expect(isAccessPermitted(open, { access: 'read', key: b('n'), rangeEnd: b('\0') })).toBe(true);
    expect(isAccessPermitted(open, { access: 'read', key: b('l'), rangeEnd: b('\0') })).toBe(false);
  });

  it('grantPermission replaces the type of the same range and keeps permissions sorted by key', () => {
    let perms = grantPermission([], { permType: PermissionType.READ, key: b('b'), rangeEnd: b('c') });
    perms = grantPermission(perms, { permType: PermissionType.WRITE, key: b('a'), rangeEnd: Buffer.alloc(0) });
    perms = grantPermission(perms, { permType: PermissionType.READWRITE, key: b('b'), rangeEnd: b('c') });
    expect(perms.map((p) => [p.key.toString(), p.permType])).toEqual([['a', PermissionType.WRITE], ['b', PermissionType.READWRITE]]);
  });
});
