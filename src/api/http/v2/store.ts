// Owns the v2 keys operations as v3 requests: reads are range txns; every write reads what it
// depends on, decides as etcd's v2 store would, and commits one v3 txn guarded by the mod revisions
// it read (the action record included, so v2 writes are serialised cluster-wide) — no second store.
import { CompareResult, CompareTarget, emptyRangeRequest, type Compare, type KeyValue, type RequestOp, type TxnResult } from '../../../mvcc/types.js';
import type { EtcdServerApi } from '../../../server/server-api.js';
import { V2Error } from './errors.js';
import { LeaseTtlCache, nodeOfKv, orderedNode, type V2Action, type V2Event, type V2Node } from './nodes.js';
import {
  ancestorsOf, baseName, dirKey, fileKey, isRoot, nodeOfKey, subtreeRange, v2ActionKey, v2PathDepthMax,
} from './paths.js';

export interface V2Result {
  event: V2Event;
  /** X-Etcd-Index: the v3 revision after the operation. */
  etcdIndex: number;
}

export interface V2SetOptions {
  value: string;
  dir: boolean;
  /** undefined: the node becomes permanent (v2 drops a TTL that a write does not repeat). */
  ttlSeconds?: number;
  prevExist?: boolean;
  prevValue?: string;
  prevIndex?: number;
  refresh: boolean;
}

export interface V2DeleteOptions {
  dir: boolean;
  recursive: boolean;
  prevValue?: string;
  prevIndex?: number;
}

/** What the action record says about the write of its revision (watchers read it). */
export interface V2ActionRecord {
  action: V2Action;
  key: string;
  dir: boolean;
  /** A TTL refresh: v2 does not notify watchers of it. */
  refresh?: boolean;
}

/** A txn that lost a race with another write is decided again on fresh reads, this many times. */
const writeConflictRetriesMax = 16;
/** v2 writes wait in one local queue (they serialise anyway): beyond this, callers get 300. */
export const v2WritesPendingMax = 10_000;

interface Located {
  kv: KeyValue;
  dir: boolean;
}

interface WriteSnapshot {
  revision: number;
  actionModRevision: number;
  node?: Located;
  /** Number of keys below a directory node (0 for files and missing nodes). */
  childCount: number;
  /** The nearest ancestor that is a file (writes below it fail with 104). */
  fileAncestor?: string;
  missingAncestors: string[];
  /** Every key read with the mod revision seen: the txn's guards. */
  guards: Array<{ key: Buffer; modRevision: number }>;
}

export interface V2StoreStats {
  getsSuccess: number;
  getsFail: number;
  setsSuccess: number;
  setsFail: number;
  deleteSuccess: number;
  deleteFail: number;
  updateSuccess: number;
  updateFail: number;
  createSuccess: number;
  createFail: number;
  compareAndSwapSuccess: number;
  compareAndSwapFail: number;
  compareAndDeleteSuccess: number;
  compareAndDeleteFail: number;
  expireCount: number;
  watchers: number;
}

function rangeOp(key: Buffer, rangeEnd?: Buffer, limit = 0): RequestOp {
  return { range: { ...emptyRangeRequest(key, rangeEnd), limit } };
}

function modGuard(key: Buffer, modRevision: number): Compare {
  return { result: CompareResult.EQUAL, target: CompareTarget.MOD, key, rangeEnd: Buffer.alloc(0), number: modRevision, value: Buffer.alloc(0), lease: 0n };
}

function rangeKvs(result: TxnResult, index: number): { kvs: KeyValue[]; count: number } {
  const op = result.responses[index];
  if (!op || !('range' in op)) throw new Error('v2 read txn: expected a range response');
  return op.range;
}

export class V2Store {
  readonly stats: V2StoreStats = {
    getsSuccess: 0, getsFail: 0, setsSuccess: 0, setsFail: 0, deleteSuccess: 0, deleteFail: 0, updateSuccess: 0,
    updateFail: 0, createSuccess: 0, createFail: 0, compareAndSwapSuccess: 0, compareAndSwapFail: 0,
    compareAndDeleteSuccess: 0, compareAndDeleteFail: 0, expireCount: 0, watchers: 0,
  };
  private writeQueue: Promise<unknown> = Promise.resolve();
  private writesPending = 0;

  constructor(private readonly server: EtcdServerApi, private readonly nowMs: () => number = Date.now) {}

