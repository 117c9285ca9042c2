// The value types of the pure Raft core: log entries, hard/soft state, snapshots, messages and the Ready
// batch handed to the driver. Numeric codes (MessageType, EntryType, ConfChangeType) equal etcd's raftpb
// enums so a transport may put them on the wire unchanged. Imports nothing outside src/raft.

/** A member id: a uint64, so a bigint. 0n means "none". */
export type NodeId = bigint;
export const None: NodeId = 0n;

export const EntryType = { Normal: 0, ConfChange: 1 } as const;

// Invariant: index >= 1 for every entry in a log; term >= 1 for every entry written by a leader.
export interface Entry { term: number; index: number; type: number; data: Uint8Array }

// Invariant (per member, across restarts): term never decreases; vote changes only when term grows;
// commit never decreases.
export interface HardState { term: number; vote: NodeId; commit: number }

export interface ConfState { voters: NodeId[]; learners: NodeId[] }
export interface SnapshotMetadata { index: number; term: number; confState: ConfState }
export interface Snapshot { metadata: SnapshotMetadata; data: Uint8Array }

export const ConfChangeType = { AddNode: 0, RemoveNode: 1, UpdateNode: 2, AddLearnerNode: 3 } as const;
export interface ConfChange { type: number; nodeId: NodeId; context: Uint8Array }

export const MessageType = {
  Hup: 0,
  Beat: 1,
  Prop: 2,
  App: 3,
  AppResp: 4,
  Vote: 5,
  VoteResp: 6,
  Snap: 7,
  Heartbeat: 8,
  HeartbeatResp: 9,
  Unreachable: 10,
  SnapStatus: 11,
  CheckQuorum: 12,
  TransferLeader: 13,
  TimeoutNow: 14,
  ReadIndex: 15,
  ReadIndexResp: 16,
  PreVote: 17,
  PreVoteResp: 18,
  /**
   * Ours, not etcd's: a leader tells a follower that its log is durable through `index` (an entry of
   * its term), so that in a cluster where the two of them are a quorum the follower can commit on
   * its own (see Raft.maybeCommitAsFollower). Needs no answer.
   */
  LeaderPersisted: 19,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export interface Message {
  type: MessageType;
  to: NodeId;
  from: NodeId;
  term: number;
  logTerm: number;
  index: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  rejectHint: number;
  /**
   * On a follower's AppResp: it will commit what it acknowledged on its own, once told the leader's
   * log is durable that far (Raft.maybeCommitAsFollower), so the leader need not send the commit.
   */
  selfCommit: boolean;
  context: Uint8Array;
  snapshot?: Snapshot;
}

export interface ReadState { index: number; requestContext: Uint8Array }
export type RaftRole = 'follower' | 'pre-candidate' | 'candidate' | 'leader';
export interface SoftState { lead: NodeId; role: RaftRole }

export interface Ready {
  softState?: SoftState;
  hardState?: HardState;
  readStates: ReadState[];
  /** To persist (with hardState, in one synced write) before sending messages. */
  entries: Entry[];
  /** To persist and apply (restore the state machine from its data) before committedEntries. */
  snapshot?: Snapshot;
  /** To apply, after `entries` are persisted. */
  committedEntries: Entry[];
  /**
   * May be sent before `entries` and `hardState` are durable, e.g. while writing them: a leader's
   * appends and heartbeats when the Ready does not change term or vote (see isSendableBeforePersist).
   */
  messagesBeforePersist: Message[];
  /** To send after `entries` and `hardState` are durable. */
  messages: Message[];
  /** True when entries or term/vote changed: the write must be fsynced. */
  mustSync: boolean;
}

export type RaftErrorCode =
  | 'ProposalDropped'
  | 'Compacted'
  | 'SnapOutOfDate'
  | 'Unavailable'
  | 'SnapshotTemporarilyUnavailable'
  | 'StepLocalMsg'
  | 'StepPeerNotFound';

const raftErrorMessages: Record<RaftErrorCode, string> = {
  ProposalDropped: 'raft proposal dropped',
  Compacted: 'requested index is unavailable due to compaction',
  SnapOutOfDate: 'requested index is older than the existing snapshot',
  Unavailable: 'requested entry at index is unavailable',
  SnapshotTemporarilyUnavailable: 'snapshot is temporarily unavailable',
  StepLocalMsg: 'raft: cannot step raft local message',
  StepPeerNotFound: 'raft: cannot step as peer not found',
};

/** An expected, recoverable condition of the Raft core (etcd-raft's error values). Broken invariants throw plain Error. */
export class RaftError extends Error {
  readonly code: RaftErrorCode;
  constructor(code: RaftErrorCode) {
    super(raftErrorMessages[code]);
    this.code = code;
    this.name = 'RaftError';
  }
}

export interface RaftLogger {
  debug(o: object, m?: string): void;
  info(o: object, m?: string): void;
  warn(o: object, m?: string): void;
}

export const silentLogger: RaftLogger = { debug() {}, info() {}, warn() {} };

/**
 * The context of messages that carry none: one shared instance, as a zero-length array has nothing
 * to change (a fresh one was a typed array and an ArrayBuffer per message, several per write).
 */
const noContext = new Uint8Array(0);

export function emptyMessage(type: MessageType, to: NodeId, from: NodeId, term: number): Message {
  return {
    type, to, from, term, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, selfCommit: false,
    context: noContext,
  };
}

export function isEmptySnapshot(snapshot: Snapshot | undefined): boolean {
  return snapshot === undefined || snapshot.metadata.index === 0;
}

/** What entrySizeBytes adds to an entry's data. */
export const ENTRY_OVERHEAD_BYTES = 24;

export function entrySizeBytes(entry: Entry): number {
  // Approximates the protobuf size; only used to bound messages, so exactness does not matter.
  return entry.data.length + ENTRY_OVERHEAD_BYTES;
}

export function isLocalMessage(type: MessageType): boolean {
  return type === MessageType.Hup || type === MessageType.Beat || type === MessageType.Unreachable ||
    type === MessageType.SnapStatus || type === MessageType.CheckQuorum;
}

/**
 * Messages a driver may send before it has persisted the Ready they came in: a leader's appends
 * and heartbeats (so the leader's disk write runs in parallel with its followers', as etcd does).
 * Safe because nothing in them depends on the leader's own durability: the leader counts its own
 * entries toward commit only once they are persisted (advance), an entry acknowledged by a
 * majority of followers is committed whether or not the leader kept it, and the term they carry
 * was made durable before the leader's votes went out. Everything else (votes, acks, responses)
 * waits for the write.
 */
export function isSendableBeforePersist(type: MessageType): boolean {
  // LeaderPersisted speaks of a write that finished before the Ready that carries it.
  return type === MessageType.App || type === MessageType.Heartbeat || type === MessageType.LeaderPersisted;
}

export function isResponseMessage(type: MessageType): boolean {
  return type === MessageType.AppResp || type === MessageType.VoteResp || type === MessageType.HeartbeatResp ||
    type === MessageType.Unreachable || type === MessageType.PreVoteResp;
}
