// Cluster membership: the members, their ids and the cluster id, derived exactly as etcd derives
// them so that `etcdctl member list` shows the same ids for the same flags:
//   member id  = first 8 bytes (big-endian) of sha1(sorted peer URLs concatenated + cluster token
//                [+ unix seconds, for members added at run time])
//   cluster id = first 8 bytes of sha1(the sorted member ids, 8 bytes big-endian each)
// The member list is part of the replicated state: it changes only in apply, and is persisted
// under prefix.cluster in the same batch as the entry that changed it.
import { createHash } from 'node:crypto';
import type { BatchOp } from '../storage/backend.js';
import type { Backend } from '../storage/backend.js';
import { prefix, prefixEnd, uint64Key } from '../storage/keys.js';
import type { Member } from './server-api.js';

export function computeMemberId(peerUrls: string[], clusterToken: string, addedAtUnixSeconds?: number): bigint {
  const parts = [...peerUrls].sort();
  let material = parts.join('') + clusterToken;
  if (addedAtUnixSeconds !== undefined) material += String(addedAtUnixSeconds);
  return createHash('sha1').update(material).digest().readBigUInt64BE(0);
}

export function computeClusterId(memberIds: bigint[]): bigint {
  const sorted = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const bytes = Buffer.alloc(8 * sorted.length);
  sorted.forEach((id, i) => bytes.writeBigUInt64BE(id, 8 * i));
  return createHash('sha1').update(bytes).digest().readBigUInt64BE(0);
}

const MEMBER_PREFIX = Buffer.concat([prefix.cluster, Buffer.from('member/')]);
const REMOVED_PREFIX = Buffer.concat([prefix.cluster, Buffer.from('removed/')]);
const CLUSTER_ID_KEY = Buffer.concat([prefix.cluster, Buffer.from('cluster-id')]);

export class Membership {
  private readonly members = new Map<bigint, Member>();
  /** Removed ids can never come back (etcd refuses them for good). */
  private readonly removed = new Set<bigint>();

  private constructor(public clusterId: bigint) {}

  /** A brand-new cluster from `--initial-cluster`: every member derives the same ids. */
  static bootstrap(initialCluster: Array<{ name: string; peerUrls: string[] }>, clusterToken: string): Membership {
    const byUrls = new Map<string, { name: string; peerUrls: string[] }>();
    for (const entry of initialCluster) {
      const existing = byUrls.get(entry.name);
      if (existing) existing.peerUrls.push(...entry.peerUrls);
      else byUrls.set(entry.name, { name: entry.name, peerUrls: [...entry.peerUrls] });
    }
    const members: Member[] = [...byUrls.values()].map((m) => ({
      id: computeMemberId(m.peerUrls, clusterToken),
      // Names come from --initial-cluster; client URLs stay empty until the member has started and
      // published them through the log, as in etcd.
      name: m.name,
      peerUrls: [...m.peerUrls].sort(),
      clientUrls: [],
      isLearner: false,
    }));
    const membership = new Membership(computeClusterId(members.map((m) => m.id)));
    for (const member of members) membership.members.set(member.id, member);
    return membership;
  }

  /** The membership another member reported (a joining member's start). */
  static fromMembers(clusterId: bigint, members: Member[]): Membership {
    const membership = new Membership(clusterId);
    for (const member of members) membership.members.set(member.id, member);
    return membership;
  }

  static async load(backend: Backend): Promise<Membership | undefined> {
    const clusterIdBytes = await backend.get(CLUSTER_ID_KEY);
    if (!clusterIdBytes) return undefined;
    const membership = new Membership(clusterIdBytes.readBigUInt64BE(0));
    for (const [, value] of await backend.readAll(MEMBER_PREFIX, prefixEnd(MEMBER_PREFIX))) {
      const member = decodeMember(value);
      membership.members.set(member.id, member);
    }
    for (const [key] of await backend.readAll(REMOVED_PREFIX, prefixEnd(REMOVED_PREFIX))) {
      membership.removed.add(key.readBigUInt64BE(REMOVED_PREFIX.length));
    }
    return membership;
  }