  /** The current v3 revision: what v2 calls the store index. */
  async currentIndex(): Promise<number> {
    const { header } = await this.server.range({ ...emptyRangeRequest(v2ActionKey), countOnly: true });
    return header.revision;
  }

  async get(path: string, recursive: boolean, sorted: boolean): Promise<V2Result> {
    try {
      const result = await this.read(path, recursive, sorted);
      this.stats.getsSuccess++;
      return result;
    } catch (error) {
      this.stats.getsFail++;
      throw error;
    }
  }

  private async read(path: string, recursive: boolean, sorted: boolean): Promise<V2Result> {
    const subtree = subtreeRange(path);
    const ops = isRoot(path) ? [rangeOp(subtree.key, subtree.rangeEnd)] : [rangeOp(fileKey(path)), rangeOp(subtree.key, subtree.rangeEnd)];
    const { header, result } = await this.server.txn({ compare: [], success: ops, failure: [] });
    const revision = header.revision;
    const leases = new LeaseTtlCache(this.server);
    const now = this.nowMs();
    if (!isRoot(path)) {
      const file = rangeKvs(result, 0).kvs[0];
      if (file) return { event: { action: 'get', node: await nodeOfKv(file, leases, now) }, etcdIndex: revision };
    }
    const below = rangeKvs(result, isRoot(path) ? 0 : 1).kvs;
    const marker = isRoot(path) ? undefined : below[0];
    if (!isRoot(path) && (!marker || !marker.key.equals(dirKey(path)))) throw new V2Error(100, path, revision);
    const children = await this.tree(path, below, recursive, sorted, leases, now);
    const node = isRoot(path)
      ? orderedNode({ dir: true, nodes: children })
      : { ...(await nodeOfKv(marker!, leases, now)) };
    if (!isRoot(path)) {
      // Children go between ttl and the indexes in Go's field order.
      return { event: { action: 'get', node: orderedNode({ ...node, nodes: children }) }, etcdIndex: revision };
    }
    return { event: { action: 'get', node }, etcdIndex: revision };
  }

  /** The children of directory `path` (one level, or the whole subtree) without hidden names. */
  private async tree(path: string, below: KeyValue[], recursive: boolean, sorted: boolean, leases: LeaseTtlCache, now: number): Promise<V2Node[]> {
    const byParent = new Map<string, Array<{ path: string; kv: KeyValue; dir: boolean }>>();
    const depth = isRoot(path) ? 0 : path.split('/').length - 1;
    for (const kv of below) {
      const located = nodeOfKey(kv.key);
      if (!located || located.path === path) continue;
      const nodeDepth = located.path.split('/').length - 1;
      if (!recursive && nodeDepth !== depth + 1) continue;
      const parent = located.path.slice(0, located.path.lastIndexOf('/')) || '/';
      let siblings = byParent.get(parent);
      if (!siblings) byParent.set(parent, (siblings = []));
      siblings.push({ path: located.path, kv, dir: located.dir });
    }
    const build = async (parent: string): Promise<V2Node[]> => {
      const entries = (byParent.get(parent) ?? []).filter((e) => !baseName(e.path).startsWith('_'));
      if (sorted) entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
      const nodes: V2Node[] = [];
      for (const entry of entries) {
        const node = await nodeOfKv(entry.kv, leases, now);
        nodes.push(entry.dir && recursive ? orderedNode({ ...node, nodes: await build(entry.path) }) : node);
      }
      return nodes;
    };
    return build(path);
  }

  /** PUT: set, create, update or compareAndSwap, as etcd's v2 apply chooses by the options. */
  async set(path: string, options: V2SetOptions): Promise<V2Result> {
    const action: V2Action = options.prevExist === false ? 'create'
      : options.prevIndex || options.prevValue ? 'compareAndSwap'
        : options.prevExist === true ? 'update' : 'set';
    return this.counted(action, () => this.serialised(() => this.writeLoop(path, (s) => this.decideSet(path, action, options, s))));
  }

