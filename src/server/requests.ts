// The requests that travel through the Raft log. Every state change is one of these, proposed by
// EtcdServer, committed by Raft and applied by server/apply in log order on every member.
// `requestId` is unique per proposing member and lets the proposer find the apply result (see
// request-ids.ts).
import type { AuthManagementRequest, RequestAuth } from '../auth/types.js';
import type { DeleteRangeRequest, PutRequest, TxnRequest } from '../mvcc/types.js';

export interface InternalRequest {
  /** Unique among the proposals of one member (its counter, 48 bits); 0 for none. */
  requestId: number;
  /**
   * The proposing member's id, low 16 bits (request-ids.ts): set by decoding; an encoding writes the
   * proposer's own, or this when the proposer gives none.
   */
  requestOrigin?: number;
  /** The client's identity as checked by the proposer; absent for the server's own requests (lease expiry...). */
  auth?: RequestAuth;
  /** Exactly one of the following is set. */
  put?: PutRequest;
  deleteRange?: DeleteRangeRequest;
  txn?: TxnRequest;
  compaction?: { revision: number; physical: boolean };
  leaseGrant?: { id: bigint; ttlSeconds: number };
  leaseRevoke?: { id: bigint };
  /** Remaining TTLs recorded by the leader, so a new leader does not reset them (issue 3). */
  leaseCheckpoint?: { checkpoints: Array<{ id: bigint; remainingTtlSeconds: number }> };
  alarm?: { action: number; memberId: bigint; alarm: number };
  /** A member publishes its name and client URLs once it has started (etcd's "publish"). */
  memberAttributes?: { memberId: bigint; name: string; clientUrls: string[] };
  /** A change of users, roles, permissions or the enabled flag. */
  authManagement?: AuthManagementRequest;
}
