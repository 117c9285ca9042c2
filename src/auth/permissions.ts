// Key permissions of auth roles and the one question asked of them: is every key of a requested
// range covered by the union of a user's permitted ranges? Pure functions over byte strings.
//
// A permission or request names keys as etcd does: range_end empty = the single key `key`;
// range_end "\0" = every key >= key; otherwise the half-open interval [key, range_end).

export const PermissionType = { READ: 0, WRITE: 1, READWRITE: 2 } as const;
export type PermissionTypeValue = (typeof PermissionType)[keyof typeof PermissionType];

export interface KeyPermission {
  permType: PermissionTypeValue;
  key: Buffer;
  rangeEnd: Buffer;
}

/** What a request needs: READ or WRITE over [key, rangeEnd) in etcd's range notation. */
export interface KeyAccess {
  access: 'read' | 'write';
  key: Buffer;
  rangeEnd: Buffer;
}

/** A half-open byte interval; `end` undefined = no upper bound. */
interface Interval {
  start: Buffer;
  end: Buffer | undefined;
}

const ZERO = Buffer.from([0]);

function toInterval(key: Buffer, rangeEnd: Buffer): Interval {
  if (rangeEnd.length === 0) return { start: key, end: Buffer.concat([key, ZERO]) };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { start: key, end: undefined };
  return { start: key, end: rangeEnd };
}

function grants(permType: PermissionTypeValue, access: 'read' | 'write'): boolean {
  if (permType === PermissionType.READWRITE) return true;
  return access === 'read' ? permType === PermissionType.READ : permType === PermissionType.WRITE;
}

/**
 * True when every key of `request` lies in some permitted range of the matching type. An empty
 * requested interval (range_end <= key) holds no key; etcd still refuses it unless some permission
 * contains its start, and so do we (the check below walks from the start).
 */
export function isAccessPermitted(permissions: readonly KeyPermission[], request: KeyAccess): boolean {
  const wanted = toInterval(request.key, request.rangeEnd);
  const ranges = permissions
    .filter((p) => grants(p.permType, request.access))
    .map((p) => toInterval(p.key, p.rangeEnd))
    .sort((a, b) => Buffer.compare(a.start, b.start));
  // Sweep: `covered` is the point up to which [wanted.start, covered) is known to be permitted.
  let covered = wanted.start;
  let started = false;
  for (const range of ranges) {
    if (Buffer.compare(range.start, covered) > 0) break; // a gap before this range
    if (range.end === undefined) return true;
    if (Buffer.compare(range.end, covered) > 0) {
      covered = range.end;
      started = true;
    }
    if (wanted.end !== undefined && started && Buffer.compare(covered, wanted.end) >= 0) return true;
  }
  return false;
}

/** etcd keeps a role's permissions sorted by key; a grant over the same [key, range_end) replaces the type. */
export function grantPermission(permissions: readonly KeyPermission[], permission: KeyPermission): KeyPermission[] {
  const out = permissions.filter((p) => !(p.key.equals(permission.key) && p.rangeEnd.equals(permission.rangeEnd)));
  out.push(permission);
  out.sort((a, b) => Buffer.compare(a.key, b.key) || Buffer.compare(a.rangeEnd, b.rangeEnd));
  return out;
}
