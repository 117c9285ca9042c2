// The Raft state machine of one member: roles, terms, votes, replication, commit, ReadIndex, pre-vote,
// check-quorum, single-step membership changes, snapshots and leader transfer. Pure and synchronous: every
// input is step(message) or tick(); outputs (messages, read states) are collected for RawNode to hand out.
//
// Safety rule we choose: the leader counts its own new entries toward the commit quorum only after the
// driver has persisted them (RawNode.advance() calls onPersisted), never when it appends them. So in a
// one-member cluster a proposal is committed in the Ready *after* the one that persisted it, and an entry
// is never committed while it sits only in the leader's memory.

import { decodeConfChange } from './conf-change.js';
import { RaftLog } from './log.js';
import { Progress, ProgressTracker } from './progress.js';
import { hasQuorum, majorityCommittedIndex, majorityVoteResult } from './quorum.js';
import { ReadOnlyQueue, type ReadIndexRequest } from './read-only.js';
import { MemoryStorage } from './storage.js';
import {
  type ConfChange, ConfChangeType, type ConfState, type Entry, EntryType, type HardState, type Message, MessageType,
  type NodeId, None, RaftError, type RaftLogger, type RaftRole, type ReadState, type Snapshot, type SoftState,
  emptyMessage, isEmptySnapshot, silentLogger,
} from './types.js';

export interface RaftConfig {
  id: NodeId;
  /** Ticks without hearing from a leader before a follower campaigns (randomised in [electionTick, 2×electionTick)). */
  electionTick: number;
  /** Ticks between a leader's heartbeats. Must be smaller than electionTick. */
  heartbeatTick: number;
  storage: MemoryStorage;
  /** The last index the application has applied (0 or the snapshot index on a fresh start). */
  applied: number;
  preVote: boolean;
  checkQuorum: boolean;
  maxSizePerMsgBytes: number;
  maxInflightMsgs: number;
  /** The only source of randomness, in [0, 1). */
  random: () => number;
  logger?: RaftLogger;
}

/** Requests held by a new leader until it commits an entry of its term. */
export const pendingReadIndexMessagesMax = 1024;
/** Bounds the committed entries handed out in one Ready. */
export const committedEntriesPerReadyBytesMax = 64 * 1024 * 1024;

const campaignTransferContext = new TextEncoder().encode('CampaignTransfer');

