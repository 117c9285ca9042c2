// What the API layers (api/grpc, api/http) may ask of the server. The API layers translate wire
// messages into these calls and the results back into wire messages; they hold no state and make
// no decisions of their own. EtcdServer implements this interface.
import type {
  DeleteRangeRequest, DeleteRangeResult, KeyValue, PutRequest, PutResult, RangeRequest, RangeResult,
  TxnRequest, TxnResult,
} from '../mvcc/types.js';
import type { WatchStream, WatchStreamResponse } from '../watch/types.js';
import type { PeerNetworkStats } from '../transport/peer-transport.js';

/** Filled into every response. Member and cluster ids are random uint64: bigint, never number. */
export interface ResponseHeader {
  clusterId: bigint;
  memberId: bigint;
  revision: number;
  raftTerm: number;
}

export interface Member {
  id: bigint;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
}

export const AlarmType = { NONE: 0, NOSPACE: 1, CORRUPT: 2 } as const;
export const AlarmAction = { GET: 0, ACTIVATE: 1, DEACTIVATE: 2 } as const;

export interface AlarmMember {
  memberId: bigint;
  alarm: number;
}

/** What etcd's etcd_debugging_mvcc_* gauges and events counter show: read at each scrape, no raft round. */
export interface MvccMetrics {
  compactRevision: number;
  watchStreams: number;
  watchers: number;
  /** Watchers catching up from history rather than getting events live. */
  slowWatchers: number;
  /** Events handed to watch streams' transports since start, each watcher's copy counted. */
  eventsSent: number;
}

/** One peer's network counters (etcd_network_peer_*), as the peer transport keeps them. */
export type { PeerNetworkStats };

export interface StatusResult {
  header: ResponseHeader;
  version: string;
  dbSize: number;
  leader: bigint;
  raftIndex: number;
  raftTerm: number;
  raftAppliedIndex: number;
  errors: string[];
  dbSizeInUse: number;
  isLearner: boolean;
}

export interface LeaseTimeToLiveResult {
  header: ResponseHeader;
  id: bigint;
  /** Remaining seconds; -1 when the lease does not exist. */
  ttl: number;
  grantedTtl: number;
  keys: Buffer[];
}

/** Per-request context from the wire: auth token, `hasleader` metadata. */
export interface RequestContext {
  token?: string;
  requireLeader?: boolean;
  /** CN of the client certificate a TLS handshake verified (--client-cert-auth): etcd's user when there is no token. */
  certCommonName?: string;
  /**
   * The member's own reads for /metrics and /health, which etcd takes from its internal state:
   * they pass auth. Only code sets this; the API layers build contexts from the wire without it.
   */
  internal?: boolean;
}

/** A Node-style completion callback: `error` undefined on success, and then `value` is set. */
export type Completion<T> = (error: unknown, value?: T) => void;

export interface EtcdServerApi {
  range(req: RangeRequest, ctx?: RequestContext): Promise<{ header: ResponseHeader; result: RangeResult }>;
  put(req: PutRequest, ctx?: RequestContext): Promise<{ header: ResponseHeader; result: PutResult }>;
  /** put() through a callback, for the gRPC write path: no promise per write. `done` is called once. */
  putWith(req: PutRequest, ctx: RequestContext | undefined, done: Completion<{ header: ResponseHeader; result: PutResult }>): void;
  deleteRange(req: DeleteRangeRequest, ctx?: RequestContext): Promise<{ header: ResponseHeader; result: DeleteRangeResult }>;
  txn(req: TxnRequest, ctx?: RequestContext): Promise<{ header: ResponseHeader; result: TxnResult }>;
  compact(revision: number, physical: boolean, ctx?: RequestContext): Promise<{ header: ResponseHeader }>;

  leaseGrant(ttlSeconds: number, id: bigint, ctx?: RequestContext): Promise<{ header: ResponseHeader; id: bigint; ttl: number }>;
  leaseRevoke(id: bigint, ctx?: RequestContext): Promise<{ header: ResponseHeader }>;
  /** One keep-alive: ttl 0 when the lease is unknown or expired (not an error, as in etcd). */
  leaseKeepAlive(id: bigint, ctx?: RequestContext): Promise<{ header: ResponseHeader; id: bigint; ttl: number }>;
  leaseTimeToLive(id: bigint, keys: boolean, ctx?: RequestContext): Promise<LeaseTimeToLiveResult>;
  leaseLeases(ctx?: RequestContext): Promise<{ header: ResponseHeader; leases: bigint[] }>;

  /**
   * Opens a watch stream; `send` is called for every response, in order. `onClosed` is called once if
   * the server ends the stream itself (stop, no leader for a `requireLeader` context): see WatchStreamOptions.
   */
  openWatchStream(send: (response: WatchStreamResponse) => boolean, ctx?: RequestContext, onClosed?: (reason: Error) => void): WatchStream;