  /** The ops that persist the whole membership (bootstrap). */
  persistAll(batch: BatchOp[]): void {
    const idBytes = Buffer.alloc(8);
    idBytes.writeBigUInt64BE(this.clusterId);
    batch.push({ type: 'put', key: CLUSTER_ID_KEY, value: idBytes });
    for (const member of this.members.values()) this.persistMember(member, batch);
  }

  private persistMember(member: Member, batch: BatchOp[]): void {
    batch.push({ type: 'put', key: uint64Key(MEMBER_PREFIX, member.id), value: encodeMember(member) });
  }

  get(id: bigint): Member | undefined {
    return this.members.get(id);
  }

  list(): Member[] {
    return [...this.members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  voterIds(): bigint[] {
    return this.list().filter((m) => !m.isLearner).map((m) => m.id);
  }

  learnerIds(): bigint[] {
    return this.list().filter((m) => m.isLearner).map((m) => m.id);
  }

  /** Whether this membership already reflects the conf change (it was applied to the state). */
  agreesWith(cc: { type: number; nodeId: bigint }): boolean {
    const member = this.members.get(cc.nodeId);
    switch (cc.type) {
      case 0: return member !== undefined && !member.isLearner; // AddNode (or a promotion)
      case 3: return member !== undefined; // AddLearnerNode
      case 1: return this.removed.has(cc.nodeId); // RemoveNode
      default: return false; // UpdateNode changes no Raft configuration
    }
  }

  isRemoved(id: bigint): boolean {
    return this.removed.has(id);
  }

  /** The member whose peer URLs are exactly these (a joining member finds its own id this way). */
  findByPeerUrls(peerUrls: string[]): Member | undefined {
    const wanted = [...peerUrls].sort().join(',');
    return this.list().find((m) => [...m.peerUrls].sort().join(',') === wanted);
  }

  // ---- Apply-side changes (conf change entries); each persists what it changes in the batch. ----

  add(member: Member, batch: BatchOp[]): void {
    if (this.removed.has(member.id)) throw new Error(`membership: member ${member.id.toString(16)} was removed and cannot be added again`);
    const stored: Member = { ...member, peerUrls: [...member.peerUrls].sort(), clientUrls: [...member.clientUrls] };
    this.members.set(member.id, stored);
    this.persistMember(stored, batch);
  }

  remove(id: bigint, batch: BatchOp[]): void {
    this.members.delete(id);
    this.removed.add(id);
    batch.push({ type: 'del', key: uint64Key(MEMBER_PREFIX, id) });
    batch.push({ type: 'put', key: uint64Key(REMOVED_PREFIX, id), value: Buffer.alloc(0) });
  }

  updatePeerUrls(id: bigint, peerUrls: string[], batch: BatchOp[]): void {
    const member = this.members.get(id);
    if (!member) return;
    member.peerUrls = [...peerUrls].sort();
    this.persistMember(member, batch);
  }

  promote(id: bigint, batch: BatchOp[]): void {
    const member = this.members.get(id);
    if (!member) return;
    member.isLearner = false;
    this.persistMember(member, batch);
  }

  /** Apply-side: a started member publishes its name and client URLs. */
  setAttributes(id: bigint, name: string, clientUrls: string[], batch: BatchOp[]): void {
    const member = this.members.get(id);
    if (!member) return; // A removed member's late publish is ignored, as in etcd.
    member.name = name;
    member.clientUrls = [...clientUrls];
    this.persistMember(member, batch);
  }
}

export function encodeMember(member: Member): Buffer {
  return Buffer.from(JSON.stringify({
    id: member.id.toString(), name: member.name, peerUrls: member.peerUrls,
    clientUrls: member.clientUrls, isLearner: member.isLearner,
  }));
}

export function decodeMember(bytes: Buffer): Member {
  const raw = JSON.parse(bytes.toString('utf8')) as {
    id: string; name: string; peerUrls: string[]; clientUrls: string[]; isLearner: boolean;
  };
  return { id: BigInt(raw.id), name: raw.name, peerUrls: raw.peerUrls, clientUrls: raw.clientUrls, isLearner: raw.isLearner };
}
