// Majority-quorum arithmetic over one voter set: the committed index given each voter's acknowledged
// index, and the outcome of an election. Kept apart so a property test can check it against a dumb version.

import { type NodeId } from './types.js';

/**
 * The largest index acknowledged by a majority of `voters`. Voters missing from `acked` count as 0.
 * An empty voter set commits nothing (returns 0) rather than everything.
 */
export function majorityCommittedIndex(voters: ReadonlySet<NodeId>, acked: (id: NodeId) => number | undefined): number {
  const count = voters.size;
  if (count === 0) return 0;
  const indexes: number[] = [];
  for (const id of voters) indexes.push(acked(id) ?? 0);
  indexes.sort((a, b) => b - a);
  // With indexes sorted descending, the (majority)-th one is held by a majority.
  return indexes[Math.floor(count / 2)]!;
}

export type VoteResult = 'won' | 'lost' | 'pending';

export function majorityVoteResult(voters: ReadonlySet<NodeId>, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.size === 0) return 'won'; // mirrors etcd-raft: an empty config never blocks
  let granted = 0;
  let rejected = 0;
  let missing = 0;
  for (const id of voters) {
    const vote = votes.get(id);
    if (vote === undefined) missing++;
    else if (vote) granted++;
    else rejected++;
  }
  const quorum = Math.floor(voters.size / 2) + 1;
  if (granted >= quorum) return 'won';
  if (granted + missing >= quorum) return 'pending';
  return 'lost';
}

/** Whether the set of members `active` contains a majority of `voters`. */
export function hasQuorum(voters: ReadonlySet<NodeId>, active: (id: NodeId) => boolean): boolean {
  const votes = new Map<NodeId, boolean>();
  for (const id of voters) votes.set(id, active(id));
  return majorityVoteResult(voters, votes) === 'won';
}