  /** POST: a new file under directory `dirPath` named by the next index, 20 digits. */
  async createInOrder(dirPath: string, value: string, ttlSeconds: number | undefined): Promise<V2Result> {
    return this.counted('create', () => this.serialised(async () => {
      for (let attempt = 0; attempt < writeConflictRetriesMax; attempt++) {
        const dirState = await this.snapshot(dirPath, false);
        const name = String(dirState.revision + 1).padStart(20, '0');
        const path = isRoot(dirPath) ? `/${name}` : `${dirPath}/${name}`;
        const snapshot = await this.snapshot(path, false);
        if (snapshot.actionModRevision !== dirState.actionModRevision) continue;
        const done = await this.commitDecision(path, this.decideSet(path, 'create', { value, dir: false, ttlSeconds, prevExist: false, refresh: false }, snapshot));
        if (done) return done;
      }
      throw new V2Error(300, 'too many conflicting writes', 0);
    }));
  }

  async delete(path: string, options: V2DeleteOptions): Promise<V2Result> {
    const action: V2Action = options.prevIndex || options.prevValue ? 'compareAndDelete' : 'delete';
    return this.counted(action, () => this.serialised(() => this.writeLoop(path, (s) => this.decideDelete(path, action, options, s))));
  }

  private async counted(action: V2Action, run: () => Promise<V2Result>): Promise<V2Result> {
    const names: Record<string, [keyof V2StoreStats, keyof V2StoreStats]> = {
      set: ['setsSuccess', 'setsFail'], create: ['createSuccess', 'createFail'], update: ['updateSuccess', 'updateFail'],
      compareAndSwap: ['compareAndSwapSuccess', 'compareAndSwapFail'], delete: ['deleteSuccess', 'deleteFail'],
      compareAndDelete: ['compareAndDeleteSuccess', 'compareAndDeleteFail'],
    };
    const [ok, fail] = names[action];
    try {
      const result = await run();
      this.stats[ok]++;
      return result;
    } catch (error) {
      this.stats[fail]++;
      throw error;
    }
  }

  /** One v2 write at a time from this member: they would only conflict on the action record. */
  private serialised<T>(run: () => Promise<T>): Promise<T> {
    if (this.writesPending >= v2WritesPendingMax) return Promise.reject(new V2Error(300, 'too many pending v2 writes', 0));
    this.writesPending++;
    const next = this.writeQueue.then(run, run);
    this.writeQueue = next.then(() => undefined, () => undefined);
    return next.finally(() => { this.writesPending--; });
  }

  private async writeLoop(path: string, decide: (snapshot: WriteSnapshot) => Decision | Promise<Decision>): Promise<V2Result> {
    if (path.split('/').length - 1 > v2PathDepthMax) throw new V2Error(209, `path deeper than ${v2PathDepthMax}`, 0);
    for (let attempt = 0; attempt < writeConflictRetriesMax; attempt++) {
      const snapshot = await this.snapshot(path, true);
      const done = await this.commitDecision(path, await decide(snapshot));
      if (done) return done;
    }
    throw new V2Error(300, 'too many conflicting writes', 0);
  }

  /** Reads the node, its subtree size, its ancestors and the action record at one revision. */
  private async snapshot(path: string, withChildren: boolean): Promise<WriteSnapshot> {
    const ancestors = ancestorsOf(path);
    const subtree = subtreeRange(path);
    const ops: RequestOp[] = [rangeOp(v2ActionKey), rangeOp(fileKey(path)), withChildren ? rangeOp(subtree.key, subtree.rangeEnd, 2) : rangeOp(dirKey(path))];
    for (const ancestor of ancestors) ops.push(rangeOp(fileKey(ancestor)), rangeOp(dirKey(ancestor)));
    const { header, result } = await this.server.txn({ compare: [], success: ops, failure: [] });
    const action = rangeKvs(result, 0).kvs[0];
    const file = rangeKvs(result, 1).kvs[0];
    const below = rangeKvs(result, 2);
    const marker = below.kvs[0]?.key.equals(dirKey(path)) ? below.kvs[0] : undefined;
    const guards = [
      { key: v2ActionKey, modRevision: action?.modRevision ?? 0 },
      { key: fileKey(path), modRevision: file?.modRevision ?? 0 },
      { key: dirKey(path), modRevision: marker?.modRevision ?? 0 },
    ];
    let fileAncestor: string | undefined;
    const missingAncestors: string[] = [];
    ancestors.forEach((ancestor, i) => {
      const ancestorFile = rangeKvs(result, 3 + 2 * i).kvs[0];
      const ancestorDir = rangeKvs(result, 4 + 2 * i).kvs[0];
      guards.push({ key: fileKey(ancestor), modRevision: ancestorFile?.modRevision ?? 0 });
      guards.push({ key: dirKey(ancestor), modRevision: ancestorDir?.modRevision ?? 0 });
      if (ancestorFile && fileAncestor === undefined) fileAncestor = ancestor;
      if (!ancestorFile && !ancestorDir) missingAncestors.push(ancestor);
    });
    const node = file ? { kv: file, dir: false } : marker ? { kv: marker, dir: true } : undefined;
    return {
      revision: header.revision, actionModRevision: action?.modRevision ?? 0, node,
      childCount: marker && withChildren ? below.count - 1 : 0, fileAncestor, missingAncestors, guards,
    };
  }

