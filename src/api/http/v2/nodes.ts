// Owns the v2 JSON shapes (node, event) and building them from v3 key-values: value or dir, TTL and
// expiration from the node's lease, indexes from the v3 revisions. Field order is Go's struct order.
import type { EtcdServerApi, KeyValue } from '../../../server/server-api.js';
import { nodeOfKey } from './paths.js';

export interface V2Node {
  key?: string;
  value?: string;
  dir?: boolean;
  expiration?: string;
  ttl?: number;
  nodes?: V2Node[];
  modifiedIndex?: number;
  createdIndex?: number;
}

export type V2Action = 'get' | 'set' | 'create' | 'update' | 'delete' | 'compareAndSwap' | 'compareAndDelete' | 'expire';

export interface V2Event {
  action: V2Action;
  node?: V2Node;
  prevNode?: V2Node;
}

/** Remaining seconds of each lease asked about during one request (one TimeToLive per lease). */
export class LeaseTtlCache {
  private readonly remaining = new Map<bigint, Promise<number>>();

  constructor(private readonly server: EtcdServerApi) {}

  /** Remaining whole seconds, or undefined when the lease is gone (the node is then permanent). */
  async ttlSeconds(lease: bigint): Promise<number | undefined> {
    if (lease === 0n) return undefined;
    let pending = this.remaining.get(lease);
    if (!pending) {
      pending = this.server.leaseTimeToLive(lease, false).then((r) => r.ttl, () => -1);
      this.remaining.set(lease, pending);
    }
    const ttl = await pending;
    return ttl > 0 ? ttl : undefined;
  }
}

export function orderedNode(fields: V2Node): V2Node {
  const node: V2Node = {};
  if (fields.key !== undefined) node.key = fields.key;
  if (fields.value !== undefined) node.value = fields.value;
  if (fields.dir) node.dir = true;
  if (fields.expiration !== undefined) node.expiration = fields.expiration;
  if (fields.ttl !== undefined) node.ttl = fields.ttl;
  if (fields.nodes !== undefined && fields.nodes.length > 0) node.nodes = fields.nodes;
  if (fields.modifiedIndex) node.modifiedIndex = fields.modifiedIndex;
  if (fields.createdIndex) node.createdIndex = fields.createdIndex;
  return node;
}

/** A v3 key-value under the nodes prefix as the v2 node it stores (without children). */
export async function nodeOfKv(kv: KeyValue, leases: LeaseTtlCache, nowMs: number): Promise<V2Node> {
  const located = nodeOfKey(kv.key);
  if (!located) throw new Error(`not a v2 node key: ${kv.key.toString()}`);
  const ttl = await leases.ttlSeconds(kv.lease);
  return orderedNode({
    key: located.path,
    value: located.dir ? undefined : kv.value.toString(),
    dir: located.dir,
    expiration: ttl === undefined ? undefined : new Date(nowMs + ttl * 1000).toISOString(),
    ttl,
    modifiedIndex: kv.modRevision,
    createdIndex: kv.createRevision,
  });
}

/** Go's json.Encoder ends every value with a newline; etcd's v2 bodies do too. */
export function eventJson(event: V2Event): string {
  return `${JSON.stringify(event)}\n`;
}