type CampaignKind = 'pre-election' | 'election' | 'transfer';

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = None;
  lead: NodeId = None;
  role: RaftRole = 'follower';
  readonly raftLog: RaftLog;
  readonly tracker: ProgressTracker;
  /** Outgoing messages, handed out by the next Ready. Bounded by the work of one Ready cycle. */
  msgs: Message[] = [];
  readStates: ReadState[] = [];
  isLearner = false;

  private readonly electionTimeout: number;
  private readonly heartbeatTimeout: number;
  private randomizedElectionTimeout = 0;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private readonly checkQuorum: boolean;
  private readonly preVote: boolean;
  private readonly maxMsgSizeBytes: number;
  private readonly random: () => number;
  private readonly logger: RaftLogger;
  /** Set while a leader transfer is in progress; proposals are refused meanwhile. */
  leadTransferee: NodeId = None;
  /** Index of the latest conf change the leader appended; a new one waits until it is applied. */
  private pendingConfIndex = 0;
  /** Proposals appended since the followers were last sent entries (see sendOwedAppends). */
  private appendsOwed = false;
  /**
   * A follower's latest forward of proposals to the leader, which later ones may join while unsent,
   * up to maxSizePerMsgBytes of entry data (a message per write beyond that, as before).
   */
  private unsentForward: Message | undefined = undefined;
  private unsentForwardBytes = 0;
  /** The highest index this member acknowledged, as a follower, to the leader of this term (see handleAppendEntries). */
  private ackedIndex = 0;
  /** A follower: the leader of this term said its log is durable through this index (LeaderPersisted). */
  private leaderPersistedIndex = 0;
  /**
   * A leader: the highest index it told a follower its log is durable through, in this term. A
   * follower may have committed (and shown) entries up to it before we heard, so reads cover it.
   */
  private persistedNoticeMax = 0;
  /**
   * Indexes of conf change entries appended to our log and not yet applied, ascending. May name an
   * entry since truncated (it drops out once applied passes it): only ever too cautious.
   */
  private unappliedConfChanges: number[] = [];
  private readonly readOnly = new ReadOnlyQueue();
  private pendingReadIndexMessages: Message[] = [];

  constructor(config: RaftConfig) {
    if (config.id === None) throw new Error('raft: cannot use none as id');
    if (config.heartbeatTick <= 0) throw new Error('raft: heartbeat tick must be greater than 0');
    if (config.electionTick <= config.heartbeatTick) throw new Error('raft: election tick must be greater than heartbeat tick');
    if (config.maxInflightMsgs <= 0) throw new Error('raft: max inflight messages must be greater than 0');
    this.id = config.id;
    this.electionTimeout = config.electionTick;
    this.heartbeatTimeout = config.heartbeatTick;
    this.checkQuorum = config.checkQuorum;
    this.preVote = config.preVote;
    this.maxMsgSizeBytes = config.maxSizePerMsgBytes;
    this.random = config.random;
    this.logger = config.logger ?? silentLogger;
    this.raftLog = new RaftLog(config.storage, committedEntriesPerReadyBytesMax);
    this.tracker = new ProgressTracker(config.maxInflightMsgs);

    const { hardState, confState } = config.storage.initialState();
    this.applyConfState(confState);
    if (hardState.term !== 0 || hardState.vote !== None || hardState.commit !== 0) this.loadState(hardState);
    if (config.applied > 0) {
      if (config.applied > this.raftLog.committed) {
        throw new Error(`raft: applied ${config.applied} is beyond the persisted commit ${this.raftLog.committed}`);
      }
      this.replayConfChanges(this.raftLog.applied + 1, config.applied + 1);
      this.raftLog.appliedTo(config.applied);
    }
    // Whatever conf changes the unapplied tail holds are unknown here without reading it: treat its
    // last entry as one, so that no follower commit (maybeCommitAsFollower) happens before it is applied.
    if (this.raftLog.lastIndex() > this.raftLog.applied) this.unappliedConfChanges.push(this.raftLog.lastIndex());
    this.becomeFollower(this.term, None);
    this.logger.info({ 'member-id': this.id.toString(16), term: this.term, commit: this.raftLog.committed,
      applied: this.raftLog.applied, lastIndex: this.raftLog.lastIndex() }, 'raft: new member');
  }

  /** The application already applied the conf changes in [lo, hi): re-apply them to our configuration. */
  private replayConfChanges(lo: number, hi: number): void {
    if (lo >= hi) return;
    for (const entry of this.raftLog.slice(lo, hi, Number.MAX_SAFE_INTEGER)) {
      if (entry.type === EntryType.ConfChange) this.applyConfChange(decodeConfChange(entry.data));
    }
  }

  private loadState(hs: HardState): void {
    if (hs.commit < this.raftLog.committed || hs.commit > this.raftLog.lastIndex()) {
      throw new Error(`raft: hard state commit ${hs.commit} is out of range [${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`);
    }
    this.raftLog.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  softState(): SoftState {
    return { lead: this.lead, role: this.role };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  promotable(): boolean {
    const pr = this.tracker.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && !this.raftLog.hasPendingSnapshot();
  }

  // ---- sending ----

  private send(m: Message): void {
    // Forwarded proposals, reads and transfer requests keep their originator.
    if (m.from === None) m.from = this.id;
    if (m.type === MessageType.Vote || m.type === MessageType.VoteResp || m.type === MessageType.PreVote ||
      m.type === MessageType.PreVoteResp) {
      if (m.term === 0) throw new Error(`raft: term should be set when sending message type ${m.type}`);
    } else {
      if (m.term !== 0) throw new Error(`raft: term should not be set when sending message type ${m.type}`);
      // Proposals and read requests are forwarded to the leader as if local: they carry no term.
      if (m.type !== MessageType.Prop && m.type !== MessageType.ReadIndex) m.term = this.term;
    }
    this.msgs.push(m);
  }

  /** Sends an append (or a snapshot) to `to` if its progress allows; returns whether anything was sent. */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.tracker.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    let prevTerm: number;
    let entries: Entry[];
    try {
      prevTerm = this.raftLog.term(pr.next - 1);
      entries = this.raftLog.entries(pr.next, this.maxMsgSizeBytes);
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
      return this.sendSnapshot(to, pr);
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    const m = emptyMessage(MessageType.App, to, this.id, 0);
    m.index = pr.next - 1;
    m.logTerm = prevTerm;
    m.entries = entries;
    m.commit = this.raftLog.committed;
    this.send(m);
    pr.sentEntries(entries.length, entries.length > 0 ? entries[entries.length - 1]!.index : 0);
    return true;
  }

  private sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    // A follower that has not answered lately is probably down: do not ship it a snapshot yet.
    if (!pr.recentActive) return false;
    const snapshot = this.raftLog.snapshot();
    if (isEmptySnapshot(snapshot)) throw new Error('raft: need a non-empty snapshot to send to a follower behind the log');
    const m = emptyMessage(MessageType.Snap, to, this.id, 0);
    m.snapshot = snapshot;
    this.send(m);
    pr.becomeSnapshot(snapshot.metadata.index);
    this.logger.debug({ to: to.toString(16), index: snapshot.metadata.index }, 'raft: sent snapshot');
    return true;
  }

  private sendHeartbeat(to: NodeId, context: Uint8Array): void {
    const pr = this.tracker.progress.get(to)!;
    const m = emptyMessage(MessageType.Heartbeat, to, this.id, 0);
    // Never tell a follower to commit beyond what it is known to hold.
    m.commit = Math.min(pr.match, this.raftLog.committed);
    m.context = context;
    this.send(m);
  }

  private forEachPeer(fn: (id: NodeId, pr: Progress) => void): void {
    for (const [id, pr] of this.tracker.progress) if (id !== this.id) fn(id, pr);
  }

  private bcastAppend(): void {
    this.forEachPeer((id) => this.sendAppend(id));
  }

  private bcastHeartbeat(context?: Uint8Array): void {
    const ctx = context ?? this.readOnly.lastPendingContext() ?? new Uint8Array(0);
    this.forEachPeer((id) => this.sendHeartbeat(id, ctx));
  }

  // ---- role transitions ----

  private reset(term: number): void {
    this.appendsOwed = false;
    this.unsentForward = undefined;
    this.ackedIndex = 0;
    this.leaderPersistedIndex = 0;
    this.persistedNoticeMax = 0;
    if (this.term !== term) {
      this.term = term;
      this.vote = None;
    }
    this.lead = None;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTimeout + Math.floor(this.random() * this.electionTimeout);
    this.leadTransferee = None;
    this.tracker.resetVotes();
    const next = this.raftLog.lastIndex() + 1;
    for (const [id, pr] of this.tracker.progress) {
      const fresh = new Progress(next, this.tracker.inflightMsgsMax, pr.isLearner);
      // Our own entries count only once persisted (see the safety rule above): start from 0.
      fresh.recentActive = id === this.id;
      this.tracker.progress.set(id, fresh);
    }
    this.pendingConfIndex = 0;
    this.readOnly.clear();
    this.pendingReadIndexMessages = [];
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.role = 'follower';
    this.logger.debug({ term, lead: lead.toString(16) }, 'raft: became follower');
  }

  private becomePreCandidate(): void {
    if (this.role === 'leader') throw new Error('raft: invalid transition [leader -> pre-candidate]');
    // Pre-vote changes neither term nor vote: a partitioned member cannot disrupt the cluster with it.
    this.tracker.resetVotes();
    this.lead = None;
    this.role = 'pre-candidate';
  }

  private becomeCandidate(): void {
    if (this.role === 'leader') throw new Error('raft: invalid transition [leader -> candidate]');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    if (this.role === 'follower') throw new Error('raft: invalid transition [follower -> leader]');
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    this.tracker.progress.get(this.id)!.becomeReplicate();
    // Any conf change in the uncommitted tail may still be pending: be conservative.
    this.pendingConfIndex = this.raftLog.lastIndex();
    this.appendEntries([{ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array(0) }]);
    this.logger.info({ term: this.term }, 'raft: became leader');
  }

  // ---- elections ----

  private hasUnappliedConfChanges(): boolean {
    if (this.raftLog.committed <= this.raftLog.applied || this.raftLog.hasPendingSnapshot()) return false;
    const lo = Math.max(this.raftLog.applied + 1, this.raftLog.firstIndex());
    if (lo > this.raftLog.committed) return false;
    return this.raftLog.slice(lo, this.raftLog.committed + 1, Number.MAX_SAFE_INTEGER)
      .some((entry) => entry.type === EntryType.ConfChange);
  }

  private hup(kind: CampaignKind): void {
    if (this.role === 'leader') return;
    if (!this.promotable()) {
      this.logger.warn({}, 'raft: not promotable, cannot campaign');
      return;
    }
    if (this.hasUnappliedConfChanges()) {
      this.logger.warn({}, 'raft: cannot campaign while committed conf changes are unapplied');
      return;
    }
    this.campaign(kind);
  }

  private campaign(kind: CampaignKind): void {
    if (!this.promotable()) return;
    let voteType: MessageType;
    let term: number;
    if (kind === 'pre-election') {
      this.becomePreCandidate();
      voteType = MessageType.PreVote;
      term = this.term + 1; // the term we would stand in, without moving to it
    } else {
      this.becomeCandidate();
      voteType = MessageType.Vote;
      term = this.term;
    }
    const respType = voteType === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp;
    if (this.poll(this.id, respType, true) === 'won') {
      // A one-voter cluster wins at once.
      if (kind === 'pre-election') this.campaign('election');
      else this.becomeLeader();
      return;
    }
    for (const id of this.tracker.voters) {
      if (id === this.id) continue;
      const m = emptyMessage(voteType, id, this.id, term);
      m.index = this.raftLog.lastIndex();
      m.logTerm = this.raftLog.lastTerm();
      if (kind === 'transfer') m.context = campaignTransferContext;
      this.send(m);
    }
  }

  private poll(id: NodeId, _type: MessageType, granted: boolean): 'won' | 'lost' | 'pending' {
    this.tracker.recordVote(id, granted);
    return majorityVoteResult(this.tracker.voters, this.tracker.votes);
  }

  // ---- input ----

  tick(): void {
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.step(emptyMessage(MessageType.Hup, this.id, this.id, 0));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.step(emptyMessage(MessageType.CheckQuorum, this.id, this.id, 0));
      if (this.role === 'leader' && this.leadTransferee !== None) this.abortLeaderTransfer();
    }
    if (this.role !== 'leader') return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.step(emptyMessage(MessageType.Beat, this.id, this.id, 0));
    }
  }

  step(m: Message): void {
    if (m.term === 0) {
      // local message or a forwarded proposal / read request
    } else if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = bytesEqual(m.context, campaignTransferContext);
        const inLease = this.checkQuorum && this.lead !== None && this.electionElapsed < this.electionTimeout;
        if (!force && inLease) {
          // We heard from a leader within the minimum election timeout: the candidate is probably
          // partitioned or flapping; ignore it rather than depose a working leader.
          this.logger.debug({ from: m.from.toString(16), term: m.term }, 'raft: ignored vote request within lease');
          return;
        }
      }
      if (m.type === MessageType.PreVote) {
        // A pre-vote never moves our term.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // Granted pre-votes carry the future term; the pre-candidate counts them without moving its term.
      } else if (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, None);
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === MessageType.Heartbeat || m.type === MessageType.App)) {
        // A stale leader cut off from the cluster would otherwise never learn the newer term: with check-quorum
        // or pre-vote we no longer bump our term on its messages, so tell it explicitly.
        this.send(emptyMessage(MessageType.AppResp, m.from, this.id, 0));
      } else if (m.type === MessageType.PreVote) {
        const resp = emptyMessage(MessageType.PreVoteResp, m.from, this.id, this.term);
        resp.reject = true;
        this.send(resp);
      }
      return;
    }

    switch (m.type) {
      case MessageType.Hup:
        this.hup(this.preVote ? 'pre-election' : 'election');
        return;
      case MessageType.Vote:
      case MessageType.PreVote: {
        const canVote = this.vote === m.from || (this.vote === None && this.lead === None) ||
          (m.type === MessageType.PreVote && m.term > this.term);
        const respType = m.type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp;
        if (canVote && this.raftLog.isUpToDate(m.index, m.logTerm)) {
          // Granted pre-votes answer with the candidate's future term so it can tell them from stale ones.
          this.send(emptyMessage(respType, m.from, this.id, m.term));
          if (m.type === MessageType.Vote) {
            this.electionElapsed = 0;
            this.vote = m.from;
          }
        } else {
          const resp = emptyMessage(respType, m.from, this.id, this.term);
          resp.reject = true;
          this.send(resp);
        }
        return;
      }
      default:
        if (this.role === 'leader') this.stepLeader(m);
        else if (this.role === 'follower') this.stepFollower(m);
        else this.stepCandidate(m);
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.Beat:
        this.bcastHeartbeat();
        return;
      case MessageType.CheckQuorum:
        if (!hasQuorum(this.tracker.voters, (id) => id === this.id || this.tracker.progress.get(id)?.recentActive === true)) {
          this.logger.warn({ term: this.term }, 'raft: stepped down, no quorum heard from within an election timeout');
          this.becomeFollower(this.term, None);
        }
        this.forEachPeer((_id, pr) => { pr.recentActive = false; });
        return;
      case MessageType.Prop:
        this.handleProposal(m);
        return;
      case MessageType.ReadIndex:
        this.handleReadIndex(m);
        return;
      default:
        break;
    }
    const pr = this.tracker.progress.get(m.from);
    if (!pr) return;
    switch (m.type) {
      case MessageType.AppResp:
        this.handleAppendResponse(m, pr);
        return;
      case MessageType.HeartbeatResp: {
        pr.recentActive = true;
        pr.probeSent = false;
        // A full window whose appends were lost would never drain: the follower answers heartbeats
        // but gets no append to reject. Free one slot so the next append goes out; if the follower
        // lacks what came before it, it rejects and the leader probes back (as etcd's raft does).
        if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
        if (pr.match < this.raftLog.lastIndex()) this.sendAppend(m.from);
        if (m.context.length === 0) return;
        const acks = this.readOnly.recvAck(m.from, m.context);
        if (!acks || !hasQuorum(this.tracker.voters, (id) => acks.has(id))) return;
        for (const request of this.readOnly.advance(m.context)) this.answerReadIndex(request);
        return;
      }
      case MessageType.SnapStatus:
        if (pr.state !== 'snapshot') return;
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        // Wait for the follower's answer (or a heartbeat) before probing again.
        pr.probeSent = true;
        return;
      case MessageType.Unreachable:
        if (pr.state === 'replicate') pr.becomeProbe();
        return;
      case MessageType.TransferLeader:
        this.handleTransferLeader(m.from, pr);
        return;
      default:
        return;
    }
  }

  /**
   * A local proposal of one normal entry (every client write): on the leader what step(MsgProp)
   * does, without the message and the copies of its entry that the general path makes; anywhere
   * else the general path (a follower forwards it, a candidate drops it).
   */
  proposeNormal(data: Uint8Array): void {
    if (this.role !== 'leader') {
      // A follower forwards to the leader. Proposals made one after another, with nothing sent in
      // between, join the forward still last among the unsent messages: one message for the leader
      // to step instead of one per write.
      const last = this.msgs[this.msgs.length - 1];
      if (this.role === 'follower' && last !== undefined && last === this.unsentForward && last.to === this.lead &&
        this.unsentForwardBytes + data.length <= this.maxMsgSizeBytes) {
        last.entries.push({ term: 0, index: 0, type: EntryType.Normal, data });
        this.unsentForwardBytes += data.length;
        return;
      }
      const m = emptyMessage(MessageType.Prop, this.id, this.id, 0);
      m.entries = [{ term: 0, index: 0, type: EntryType.Normal, data }];
      this.step(m);
      if (this.role === 'follower' && this.msgs[this.msgs.length - 1] === m) {
        this.unsentForward = m;
        this.unsentForwardBytes = data.length;
      }
      return;
    }
    if (!this.tracker.progress.has(this.id)) throw new RaftError('ProposalDropped'); // removed from the cluster
    if (this.leadTransferee !== None) throw new RaftError('ProposalDropped');
    this.raftLog.append([{ term: this.term, index: this.raftLog.lastIndex() + 1, type: EntryType.Normal, data }]);
    this.appendsOwed = true;
  }

  /**
   * Sends the followers the entries proposed since the last call, in one append each: the driver
   * calls it as it takes a Ready, before reading the messages. A broadcast per proposal made one
   * message per entry (1000 at 1000 clients, up to the inflight window) for each follower to step
   * and ack, and the leader to count; the messages would have left with that same Ready anyway.
   */
  sendOwedAppends(): void {
    if (!this.appendsOwed) return;
    this.appendsOwed = false;
    if (this.role !== 'leader') return;
    // Without new entries for a follower (an ack's sendAppend shipped them meanwhile) nothing is
    // sent. More than one append's worth (maxSizePerMsgBytes) goes out in several, as far as the
    // follower's flow control lets it, as the broadcasts per proposal did.
    this.forEachPeer((id) => {
      while (this.maybeSendAppend(id, false)) { /* until nothing is left or the follower is paused */ }
    });
  }

  private handleProposal(m: Message): void {
    if (m.entries.length === 0) throw new Error('raft: stepped empty MsgProp');
    if (!this.tracker.progress.has(this.id)) throw new RaftError('ProposalDropped'); // removed from the cluster
    if (this.leadTransferee !== None) throw new RaftError('ProposalDropped');
    const entries = m.entries.map((entry, i) => {
      if (entry.type !== EntryType.ConfChange) return entry;
      if (this.pendingConfIndex > this.raftLog.applied) {
        // Single-step changes are safe only one at a time: replace by a no-op rather than fail the batch.
        this.logger.warn({ pending: this.pendingConfIndex, applied: this.raftLog.applied }, 'raft: ignored conf change, one is pending');
        return { ...entry, type: EntryType.Normal, data: new Uint8Array(0) };
      }
      this.pendingConfIndex = this.raftLog.lastIndex() + i + 1;
      return entry;
    });
    this.appendEntries(entries);
    this.appendsOwed = true;
  }

  private appendEntries(entries: Entry[]): void {
    const lastIndex = this.raftLog.lastIndex();
    const stamped = entries.map((entry, i) => ({ term: this.term, index: lastIndex + 1 + i, type: entry.type, data: entry.data }));
    this.raftLog.append(stamped);
    this.noteConfChanges(stamped);
    // No self-progress update here: see the safety rule at the top of this file.
  }

  /**
   * The driver persisted our log up to (index, term) and applied what the Ready committed. A leader
   * counts it for its own progress and tells the followers it is waiting for (LeaderPersisted); a
   * follower may now hold enough to commit on its own.
   */
  onPersisted(index: number, term: number): void {
    if (this.role === 'follower') {
      this.maybeCommitAsFollower();
      return;
    }
    if (this.role !== 'leader' || !this.raftLog.matchTerm(index, term)) return;
    const pr = this.tracker.progress.get(this.id);
    if (!pr || !pr.maybeUpdate(index)) return;
    // An entry of an earlier term (persisted across our election) commits nothing by being counted.
    if (term === this.term) this.sendLeaderPersisted(index);
    if (this.maybeCommit()) this.onCommitAdvanced();
  }

  // ---- commit on a follower ----
  //
  // Raft commits an entry of the leader's term once a majority holds it durably; only the leader
  // learns it, from the acks, and tells the followers with its next append: a round trip after the
  // follower's own write. When the leader and one follower are a majority (at most three voters),
  // the follower knows as much as the leader does the moment its own write is done and it has heard
  // that the leader's is: the entry, of the leader's term, is durable on a majority whose logs match
  // up to it. So it commits then, and its watchers see the write about when the leader answers the
  // client, instead of a round trip later. Safe under the same conditions as the leader's own rule:
  // same configuration on both sides (no conf change pending on the leader when it speaks, none
  // unapplied up to the entry on the follower; single-step changes keep the two configurations'
  // majorities overlapping otherwise), entry of the current term, logs that match (acknowledged to
  // this leader in this term) and durable (not in the unstable tail).

  /** Whether this leader's configuration lets a follower and the leader alone form a quorum. */
  private followersMayCommit(): boolean {
    const voters = this.tracker.voters;
    return voters.size <= 3 && voters.has(this.id) && this.pendingConfIndex <= this.raftLog.applied;
  }

  /**
   * The highest index that some member may already have committed and answered for: a follower
   * commits up to what this leader told it is durable here before the leader hears its ack (see
   * maybeCommitAsFollower), so on a leader this is past its own commit index for about a round.
   */
  visibleCommitIndex(): number {
    return Math.max(this.raftLog.committed, this.persistedNoticeMax);
  }

  private sendLeaderPersisted(index: number): void {
    if (!this.followersMayCommit()) return;
    this.forEachPeer((id, pr) => {
      // Only to voters sent the entries and not yet heard from, which said they commit alone (a
      // member built before this message says nothing, and would close its stream on it): the rest
      // learn the commit from appends.
      if (pr.isLearner || !pr.selfCommit || pr.next <= index || pr.match >= index) return;
      const m = emptyMessage(MessageType.LeaderPersisted, id, this.id, 0);
      m.index = index;
      this.send(m);
      pr.persistedNoticeSent = index;
      if (index > this.persistedNoticeMax) this.persistedNoticeMax = index;
    });
  }

  /** Whether, with our configuration and log as they are, we commit through `index` on our own once told the leader's log is durable. */
  private mayCommitAlone(index: number): boolean {
    this.forgetAppliedConfChanges();
    const voters = this.tracker.voters;
    if (voters.size > 3 || !voters.has(this.id) || !voters.has(this.lead)) return false;
    const firstConfChange = this.unappliedConfChanges[0];
    return firstConfChange === undefined || firstConfChange > index;
  }

  private handleLeaderPersisted(m: Message): void {
    if (m.from !== this.lead) return;
    if (m.index > this.leaderPersistedIndex) this.leaderPersistedIndex = m.index;
    this.maybeCommitAsFollower();
  }

  private maybeCommitAsFollower(): void {
    const log = this.raftLog;
    if (this.lead === None || this.leaderPersistedIndex <= log.committed) return;
    const candidate = Math.min(this.leaderPersistedIndex, this.ackedIndex, log.durableLastIndex());
    if (candidate <= log.committed || log.termOrZero(candidate) !== this.term) return;
    if (!this.mayCommitAlone(candidate)) return;
    log.commitTo(candidate);
  }

  private noteConfChanges(entries: readonly Entry[]): void {
    for (const entry of entries) {
      if (entry.type !== EntryType.ConfChange) continue;
      const list = this.unappliedConfChanges;
      if (list.includes(entry.index)) continue;
      list.push(entry.index);
      list.sort((a, b) => a - b);
    }
  }

  /** Drops the conf changes applied (or truncated away) by now: the driver applies them before advance() moves `applied`. */
  private forgetAppliedConfChanges(): void {
    const list = this.unappliedConfChanges;
    const applied = this.raftLog.applied;
    while (list.length > 0 && list[0]! <= applied) list.shift();
  }

  private maybeCommit(): boolean {
    const index = majorityCommittedIndex(this.tracker.voters, (id) => this.tracker.progress.get(id)?.match);
    return this.raftLog.maybeCommit(index, this.term);
  }

  private onCommitAdvanced(): void {
    this.releasePendingReadIndexMessages();
    const committed = this.raftLog.committed;
    const lastIndex = this.raftLog.lastIndex();
    this.forEachPeer((id, pr) => {
      // A follower sent everything, told our log is durable through the commit, and committing on
      // its own commits without this append; it would only answer it.
      if (pr.selfCommit && pr.persistedNoticeSent >= committed && pr.next > lastIndex) return;
      this.sendAppend(id);
    });
  }

  /**
   * The index a linearizable read may be served at without a ReadIndex round, or undefined: a
   * leader that is the only voter has nobody to confirm its leadership with, so handleReadIndex
   * answers at once with the commit index; this gives the same answer without the round trip
   * through a Ready. Same conditions: leader, only voter, an entry of its own term committed;
   * and one more, since a one-voter leader commits entries as it appends them: nothing unstable,
   * so the read cannot see the effect of an entry the log does not hold yet.
   */
  singletonReadIndex(): number | undefined {
    if (this.role !== 'leader' || !this.tracker.isSingleton() || !this.committedEntryInCurrentTerm()) return undefined;
    if (this.raftLog.unstable.maybeLastIndex() !== undefined) return undefined;
    return this.raftLog.committed;
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.raftLog.termOrZero(this.raftLog.committed) === this.term;
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      let nextProbeIndex = m.rejectHint;
      if (m.logTerm > 0) nextProbeIndex = this.raftLog.findConflictByTerm(m.rejectHint, m.logTerm).index;
      if (pr.maybeDecrTo(m.index, nextProbeIndex)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    pr.selfCommit = m.selfCommit;
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === 'probe') {
      pr.becomeReplicate();
    } else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') {
      pr.inflights.freeLE(m.index);
    }
    if (this.maybeCommit()) {
      this.onCommitAdvanced();
    } else if (wasPaused) {
      this.sendAppend(m.from);
    }
    while (this.maybeSendAppend(m.from, false)) { /* keep the pipeline full up to the inflight limit */ }
    if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) {
      this.logger.info({ to: m.from.toString(16) }, 'raft: transferee caught up, sending timeout-now');
      this.send(emptyMessage(MessageType.TimeoutNow, m.from, this.id, 0));
    }
  }

  private handleReadIndex(m: Message): void {
    if (m.entries.length !== 1) return;
    if (!this.committedEntryInCurrentTerm()) {
      // Our commit index may lag the true one until we commit an entry of our own term.
      if (this.pendingReadIndexMessages.length >= pendingReadIndexMessagesMax) {
        this.logger.warn({}, 'raft: dropped read index request, too many pending');
        return;
      }
      this.pendingReadIndexMessages.push(m);
      return;
    }
    // A read must see what a watcher on a follower may already have seen.
    const index = this.visibleCommitIndex();
    const request: ReadIndexRequest = { index, from: m.from, requestContext: m.entries[0]!.data, acks: new Set() };
    if (this.tracker.isSingleton() || this.confirmedByForward(m)) {
      this.answerReadIndex(request);
      return;
    }
    if (!this.readOnly.add(request.index, request.from, request.requestContext)) {
      this.logger.warn({}, 'raft: dropped read index request, duplicate context or queue full');
      return;
    }
    this.readOnly.recvAck(this.id, request.requestContext);
    this.bcastHeartbeat(request.requestContext);
  }

  /**
   * Whether a read forwarded by a follower is confirmed without a heartbeat round: the follower
   * stamped it with its term when it forwarded it, after every read in it had begun, and that term
   * is ours; if this member and the follower form a quorum, no other leader can have committed
   * anything in a later term before those reads began (any such quorum would include one of us,
   * and neither of us was past this term then). So our commit index covers every write finished
   * before them: ReadIndex's guarantee, one round trip sooner (etcd always heartbeats). The
   * request is answered alone, never through the queue: the follower's stamp says nothing about
   * requests queued before it. With three voters, every forwarded read qualifies.
   */
  private confirmedByForward(m: Message): boolean {
    if (m.from === this.id || m.from === None || m.logTerm !== this.term || m.logTerm === 0) return false;
    const pr = this.tracker.progress.get(m.from);
    if (pr === undefined || pr.isLearner) return false;
    return hasQuorum(this.tracker.voters, (id) => id === this.id || id === m.from);
  }

  private answerReadIndex(request: ReadIndexRequest): void {
    if (request.from === this.id || request.from === None) {
      this.readStates.push({ index: request.index, requestContext: request.requestContext });
      return;
    }
    const resp = emptyMessage(MessageType.ReadIndexResp, request.from, this.id, 0);
    resp.index = request.index;
    resp.entries = [{ term: 0, index: 0, type: EntryType.Normal, data: request.requestContext }];
    this.send(resp);
  }

  private releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const pending = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of pending) this.handleReadIndex(m);
  }

  private handleTransferLeader(transferee: NodeId, pr: Progress): void {
    if (pr.isLearner) return;
    if (this.leadTransferee !== None) {
      if (this.leadTransferee === transferee) return;
      this.abortLeaderTransfer();
    }
    if (transferee === this.id) return;
    // The transfer must finish within an election timeout or it is abandoned (see tickHeartbeat).
    this.electionElapsed = 0;
    this.leadTransferee = transferee;
    if (pr.match === this.raftLog.lastIndex()) this.send(emptyMessage(MessageType.TimeoutNow, transferee, this.id, 0));
    else this.sendAppend(transferee);
  }

  private abortLeaderTransfer(): void {
    this.leadTransferee = None;
  }

  private stepCandidate(m: Message): void {
    const myVoteResp = this.role === 'pre-candidate' ? MessageType.PreVoteResp : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.Prop:
        throw new RaftError('ProposalDropped');
      case MessageType.App:
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case MessageType.VoteResp:
      case MessageType.PreVoteResp: {
        if (m.type !== myVoteResp) return;
        const result = this.poll(m.from, m.type, !m.reject);
        if (result === 'won') {
          if (this.role === 'pre-candidate') {
            this.campaign('election');
          } else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (result === 'lost') {
          this.becomeFollower(this.term, None);
        }
        return;
      }
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.Prop:
        if (this.lead === None) throw new RaftError('ProposalDropped');
        m.to = this.lead;
        this.send(m);
        return;
      case MessageType.App:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case MessageType.LeaderPersisted:
        this.handleLeaderPersisted(m);
        return;
      case MessageType.TransferLeader:
        if (this.lead === None) return;
        m.to = this.lead;
        m.term = 0;
        this.send(m);
        return;
      case MessageType.TimeoutNow:
        // The leader chose us: campaign at once, without pre-vote and past the other members' leases.
        this.hup('transfer');
        return;
      case MessageType.ReadIndex:
        if (this.lead === None) {
          this.logger.debug({}, 'raft: no leader, dropped read index');
          return;
        }
        // The forwarder's own term rides in logTerm (unused by this type): a leader of that same
        // term may count the forward as this member's acknowledgement (see handleReadIndex). Only
        // our own reads are stamped; a read passed on from another member keeps no term.
        m.logTerm = m.from === None || m.from === this.id ? this.term : 0;
        m.to = this.lead;
        this.send(m);
        return;
      case MessageType.ReadIndexResp:
        if (m.entries.length !== 1) return;
        this.readStates.push({ index: m.index, requestContext: m.entries[0]!.data });
        return;
      default:
        return;
    }
  }

  private handleAppendEntries(m: Message): void {
    const resp = emptyMessage(MessageType.AppResp, m.from, this.id, 0);
    if (m.index < this.raftLog.committed) {
      resp.index = this.raftLog.committed;
      this.send(resp);
      return;
    }
    const committedBefore = this.raftLog.committed;
    const lastNewIndex = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNewIndex !== undefined) {
      // An append without entries that moved our commit index, at an index already acknowledged to
      // this leader: the leader sends one after each commit, and an answer at or below the follower's
      // match changes nothing there, so none goes (one message less each way per write). When the
      // commit index did not move, it is answered: a leader whose ack got lost asks with such an
      // append on a heartbeat's answer, and must hear back.
      if (m.entries.length > 0) this.noteConfChanges(m.entries);
      if (m.entries.length === 0 && lastNewIndex <= this.ackedIndex && this.raftLog.committed > committedBefore) return;
      if (lastNewIndex > this.ackedIndex) this.ackedIndex = lastNewIndex;
      resp.index = lastNewIndex;
      resp.selfCommit = this.mayCommitAlone(lastNewIndex);
      this.send(resp);
      return;
    }
    // Suggest where to probe next: our last entry with a term <= the leader's term at m.index.
    const hint = this.raftLog.findConflictByTerm(Math.min(m.index, this.raftLog.lastIndex()), m.logTerm);
    resp.index = m.index;
    resp.reject = true;
    resp.rejectHint = hint.index;
    resp.logTerm = hint.term;
    this.send(resp);
  }

  private handleHeartbeat(m: Message): void {
    this.raftLog.commitTo(m.commit);
    const resp = emptyMessage(MessageType.HeartbeatResp, m.from, this.id, 0);
    resp.context = m.context;
    this.send(resp);
  }

  private handleSnapshot(m: Message): void {
    const resp = emptyMessage(MessageType.AppResp, m.from, this.id, 0);
    if (m.snapshot && this.restore(m.snapshot)) {
      resp.index = this.raftLog.lastIndex();
    } else {
      resp.index = this.raftLog.committed;
    }
    this.send(resp);
  }

  /** Adopts a leader's snapshot when it is ahead of our commit; returns whether the log was replaced. */
  private restore(snapshot: Snapshot): boolean {
    const { index, term, confState } = snapshot.metadata;
    if (index <= this.raftLog.committed) return false;
    // A snapshot whose configuration does not include us is still adopted: a member joining a cluster
    // bootstrapped by MemoryStorage.bootstrap receives that initial snapshot first and learns of its own
    // addition from the conf-change entry that follows it. Until then it is not promotable.
    if (this.raftLog.matchTerm(index, term)) {
      // We already hold the entry: just fast-forward the commit.
      this.raftLog.commitTo(index);
      return false;
    }
    this.raftLog.restore(snapshot);
    // The snapshot's configuration replaces ours, and no entry follows it yet.
    this.unappliedConfChanges = [];
    this.tracker.voters.clear();
    this.tracker.learners.clear();
    this.tracker.progress.clear();
    this.applyConfState(confState);
    this.logger.info({ index, term }, 'raft: restored snapshot');
    return true;
  }

  // ---- membership ----

  private applyConfState(cs: ConfState): void {
    for (const id of cs.voters) this.addNode(id, false);
    for (const id of cs.learners) this.addNode(id, true);
  }

  private addNode(id: NodeId, asLearner: boolean): void {
    const existing = this.tracker.progress.get(id);
    if (existing) {
      // Single-step changes never demote a voter; AddNode on a learner promotes it.
      if (!asLearner && existing.isLearner) {
        existing.isLearner = false;
        this.tracker.learners.delete(id);
        this.tracker.voters.add(id);
      }
    } else {
      // next = lastIndex (not +1) so the leader's first append to a new member carries an entry and goes out
      // at once, even when nothing else is being proposed.
      const pr = new Progress(Math.max(this.raftLog.lastIndex(), 1), this.tracker.inflightMsgsMax, asLearner);
      // A new member gets an election timeout before check-quorum may count it as silent.
      pr.recentActive = true;
      this.tracker.progress.set(id, pr);
      if (asLearner) this.tracker.learners.add(id);
      else this.tracker.voters.add(id);
    }
    if (id === this.id) this.isLearner = this.tracker.progress.get(id)!.isLearner;
  }

  private removeNode(id: NodeId): void {
    this.tracker.progress.delete(id);
    this.tracker.voters.delete(id);
    this.tracker.learners.delete(id);
  }

  applyConfChange(cc: ConfChange): ConfState {
    switch (cc.type) {
      case ConfChangeType.AddNode:
        this.addNode(cc.nodeId, false);
        break;
      case ConfChangeType.AddLearnerNode:
        if (this.tracker.voters.has(cc.nodeId)) {
          this.logger.warn({ node: cc.nodeId.toString(16) }, 'raft: ignored demotion of a voter to learner');
        } else {
          this.addNode(cc.nodeId, true);
        }
        break;
      case ConfChangeType.RemoveNode:
        this.removeNode(cc.nodeId);
        break;
      case ConfChangeType.UpdateNode:
        break;
      default:
        throw new Error(`raft: unknown conf change type ${cc.type}`);
    }
    if (this.role === 'leader') {
      if (!this.tracker.voters.has(this.id)) {
        // Removed (or never a voter): a leader outside the configuration must not keep counting quorums.
        this.logger.info({ term: this.term }, 'raft: removed from the configuration, stepping down');
        this.becomeFollower(this.term, None);
      } else {
        if (this.leadTransferee !== None && !this.tracker.voters.has(this.leadTransferee)) this.abortLeaderTransfer();
        // A smaller quorum may commit more at once; new members need their first append.
        if (this.maybeCommit()) this.onCommitAdvanced();
        else this.forEachPeer((id) => this.maybeSendAppend(id, false));
      }
    }
    return this.tracker.confState();
  }
}