  memberList(linearizable: boolean, ctx?: RequestContext): Promise<{ header: ResponseHeader; members: Member[] }>;
  memberAdd(peerUrls: string[], isLearner: boolean, ctx?: RequestContext): Promise<{ header: ResponseHeader; member: Member; members: Member[] }>;
  memberRemove(id: bigint, ctx?: RequestContext): Promise<{ header: ResponseHeader; members: Member[] }>;
  memberUpdate(id: bigint, peerUrls: string[], ctx?: RequestContext): Promise<{ header: ResponseHeader; members: Member[] }>;
  memberPromote(id: bigint, ctx?: RequestContext): Promise<{ header: ResponseHeader; members: Member[] }>;

  status(ctx?: RequestContext): Promise<StatusResult>;
  /** For /metrics; a server without it lists none of those series. */
  mvccMetrics?(): MvccMetrics;
  /** For /metrics: every peer's counters (none on a one-member server without a peer transport). */
  peerNetworkMetrics?(): PeerNetworkStats[];
  hash(ctx?: RequestContext): Promise<{ header: ResponseHeader; hash: number }>;
  hashKv(revision: number, ctx?: RequestContext): Promise<{ header: ResponseHeader; hash: number; compactRevision: number; hashRevision: number }>;
  alarm(action: number, memberId: bigint, alarm: number, ctx?: RequestContext): Promise<{ header: ResponseHeader; alarms: AlarmMember[] }>;
  defragment(ctx?: RequestContext): Promise<{ header: ResponseHeader }>;
  /** A consistent copy of the backend: chunks, then etcdctl's sha256 trailer as the last blob. */
  snapshot(ctx?: RequestContext): AsyncIterable<{ header: ResponseHeader; remainingBytes: number; blob: Buffer }>;
  moveLeader(targetId: bigint, ctx?: RequestContext): Promise<{ header: ResponseHeader }>;

  /** For the health service and /health. */
  isServing(): boolean;

  /** The header of a response served at `revision` (stream responses build their own). */
  responseHeader(revision: number): ResponseHeader;
}

export type { KeyValue };

/** A key permission of a role, as the Auth service carries it (permType: READ 0, WRITE 1, READWRITE 2). */
export interface AuthPermission {
  permType: number;
  key: Buffer;
  rangeEnd: Buffer;
}

/** The etcdserverpb.Auth service's calls; EtcdServer offers them as its `auth` member. */
export interface AuthServerApi {
  authEnable(ctx?: RequestContext): Promise<{ header: ResponseHeader }>;
  authDisable(ctx?: RequestContext): Promise<{ header: ResponseHeader }>;
  authStatus(ctx?: RequestContext): Promise<{ header: ResponseHeader; enabled: boolean; authRevision: number }>;
  authenticate(name: string, password: string, ctx?: RequestContext): Promise<{ header: ResponseHeader; token: string }>;
  /** `hashedPassword` (etcd 3.5 clients) is used instead of hashing `password` when not empty. */
  userAdd(name: string, password: string, options: { noPassword: boolean; hashedPassword: string }, ctx?: RequestContext): Promise<{ header: ResponseHeader }>;
  userGet(name: string, ctx?: RequestContext): Promise<{ header: ResponseHeader; roles: string[] }>;
  userList(ctx?: RequestContext): Promise<{ header: ResponseHeader; users: string[] }>;
  userDelete(name: string, ctx?: RequestContext): Promise<{ header: ResponseHeader }>;
  userChangePassword(name: string, password: string, hashedPassword: string, ctx?: RequestContext): Promise<{ header: ResponseHeader }>;
  userGrantRole(user: string, role: string, ctx?: RequestContext): Promise<{ header: ResponseHeader }>;
  userRevokeRole(name: string, role: string, ctx?: RequestContext): Promise<{ header: ResponseHeader }>;
  roleAdd(name: string, ctx?: RequestContext): Promise<{ header: ResponseHeader }>;
  roleGet(role: string, ctx?: RequestContext): Promise<{ header: ResponseHeader; perm: AuthPermission[] }>;
  roleList(ctx?: RequestContext): Promise<{ header: ResponseHeader; roles: string[] }>;
  roleDelete(role: string, ctx?: RequestContext): Promise<{ header: ResponseHeader }>;
  /** `perm` undefined: the request named no permission (etcd: "permission not given"). */
  roleGrantPermission(name: string, perm: AuthPermission | undefined, ctx?: RequestContext): Promise<{ header: ResponseHeader }>;
  roleRevokePermission(role: string, key: Buffer, rangeEnd: Buffer, ctx?: RequestContext): Promise<{ header: ResponseHeader }>;
}
