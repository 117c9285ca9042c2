// The Cluster service of a member (memberList/Add/Remove/Update/Promote): etcd's strict
// reconfiguration checks, the conf-change proposal that carries the member, the forwarding of a
// promotion to the leader (only it knows how far a learner's log has come), and what this member
// does when a membership change is applied (links to peers, its own removal).
import type { Logger } from 'pino';
import type { RequestAuth } from '../auth/types.js';
import { EtcdError } from '../errors.js';
import type { RaftStatus } from '../raft/raw-node.js';
import type { ConfChange } from '../raft/types.js';
import { ConfChangeType, RaftError } from '../raft/types.js';
import { encodeConfChangeContext } from './conf-change-context.js';
import { type Membership, computeMemberId } from './membership.js';
import type { MemberLinks } from './raft-node.js';
import type { Member, RequestContext, ResponseHeader } from './server-api.js';
import type { Applied, RequestWaits } from './wait.js';

/** What the Cluster service needs of its member. */
export interface ClusterHost {
  readonly memberId: bigint;
  readonly logger: Logger;
  readonly config: { maxLearners: number; strictReconfigCheck: boolean; initialClusterToken: string };
  /** Replaced as a whole when a snapshot is installed: always read through this. */
  membership(): Membership;
  readonly links: MemberLinks;
  /** The member's proposal waits, shared with its other proposals (one id space). */
  readonly waits: RequestWaits;
  readonly requestTimeoutMs: number;
  isStopped(): boolean;
  nextRequestId(): number;
  /** This member's request origin (request-ids.ts). */
  readonly requestOrigin: number;
  proposeRaftConfChange(cc: ConfChange): void;
  raftStatus(): RaftStatus;
  isLeader(): boolean;
  /** Calls `path` on the leader and returns its JSON answer, rethrowing its etcd error. */
  askLeader<T>(path: string, request: object): Promise<T>;
  linearizableRead(): Promise<void>;
  header(revision?: number): ResponseHeader;
  checkRequireLeader(ctx?: RequestContext): void;
  identify(ctx?: RequestContext): RequestAuth;
  requireAdmin(ctx?: RequestContext): RequestAuth;
  /** This member's own removal was applied: it stops once this cycle's answers went out. */
  markRemovedFromCluster(): void;
}

export class ClusterOperations {
  constructor(private readonly host: ClusterHost) {}

  async memberList(linearizable: boolean, ctx?: RequestContext): Promise<{ header: ResponseHeader; members: Member[] }> {
    this.host.checkRequireLeader(ctx);
    this.host.identify(ctx);
    if (linearizable) await this.host.linearizableRead();
    return { header: this.host.header(), members: this.host.membership().list() };
  }

  async memberAdd(peerUrls: string[], isLearner: boolean, ctx?: RequestContext): Promise<{ header: ResponseHeader; member: Member; members: Member[] }> {
    this.host.checkRequireLeader(ctx);
    this.host.requireAdmin(ctx);
    const urls = normalisePeerUrls(peerUrls);
    const members = this.host.membership().list();
    for (const url of urls) {
      if (members.some((m) => m.peerUrls.includes(url))) throw new EtcdError('PeerURLExist');
    }
    if (isLearner) {
      if (members.filter((m) => m.isLearner).length >= this.host.config.maxLearners) throw new EtcdError('TooManyLearners');
    } else if (this.host.config.strictReconfigCheck) {
      // A new voter raises the quorum: the members already started must be able to reach it
      // (etcd's one exception: a second member for a one-member cluster, the restore path).
      const voters = members.filter((m) => !m.isLearner);
      const started = voters.filter((m) => m.name !== '').length;
      const onlyOneStarted = started === 1 && voters.length === 1;
      if (!onlyOneStarted && started < quorumOf(voters.length + 1)) throw new EtcdError('MemberNotEnoughStarted');
      if (!this.connectedToAllVoters()) throw new EtcdError('Unhealthy');
    }
    const member: Member = {
      id: computeMemberId(urls, this.host.config.initialClusterToken, Math.floor(Date.now() / 1000)),
      name: '', peerUrls: urls, clientUrls: [], isLearner,
    };
    const type = isLearner ? ConfChangeType.AddLearnerNode : ConfChangeType.AddNode;
    const applied = await this.proposeConfChange(type, member);
    return { header: this.host.header(applied.revision), member, members: applied.value as Member[] };
  }