  private decideSet(path: string, action: V2Action, options: V2SetOptions, s: WriteSnapshot): Decision {
    if (isRoot(path)) throw new V2Error(107, '/', s.revision);
    if (s.fileAncestor !== undefined) throw new V2Error(104, s.fileAncestor, s.revision);
    const node = s.node;
    if (options.refresh && !node) throw new V2Error(100, path, s.revision);
    switch (action) {
      case 'create':
        if (node) throw new V2Error(105, path, s.revision);
        break;
      case 'update':
        if (!node) throw new V2Error(100, path, s.revision);
        if (node.dir && options.value !== '' && !options.refresh) throw new V2Error(102, path, s.revision);
        break;
      case 'compareAndSwap': {
        if (!node) throw new V2Error(100, path, s.revision);
        if (node.dir) throw new V2Error(102, path, s.revision);
        const value = node.kv.value.toString();
        const valueFails = options.prevValue !== undefined && options.prevValue !== '' && options.prevValue !== value;
        const indexFails = options.prevIndex !== undefined && options.prevIndex !== 0 && options.prevIndex !== node.kv.modRevision;
        if (valueFails && indexFails) throw new V2Error(101, `[${options.prevValue} != ${value}] [${options.prevIndex} != ${node.kv.modRevision}]`, s.revision);
        if (valueFails) throw new V2Error(101, `[${options.prevValue} != ${value}]`, s.revision);
        if (indexFails) throw new V2Error(101, `[${options.prevIndex} != ${node.kv.modRevision}]`, s.revision);
        break;
      }
      default:
        if (node?.dir) throw new V2Error(102, path, s.revision);
    }
    // A refresh keeps what the node is; otherwise an update of a directory stays a directory.
    const makeDir = options.refresh || action === 'update' ? (node?.dir ?? options.dir) : options.dir;
    const value = options.refresh ? node!.kv.value : Buffer.from(makeDir ? '' : options.value);
    return { kind: 'put', action, path, dir: makeDir, value, ttlSeconds: options.ttlSeconds, refresh: options.refresh, snapshot: s };
  }

  private decideDelete(path: string, action: V2Action, options: V2DeleteOptions, s: WriteSnapshot): Decision {
    if (isRoot(path)) throw new V2Error(107, '/', s.revision);
    const node = s.node;
    if (!node) throw new V2Error(100, path, s.revision);
    if (action === 'compareAndDelete') {
      if (node.dir) throw new V2Error(102, path, s.revision);
      const value = node.kv.value.toString();
      const valueFails = options.prevValue !== undefined && options.prevValue !== '' && options.prevValue !== value;
      const indexFails = options.prevIndex !== undefined && options.prevIndex !== 0 && options.prevIndex !== node.kv.modRevision;
      if (valueFails && indexFails) throw new V2Error(101, `[${options.prevValue} != ${value}] [${options.prevIndex} != ${node.kv.modRevision}]`, s.revision);
      if (valueFails) throw new V2Error(101, `[${options.prevValue} != ${value}]`, s.revision);
      if (indexFails) throw new V2Error(101, `[${options.prevIndex} != ${node.kv.modRevision}]`, s.revision);
    } else if (node.dir) {
      if (!options.dir && !options.recursive) throw new V2Error(102, path, s.revision);
      if (!options.recursive && s.childCount > 0) throw new V2Error(108, path, s.revision);
    }
    return { kind: 'delete', action, path, dir: node.dir, snapshot: s };
  }

