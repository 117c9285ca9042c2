// The server's view of its links to the other members, over the peer transport: raft messages,
// membership changes turned into peer additions and removals, and etcd's "connected to every voter
// for a while" health check used before adding a voter.
import type { Member } from './server-api.js';
import type { MemberLinks } from './raft-node.js';
import type { ConfChange, Message } from '../raft/types.js';
import { ConfChangeType } from '../raft/types.js';
import type { PeerTransport } from '../transport/peer-transport.js';

/** etcd's HealthInterval: a voter is added only if the leader has been connected to every voter this long. */
export const PEER_HEALTH_INTERVAL_MS = 5000;

export class PeerLinks implements MemberLinks {
  constructor(
    readonly transport: PeerTransport,
    private readonly localId: bigint,
    private readonly nowMs: () => number = () => performance.now(),
  ) {}

  send(messages: Message[]): void {
    this.transport.send(messages);
  }

  connectedToAll(ids: bigint[]): boolean {
    const now = this.nowMs();
    return ids.every((id) => {
      if (id === this.localId) return true;
      const since = this.transport.activeSince(id);
      return since !== undefined && now - since >= PEER_HEALTH_INTERVAL_MS;
    });
  }

  onMembershipChanged(cc: ConfChange, member: Member): void {
    if (cc.nodeId === this.localId) return;
    switch (cc.type) {
      case ConfChangeType.AddNode:
      case ConfChangeType.AddLearnerNode:
        this.transport.addPeer(cc.nodeId, member.peerUrls);
        break;
      case ConfChangeType.UpdateNode:
        this.transport.updatePeer(cc.nodeId, member.peerUrls);
        break;
      case ConfChangeType.RemoveNode:
        this.transport.removePeer(cc.nodeId);
        break;
    }
  }

  /** Makes the transport's peers equal to `members` (after a snapshot install replaced the membership). */
  syncPeers(members: Member[]): void {
    for (const member of members) {
      if (member.id !== this.localId) this.transport.addPeer(member.id, member.peerUrls);
    }
  }
}