  async memberRemove(id: bigint, ctx?: RequestContext): Promise<{ header: ResponseHeader; members: Member[] }> {
    this.host.checkRequireLeader(ctx);
    this.host.requireAdmin(ctx);
    const member = this.host.membership().get(id);
    if (!member) throw new EtcdError('MemberNotFound');
    if (this.host.config.strictReconfigCheck && !member.isLearner) {
      // Removing a voter must leave enough started voters for the smaller quorum.
      const voters = this.host.membership().list().filter((m) => !m.isLearner);
      const startedAfter = voters.filter((m) => m.name !== '' && m.id !== id).length;
      if (startedAfter < quorumOf(voters.length - 1)) throw new EtcdError('MemberNotEnoughStarted');
    }
    const applied = await this.proposeConfChange(ConfChangeType.RemoveNode, member);
    return { header: this.host.header(applied.revision), members: applied.value as Member[] };
  }

  async memberUpdate(id: bigint, peerUrls: string[], ctx?: RequestContext): Promise<{ header: ResponseHeader; members: Member[] }> {
    this.host.checkRequireLeader(ctx);
    this.host.requireAdmin(ctx);
    const member = this.host.membership().get(id);
    if (!member) throw new EtcdError('MemberNotFound');
    const urls = normalisePeerUrls(peerUrls);
    for (const other of this.host.membership().list()) {
      if (other.id !== id && other.peerUrls.some((url) => urls.includes(url))) throw new EtcdError('PeerURLExist');
    }
    const applied = await this.proposeConfChange(ConfChangeType.UpdateNode, { ...member, peerUrls: urls });
    return { header: this.host.header(applied.revision), members: applied.value as Member[] };
  }

  async memberPromote(id: bigint, ctx?: RequestContext): Promise<{ header: ResponseHeader; members: Member[] }> {
    this.host.checkRequireLeader(ctx);
    this.host.requireAdmin(ctx);
    return this.promote(id);
  }

  /** A promotion already permitted (by the client's member, when forwarded to the leader). */
  async promote(id: bigint): Promise<{ header: ResponseHeader; members: Member[] }> {
    const member = this.host.membership().get(id);
    if (!member) throw new EtcdError('MemberNotFound');
    if (!member.isLearner) throw new EtcdError('MemberNotLearner');
    if (!this.host.isLeader()) {
      // Only the leader knows how far the learner's log has come: etcd forwards the promotion.
      await this.host.askLeader('/members/promote', { id: id.toString() });
      await this.host.linearizableRead();
      return { header: this.host.header(), members: this.host.membership().list() };
    }
    // etcd promotes a learner only once its log has reached 90% of the leader's.
    const progress = this.host.raftStatus().progress;
    const leaderMatch = progress.get(this.host.memberId)?.match ?? 0;
    const learnerMatch = progress.get(id)?.match ?? 0;
    if (learnerMatch < leaderMatch * 0.9) throw new EtcdError('LearnerNotReady');
    const applied = await this.proposeConfChange(ConfChangeType.AddNode, { ...member, isLearner: false });
    return { header: this.host.header(applied.revision), members: applied.value as Member[] };
  }

  private async proposeConfChange(type: number, member: Member): Promise<Applied> {
    if (this.host.isStopped()) throw new EtcdError('Stopped');
    const requestId = this.host.nextRequestId();
    const result = this.host.waits.register(requestId);
    try {
      const context = encodeConfChangeContext({ requestId, requestOrigin: this.host.requestOrigin, member });
      this.host.proposeRaftConfChange({ type, nodeId: member.id, context });
    } catch (error) {
      this.host.waits.fail(requestId, error instanceof RaftError ? new EtcdError('NoLeader') : error);
    }
    return result;
  }

  /** etcd adds a voter only when the leader has been connected to every voter for a while. */
  private connectedToAllVoters(): boolean {
    return this.host.links.connectedToAll(this.host.membership().voterIds().filter((id) => id !== this.host.memberId));
  }

  /** Apply's word that a membership change took effect. */
  onMembershipChanged(cc: ConfChange, member: Member): void {
    this.host.links.onMembershipChanged(cc, member);
    if (cc.type === ConfChangeType.RemoveNode && cc.nodeId === this.host.memberId) {
      // Stop only once this cycle's answers went out: the client that asked for the removal of
      // this very member gets its answer, as from etcd.
      this.host.logger.warn({ 'member-id': this.host.memberId.toString(16) }, 'this member was removed from the cluster; shutting down');
      this.host.markRemovedFromCluster();
    }
  }
}

/** Votes needed among `voters` members. */
export function quorumOf(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/** Peer URLs as etcd stores them: parsed, http(s) only, printed without a trailing slash. */
export function normalisePeerUrls(peerUrls: string[]): string[] {
  if (peerUrls.length === 0) throw new EtcdError('MemberBadURLs');
  return peerUrls.map((text) => {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new EtcdError('MemberBadURLs');
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.port === '' || (url.pathname !== '/' && url.pathname !== '')) {
      throw new EtcdError('MemberBadURLs');
    }
    return `${url.protocol}//${url.host}`;
  });
}