  /** Commits a decision; undefined when a guard failed (someone wrote in between: decide again). */
  private async commitDecision(path: string, decision: Decision): Promise<V2Result | undefined> {
    const s = decision.snapshot;
    const leases = new LeaseTtlCache(this.server);
    const now = this.nowMs();
    const prevNode = s.node ? await nodeOfKv(s.node.kv, leases, now) : undefined;
    const record: V2ActionRecord = { action: decision.action, key: path, dir: decision.dir };

    if (decision.kind === 'put' && decision.refresh && s.node && decision.ttlSeconds !== undefined) {
      const kept = await this.refreshByKeepAlive(s.node.kv, decision.ttlSeconds);
      if (kept) {
        // Just renewed: the node has its whole TTL again.
        const node = orderedNode({ ...(await nodeOfKv(s.node.kv, leases, now)), ttl: decision.ttlSeconds, expiration: new Date(now + decision.ttlSeconds * 1000).toISOString() });
        return { event: { action: decision.action, node, prevNode }, etcdIndex: s.revision };
      }
    }

    const ops: RequestOp[] = [];
    let lease = 0n;
    if (decision.kind === 'put') {
      if (decision.refresh) record.refresh = true;
      if (decision.ttlSeconds !== undefined && decision.ttlSeconds > 0) {
        lease = (await this.server.leaseGrant(decision.ttlSeconds, 0n)).id;
      }
      for (const missing of s.missingAncestors) ops.push({ put: { key: dirKey(missing), value: Buffer.alloc(0), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false } });
      // A file replaced by a directory (or the reverse) leaves its old key.
      if (s.node && s.node.dir !== decision.dir) ops.push({ deleteRange: { key: s.node.kv.key, rangeEnd: Buffer.alloc(0), prevKv: false } });
      ops.push({ put: { key: decision.dir ? dirKey(path) : fileKey(path), value: decision.value, lease, prevKv: false, ignoreValue: false, ignoreLease: false } });
    } else if (decision.dir) {
      const subtree = subtreeRange(path);
      ops.push({ deleteRange: { key: subtree.key, rangeEnd: subtree.rangeEnd, prevKv: false } });
    } else {
      ops.push({ deleteRange: { key: fileKey(path), rangeEnd: Buffer.alloc(0), prevKv: false } });
    }
    ops.push({ put: { key: v2ActionKey, value: Buffer.from(JSON.stringify(record)), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false } });

    let committed: { header: { revision: number }; result: TxnResult };
    try {
      committed = await this.server.txn({ compare: s.guards.map((g) => modGuard(g.key, g.modRevision)), success: ops, failure: [] });
    } catch (error) {
      if (lease !== 0n) await this.server.leaseRevoke(lease).catch(() => undefined);
      throw error;
    }
    if (!committed.result.succeeded) {
      if (lease !== 0n) await this.server.leaseRevoke(lease).catch(() => undefined);
      return undefined;
    }
    const revision = committed.header.revision;
    if (decision.kind === 'delete') {
      const node = orderedNode({ key: path, dir: decision.dir, modifiedIndex: revision, createdIndex: s.node!.kv.createRevision });
      return { event: { action: decision.action, node, prevNode }, etcdIndex: revision };
    }
    // v3 keeps a key's create revision across puts; a new node (or a replaced kind) starts now.
    const createdIndex = s.node && s.node.dir === decision.dir ? s.node.kv.createRevision : revision;
    const ttl = lease === 0n ? undefined : decision.ttlSeconds;
    const node = orderedNode({
      key: path,
      value: decision.dir ? undefined : decision.value.toString(),
      dir: decision.dir,
      expiration: ttl === undefined ? undefined : new Date(now + ttl * 1000).toISOString(),
      ttl,
      modifiedIndex: revision,
      createdIndex,
    });
    return { event: { action: decision.action, node, prevNode }, etcdIndex: revision };
  }

  /**
   * A refresh with the TTL the node's lease was granted is a lease keep-alive: no log entry, no
   * new revision, no watcher woken (v2 does not notify refreshes either).
   */
  private async refreshByKeepAlive(kv: KeyValue, ttlSeconds: number): Promise<boolean> {
    if (kv.lease === 0n) return false;
    const current = await this.server.leaseTimeToLive(kv.lease, false).catch(() => undefined);
    if (!current || current.ttl <= 0 || current.grantedTtl !== ttlSeconds) return false;
    const renewed = await this.server.leaseKeepAlive(kv.lease);
    return renewed.ttl > 0;
  }
}

type Decision =
  | { kind: 'put'; action: V2Action; path: string; dir: boolean; value: Buffer; ttlSeconds?: number; refresh: boolean; snapshot: WriteSnapshot }
  | { kind: 'delete'; action: V2Action; path: string; dir: boolean; snapshot: WriteSnapshot };

