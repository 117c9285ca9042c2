// Owns the mapping of the v2 key tree onto the v3 keyspace (documented in README.md): where a file,
// a directory marker and a directory's subtree live, the action record key, and v2 path rules
// (cleaning, hidden `_` names, parent paths).

/** Every v2 node lives under this v3 prefix; v3 clients never collide with it by accident. */
export const v2KeyspacePrefix = '/_etcd-ts/v2/';
/** File `/a/b` is v3 key `<nodes>/a/b`; directory `/a/b` is the marker `<nodes>/a/b/`. */
export const v2NodesPrefix = `${v2KeyspacePrefix}k`;
/** Rewritten by every v2 write in the same txn: it names the action watchers report. */
export const v2ActionKey = Buffer.from(`${v2KeyspacePrefix}action`);
/** Deeper than this cannot be read in one txn with its ancestors (`--max-txn-ops` 128). */
export const v2PathDepthMax = 60;

/** Go's path.Clean(path.Join("/", p)): "" and "/" are the root "/". */
export function cleanV2Path(raw: string): string {
  const out: string[] = [];
  for (const segment of raw.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') out.pop();
    else out.push(segment);
  }
  return `/${out.join('/')}`;
}

export function isRoot(path: string): boolean {
  return path === '/';
}

export function fileKey(path: string): Buffer {
  return Buffer.from(v2NodesPrefix + path);
}

/** The directory marker; also the first key of the directory's subtree range. */
export function dirKey(path: string): Buffer {
  return Buffer.from(isRoot(path) ? `${v2NodesPrefix}/` : `${v2NodesPrefix}${path}/`);
}

/** [start, end) of every key below directory `path` (its own marker included). */
export function subtreeRange(path: string): { key: Buffer; rangeEnd: Buffer } {
  const key = dirKey(path);
  return { key, rangeEnd: prefixEnd(key) };
}

/**
 * [start, end) of every v2 node below the root (the root's own marker left out): what etcd calls
 * custom v2store content when it checks --v2-deprecation at start.
 */
export function v2ContentRange(): { key: Buffer; rangeEnd: Buffer } {
  const root = dirKey('/');
  return { key: Buffer.concat([root, Buffer.from([0])]), rangeEnd: prefixEnd(root) };
}

/** [start, end) of the whole v2 space: nodes and the action record, for watchers. */
export function keyspaceRange(): { key: Buffer; rangeEnd: Buffer } {
  const key = Buffer.from(v2KeyspacePrefix);
  return { key, rangeEnd: prefixEnd(key) };
}

export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** A v3 key under the nodes prefix as a v2 node: its path and whether it is a directory marker. */
export function nodeOfKey(key: Buffer): { path: string; dir: boolean } | undefined {
  const text = key.toString();
  if (!text.startsWith(`${v2NodesPrefix}/`)) return undefined;
  const rest = text.slice(v2NodesPrefix.length);
  if (rest.endsWith('/')) return { path: rest.length === 1 ? '/' : rest.slice(0, -1), dir: true };
  return { path: rest, dir: false };
}

/** `/a/b/c` ⇒ [`/a`, `/a/b`]: the directories a write must find or create. */
export function ancestorsOf(path: string): string[] {
  const segments = path.split('/').filter((s) => s !== '');
  const result: string[] = [];
  for (let i = 1; i < segments.length; i++) result.push(`/${segments.slice(0, i).join('/')}`);
  return result;
}

export function parentOf(path: string): string {
  const cut = path.lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** v2 hides a node whose name starts with `_` from listings and from recursive watchers above it. */
export function isHiddenBelow(watchPath: string, keyPath: string): boolean {
  if (keyPath === watchPath) return false;
  const below = isRoot(watchPath) ? keyPath : keyPath.slice(watchPath.length);
  return below.split('/').some((segment) => segment.startsWith('_'));
}

/** `b` is `a` itself or inside directory `a`. */
export function isWithin(a: string, b: string): boolean {
  if (isRoot(a)) return true;
  return b === a || b.startsWith(`${a}/`);
}
