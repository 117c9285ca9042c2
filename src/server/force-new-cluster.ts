// --force-new-cluster on a restart (etcd's "restart as a standalone node"): a member whose peers are
// gone for good becomes a one-member cluster with its data, its member id and its cluster id. Like
// etcd, this is done in the Raft log: the entries after the commit index (never committed, so never
// acknowledged) are dropped, and a RemoveNode entry for every other member is appended and marked
// committed, so that apply removes them as it removes any member (membership, peer links, Raft's
// configuration) and the member then elects itself. A fresh data dir ignores the flag, as etcd does.
import type { Logger } from 'pino';
import { encodeConfChange, decodeConfChange } from '../raft/conf-change.js';
import type { MemoryStorage } from '../raft/storage.js';
import { ConfChangeType, EntryType, type Entry } from '../raft/types.js';
import { decodeConfChangeContext, encodeConfChangeContext } from './conf-change-context.js';
import type { Membership } from './membership.js';
import type { RaftWal } from './raft-wal.js';
import type { Member } from './server-api.js';

export interface ForceNewClusterContext {
  memoryStorage: MemoryStorage;
  wal: RaftWal;
  /** The membership as applied (LevelDB): conf changes committed after `appliedIndex` are still to come. */
  membership: Membership;
  appliedIndex: number;
  memberId: bigint;
  logger: Logger;
}

/** Rewrites the log's tail so that this member is the only one once the log is applied; returns the members removed. */
export async function forceNewCluster(context: ForceNewClusterContext): Promise<Member[]> {
  const { memoryStorage, wal, membership, appliedIndex, memberId, logger } = context;
  const { hardState } = memoryStorage.initialState();
  const commit = hardState.commit;
  const members = membersOnceApplied(membership, memoryStorage, appliedIndex, commit);
  if (!members.has(memberId)) throw new Error(`--force-new-cluster: this member (${memberId.toString(16)}) is not in the cluster's configuration`);
  const others = [...members.values()].filter((member) => member.id !== memberId);
  if (others.length === 0) {
    logger.info('--force-new-cluster: this member is the only one already');
    return [];
  }
  const entries: Entry[] = others.map((member, i) => ({
    type: EntryType.ConfChange,
    term: hardState.term,
    index: commit + 1 + i,
    data: encodeConfChange({
      type: ConfChangeType.RemoveNode,
      nodeId: member.id,
      context: encodeConfChangeContext({ requestId: 0, requestOrigin: 0, member }),
    }),
  }));
  const dropped = memoryStorage.lastIndex() - commit;
  const forced = { ...hardState, commit: commit + entries.length };
  // Appending at commit + 1 replaces whatever followed the commit index, in memory and on replay.
  memoryStorage.append(entries);
  memoryStorage.setHardState(forced);
  await wal.save([{ entries, hardState: forced }], true);
  logger.warn({
    'removed-members': others.map((member) => member.id.toString(16)), 'dropped-uncommitted-entries': dropped, commit: forced.commit,
  }, '--force-new-cluster: forcing a one-member cluster; the other members are removed from its configuration');
  return others;
}

/** The members as they will be after the committed entries beyond `appliedIndex` are applied. */
function membersOnceApplied(membership: Membership, storage: MemoryStorage, appliedIndex: number, commit: number): Map<bigint, Member> {
  const members = new Map(membership.list().map((member) => [member.id, member]));
  if (commit <= appliedIndex) return members;
  for (const entry of storage.entries(appliedIndex + 1, commit + 1, Number.MAX_SAFE_INTEGER)) {
    if (entry.type !== EntryType.ConfChange) continue;
    const cc = decodeConfChange(entry.data);
    if (cc.context.length === 0) continue;
    const { member } = decodeConfChangeContext(cc.context);
    if (cc.type === ConfChangeType.RemoveNode) members.delete(cc.nodeId);
    else if (cc.type === ConfChangeType.AddNode || cc.type === ConfChangeType.AddLearnerNode) members.set(cc.nodeId, members.get(cc.nodeId) ?? member);
  }
  return members;
}
