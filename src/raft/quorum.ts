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
  // A leader asks at every ack. Array sort allocated ~1 KB per call (its work copies and the
  // comparator); an insertion sort of a handful of voters into a kept array allocates nothing.
  const indexes = sortScratch;
  let sorted = 0;
  for (const id of voters) {
    const index = acked(id) ?? 0;
    let at = sorted++;
    for (; at > 0 && indexes[at - 1]! < index; at--) indexes[at] = indexes[at - 1]!;
    indexes[at] = index;
  }
  // With indexes sorted descending, the (majority)-th one is held by a majority.
  return indexes[Math.floor(count / 2)]!;
}

const sortScratch: number[] = [];

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
