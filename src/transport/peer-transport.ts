// Owns the member-to-member transport: the peer HTTP listeners, one outgoing message stream per
// peer, inbound streams (cluster id and membership checked before a byte reaches raft), snapshot
// transfer and the small RPC. The server's raft driver only calls send(); everything received is
// handed back through the callbacks given at construction.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { MessageType, type Message, type NodeId } from '../raft/types.js';
import { EMPTY_FRAME, FrameDecoder } from './frames.js';
import { decodeMessage } from './message-codec.js';
import {
  formatMemberId, HEADER_CLUSTER_ID, HEADER_FROM, HEADER_TO, listenPeerHttp, parseMemberId, PeerHttpClient,
  RESERVED_PATH_PREFIX, SNAPSHOT_PATH, STREAM_PATH_PREFIX, type PeerHttpServer,
} from './peer-http.js';
import { callPeer, PeerRequestError, serveRpc, type PeerResponse, type RpcHandler, type RpcHandlerOptions } from './peer-rpc.js';
import { PeerStream, type StreamTimings } from './peer-stream.js';
import { receiveSnapshot, sendSnapshot, type SnapshotSink, type SnapshotSource } from './snapshot-transfer.js';

export interface PeerTransportLimits {
  /** Messages waiting for one peer's stream; beyond it messages are dropped and raft told. */
  peerQueueMessagesMax: number;
  peerQueueBytesMax: number;
  /** The largest encoded message accepted from a peer. */
  frameBytesMax: number;
  writeBatchBytesMax: number;
  snapshotSendsInFlightMax: number;
  snapshotReceivesInFlightMax: number;
  rpcRequestsInFlightMax: number;
  rpcServingInFlightMax: number;
  rpcBodyBytesMax: number;
  /** Removed member ids remembered to answer them 410 Gone. */
  removedMembersMax: number;
}

export interface PeerTransportTimings extends StreamTimings {
  snapshotIdleTimeoutMs: number;
  /** How often each peer's round trip is measured (etcd's prober: every 4 s, its read timeout less 1 s). */
  probeIntervalMs: number;
}

/** One peer's network counters for /metrics (etcd_network_peer_*, etcd_network_active_peers). */
export interface PeerNetworkStats {
  id: NodeId;
  /** Raft message frames written to its stream. */
  sentBytes: number;
  /** Raft message bytes read from its stream to us. */
  receivedBytes: number;
  /** Messages for it dropped: queue full, stream down, or queued when the stream broke. */
  sentFailures: number;
  /** Times its stream went from up to down. */
  disconnects: number;
  active: boolean;
  /** Round trips measured since the last call (seconds); each call takes them. */
  roundTripsSeconds: number[];
}

/** etcd's prober path: answered by every member's transport, nothing else. */
const PROBE_PATH = '/raft/probing';
/** Round trips kept per peer between two scrapes. */
const ROUND_TRIPS_KEPT_MAX = 256;

export const defaultPeerTransportLimits: PeerTransportLimits = {
  peerQueueMessagesMax: 4096,
  peerQueueBytesMax: 64 * 1024 * 1024,
  frameBytesMax: 64 * 1024 * 1024,
  writeBatchBytesMax: 256 * 1024,
  snapshotSendsInFlightMax: 4,
  snapshotReceivesInFlightMax: 4,
  rpcRequestsInFlightMax: 256,
  rpcServingInFlightMax: 256,
  rpcBodyBytesMax: 4 * 1024 * 1024,
  removedMembersMax: 1024,
};

export const defaultPeerTransportTimings: PeerTransportTimings = {
  dialTimeoutMs: 1000,
  pingIntervalMs: 1000,
  idleTimeoutMs: 5000,
  writeTimeoutMs: 5000,
  reconnectBackoffMinMs: 50,
  // etcd redials a peer's stream at most 10 times a second; a longer backoff (1 s until
  // 2026-11-27) left members that start together up to a second without their peers.
  reconnectBackoffMaxMs: 100,
  snapshotIdleTimeoutMs: 30_000,
  probeIntervalMs: 4000,
};

/** Pings at least this often, and never more often than pingIntervalMsMin. */
const pingIntervalMsMin = 10;

/**
 * --raft-read-timeout and --raft-write-timeout (etcd 3.5, 5 s each) as the transport's timings: a
 * connection silent for the read timeout, or whose peer takes no data for the write timeout, is
 * closed and redialled. 0 means no limit, as a zero deadline does in etcd. Each side pings an idle
 * stream at least three times per read timeout (etcd's stream heartbeat: a third of it), and at
 * least once a second as before.
 */
export function peerConnectionTimings(readTimeoutMs: number, writeTimeoutMs: number): Partial<PeerTransportTimings> {
  const pingIntervalMs = readTimeoutMs > 0
    ? Math.max(pingIntervalMsMin, Math.min(defaultPeerTransportTimings.pingIntervalMs, Math.floor(readTimeoutMs / 3)))
    : defaultPeerTransportTimings.pingIntervalMs;
  return {
    idleTimeoutMs: readTimeoutMs > 0 ? readTimeoutMs : Infinity,
    writeTimeoutMs: writeTimeoutMs > 0 ? writeTimeoutMs : Infinity,
    pingIntervalMs,
  };
}

export interface PeerTransportOptions {
  localId: NodeId;
  /** 0n for a member that is joining and learns the cluster id later (setClusterId). */
  clusterId: NodeId;
  logger: Logger;
  /** Every raft message received, per peer in arrival order; MsgSnap only after onSnapshot succeeded. */
  onMessage: (message: Message) => void;
  /** Restores the state machine from a received snapshot; must consume `data` to its end. */
  onSnapshot: SnapshotSink;
  /** The state-machine bytes to send along an outgoing MsgSnap. */
  snapshotSource: SnapshotSource;
  reportUnreachable: (peerId: NodeId) => void;
  reportSnapshot: (peerId: NodeId, ok: boolean) => void;
  /** A peer answered 410 Gone: this member was removed and must stop. */
  onLocalMemberRemoved?: (byPeerId: NodeId) => void;
  /** Monotonic clock for activeSince; performance.now by default. */
  nowMs?: () => number;
  limits?: Partial<PeerTransportLimits>;
  timings?: Partial<PeerTransportTimings>;
}

interface Peer {
  id: NodeId;
  stream: PeerStream;
  logger: Logger;
  receivedBytes: number;
  roundTripsSeconds: number[];
  lastProbeMs: number;
  probing: boolean;
}

interface InboundStream {
  request: IncomingMessage;
  response: ServerResponse;
  lastReceivedMs: number;
  lastWrittenMs: number;
  /** Since when our writes to it have been waiting in its buffer (undefined: none waiting). */
  blockedSinceMs?: number;
}

type Admission = { from: NodeId } | { status: number; reason: string };

export class PeerTransport {
  private readonly limits: PeerTransportLimits;
  private readonly timings: PeerTransportTimings;
  private readonly nowMs: () => number;
  private readonly logger: Logger;
  private readonly client = new PeerHttpClient();
  private readonly peers = new Map<NodeId, Peer>();
  /** Insertion-ordered so the oldest is forgotten first when removedMembersMax is reached. */
  private readonly removed = new Set<NodeId>();
  private readonly inbound = new Map<NodeId, InboundStream>();
  private readonly handlers = new Map<string, { handler: RpcHandler; options: RpcHandlerOptions }>();
  /** Plain GETs that other programs make of a member's peer URL (etcd's proxy asks GET /members). */
  private readonly getHandlers = new Map<string, () => { headers: Record<string, string>; body: string }>();
  private readonly snapshotsSending = new Set<NodeId>();
  private snapshotsReceiving = 0;
  private rpcRequestsInFlight = 0;
  private rpcServingInFlight = 0;
  private servers: PeerHttpServer[] = [];
  private ticker?: NodeJS.Timeout;
  private stopped = false;
  private clusterId: NodeId;
  private readonly loggedUnknownTargets = new Set<NodeId>();

  constructor(private readonly options: PeerTransportOptions) {
    this.limits = { ...defaultPeerTransportLimits, ...options.limits };
    this.timings = { ...defaultPeerTransportTimings, ...options.timings };
    this.nowMs = options.nowMs ?? (() => performance.now());
    this.clusterId = options.clusterId;
    this.logger = options.logger.child({ component: 'rafthttp', 'local-member-id': formatMemberId(options.localId) });
    this.handlers.set(PROBE_PATH, { handler: async () => Buffer.alloc(0), options: {} });
  }

  /** Binds every listen URL (exactly its host); the bound URLs (real ports) are in `listenUrls`. */
  async start(listenUrls: URL[]): Promise<void> {
    if (this.stopped) throw new Error('peer transport already stopped');
    if (this.servers.length > 0) throw new Error('peer transport already started');
    try {
      for (const url of listenUrls) {
        this.servers.push(await listenPeerHttp(url, (request, response) => this.route(request, response)));
      }
    } catch (error) {
      await Promise.all(this.servers.map((server) => server.close()));
      this.servers = [];
      throw error;
    }
    this.ticker = setInterval(() => this.tick(), this.timings.pingIntervalMs);
    this.logger.info({ 'listen-peer-urls': this.listenUrls.map((url) => url.href) }, 'started peer transport');
  }

  get listenUrls(): URL[] {
    return this.servers.map((server) => server.url);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.ticker);
    for (const peer of this.peers.values()) peer.stream.close();
    for (const stream of this.inbound.values()) stream.request.destroy();
    this.inbound.clear();
    this.client.destroy();
    await Promise.all(this.servers.map((server) => server.close()));
    this.servers = [];
    this.logger.info({}, 'stopped peer transport');
  }

  /** A joining member learns the cluster id from the member list it fetched. */
  setClusterId(clusterId: NodeId): void {
    this.clusterId = clusterId;
  }

  addPeer(id: NodeId, urls: string[]): void {
    if (id === this.options.localId) throw new Error(`cannot add the local member ${formatMemberId(id)} as a peer`);
    if (this.removed.has(id)) throw new Error(`member ${formatMemberId(id)} was removed and cannot be added back`);
    checkUrls(urls);
    const existing = this.peers.get(id);
    if (existing !== undefined) {
      existing.stream.setUrls(urls);
      return;
    }
    const logger = this.logger.child({ 'remote-peer-id': formatMemberId(id) });
    const stream = new PeerStream({
      localId: this.options.localId,
      peerId: id,
      clusterId: () => this.clusterId,
      client: this.client,
      logger,
      nowMs: this.nowMs,
      timings: this.timings,
      peerQueueMessagesMax: this.limits.peerQueueMessagesMax,
      peerQueueBytesMax: this.limits.peerQueueBytesMax,
      writeBatchBytesMax: this.limits.writeBatchBytesMax,
      reportUnreachable: (peerId) => {
        if (!this.stopped) this.options.reportUnreachable(peerId);
      },
      onLocalMemberRemoved: (byPeerId) => {
        if (!this.stopped) this.options.onLocalMemberRemoved?.(byPeerId);
      },
    }, urls);
    this.peers.set(id, { id, stream, logger, receivedBytes: 0, roundTripsSeconds: [], lastProbeMs: this.nowMs(), probing: false });
    this.loggedUnknownTargets.delete(id);
    logger.info({ 'remote-peer-urls': urls }, 'added remote peer');
  }

  /**
   * Opens the stream to every known peer now. A member starting up calls it so that its peers are
   * reachable, and counted active, before raft first has something to send: a follower sends
   * nothing until its election timeout, and the initial election tick advance waits for active
   * peers (etcd's stream readers likewise dial every peer at start).
   */
  connectPeers(): void {
    for (const peer of this.peers.values()) peer.stream.open();
  }

  updatePeer(id: NodeId, urls: string[]): void {
    const peer = this.peers.get(id);
    if (peer === undefined) throw new Error(`cannot update unknown peer ${formatMemberId(id)}`);
    checkUrls(urls);
    peer.stream.setUrls(urls);
    peer.logger.info({ 'remote-peer-urls': urls }, 'updated remote peer');
  }

  removePeer(id: NodeId): void {
    const peer = this.peers.get(id);
    if (peer !== undefined) {
      peer.stream.close();
      this.peers.delete(id);
      peer.logger.info({}, 'removed remote peer');
    }
    this.inbound.get(id)?.request.destroy();
    this.inbound.delete(id);
    if (this.removed.size >= this.limits.removedMembersMax) this.removed.delete(this.removed.values().next().value!);
    this.removed.add(id);
  }

  /** Every peer's counters since start; the round trips measured since the last call. */
  networkStats(): PeerNetworkStats[] {
    return [...this.peers.values()].map((peer) => {
      const roundTripsSeconds = peer.roundTripsSeconds;
      peer.roundTripsSeconds = [];
      return {
        id: peer.id, sentBytes: peer.stream.sentBytes, receivedBytes: peer.receivedBytes, sentFailures: peer.stream.sentFailures,
        disconnects: peer.stream.disconnects, active: peer.stream.activeSinceMs !== undefined, roundTripsSeconds,
      };
    });
  }

  /** Peers whose stream is up now. */
  activePeerCount(): number {
    let count = 0;
    for (const peer of this.peers.values()) if (peer.stream.activeSinceMs !== undefined) count++;
    return count;
  }

  /** Monotonic ms (per `nowMs`) since the stream to `id` has been continuously up; undefined if it is not up. */
  activeSince(id: NodeId): number | undefined {
    return this.peers.get(id)?.stream.activeSinceMs;
  }

  /** Never blocks and never throws for network reasons: a message that cannot go is dropped and reported. */
  send(messages: Message[]): void {
    if (this.stopped) return;
    const touched = new Set<PeerStream>();
    for (const message of messages) {
      const peer = this.peers.get(message.to);
      if (peer === undefined) {
        this.dropForUnknownTarget(message);
        continue;
      }
      if (message.type === MessageType.Snap) {
        this.sendSnapshotTo(peer, message);
        continue;
      }
      peer.stream.send(message);
      touched.add(peer.stream);
    }
    for (const stream of touched) stream.flush();
  }

  handle(path: string, handler: RpcHandler, options: RpcHandlerOptions = {}): void {
    if (!path.startsWith('/') || path.startsWith(RESERVED_PATH_PREFIX)) throw new Error(`peer RPC path ${path} must start with / and not with ${RESERVED_PATH_PREFIX}`);
    if (this.handlers.has(path)) throw new Error(`peer RPC path ${path} already has a handler`);
    this.handlers.set(path, { handler, options });
  }

  /** Answers GET `path` with what `answer` gives; anyone may ask (etcd's peer URLs answer these unauthenticated, as here). */
  handleGet(path: string, answer: () => { headers: Record<string, string>; body: string }): void {
    if (this.getHandlers.has(path)) throw new Error(`peer GET path ${path} already has a handler`);
    this.getHandlers.set(path, answer);
  }

  /** Calls `path` on a known peer; rejects with PeerRequestError (failure says why). */
  async request(peerId: NodeId, path: string, body: Buffer, timeoutMs: number): Promise<Buffer> {
    const peer = this.peers.get(peerId);
    if (peer === undefined) throw new PeerRequestError('unreachable', `unknown peer ${formatMemberId(peerId)}`);
    try {
      return (await this.requestUrl(peer.stream.currentUrl, path, body, timeoutMs)).body;
    } catch (error) {
      if (error instanceof PeerRequestError && (error.failure === 'unreachable' || error.failure === 'timeout')) peer.stream.rotateUrl();
      throw error;
    }
  }

  /** Calls `path` at a peer URL whose member id may not be known yet (a joining member). */
  async requestUrl(peerUrl: string, path: string, body: Buffer, timeoutMs: number): Promise<PeerResponse> {
    if (this.stopped) throw new PeerRequestError('stopped', 'peer transport stopped');
    if (this.rpcRequestsInFlight >= this.limits.rpcRequestsInFlightMax) {
      throw new PeerRequestError('overloaded', `too many peer requests in flight (max ${this.limits.rpcRequestsInFlightMax})`);
    }
    this.rpcRequestsInFlight++;
    try {
      return await callPeer({
        url: new URL(path, peerUrl), localId: this.options.localId, clusterId: this.clusterId, client: this.client,
        body, timeoutMs, responseBytesMax: this.limits.rpcBodyBytesMax,
      });
    } finally {
      this.rpcRequestsInFlight--;
    }
  }

  private dropForUnknownTarget(message: Message): void {
    // Raft may still address a member whose removal the transport has already applied.
    if (this.loggedUnknownTargets.has(message.to) || this.loggedUnknownTargets.size >= this.limits.removedMembersMax) return;
    this.loggedUnknownTargets.add(message.to);
    this.logger.warn({ 'remote-peer-id': formatMemberId(message.to), 'message-type': message.type }, 'dropped message to unknown or removed member');
  }

  private sendSnapshotTo(peer: Peer, message: Message): void {
    const report = (ok: boolean) => {
      if (!this.stopped) this.options.reportSnapshot(peer.id, ok);
    };
    if (this.snapshotsSending.has(peer.id) || this.snapshotsSending.size >= this.limits.snapshotSendsInFlightMax) {
      peer.logger.warn({ 'in-flight': this.snapshotsSending.size }, 'snapshot send refused: too many in flight');
      report(false);
      return;
    }
    this.snapshotsSending.add(peer.id);
    const startedMs = this.nowMs();
    peer.logger.info({ 'snapshot-index': message.snapshot?.metadata.index }, 'sending database snapshot');
    sendSnapshot(message, {
      localId: this.options.localId, clusterId: this.clusterId, peerUrl: peer.stream.currentUrl, client: this.client,
      source: this.options.snapshotSource, idleTimeoutMs: this.timings.snapshotIdleTimeoutMs,
    }).then(() => {
      peer.logger.info({ 'took-ms': Math.round(this.nowMs() - startedMs) }, 'sent database snapshot');
      report(true);
    }, (error: Error) => {
      peer.logger.warn({ error: error.message }, 'failed to send database snapshot');
      report(false);
    }).finally(() => this.snapshotsSending.delete(peer.id));
  }

  private tick(): void {
    const now = this.nowMs();
    for (const peer of this.peers.values()) {
      peer.stream.tick(now);
      if (!peer.probing && now - peer.lastProbeMs >= this.timings.probeIntervalMs) this.probe(peer, now);
    }
    for (const [from, stream] of this.inbound) {
      const blocked = stream.response.writableLength > 0;
      if (!blocked) stream.blockedSinceMs = undefined;
      else stream.blockedSinceMs ??= now;
      if (now - stream.lastReceivedMs > this.timings.idleTimeoutMs) {
        this.logger.warn({ 'remote-peer-id': formatMemberId(from) }, 'closing silent inbound stream');
        stream.request.destroy();
        this.inbound.delete(from);
      } else if (blocked && now - stream.blockedSinceMs! > this.timings.writeTimeoutMs) {
        this.logger.warn({ 'remote-peer-id': formatMemberId(from) }, 'closing inbound stream whose peer takes no data');
        stream.request.destroy();
        this.inbound.delete(from);
      } else if (now - stream.lastWrittenMs >= this.timings.pingIntervalMs && stream.response.writableLength === 0) {
        stream.response.write(EMPTY_FRAME);
        stream.lastWrittenMs = now;
      }
    }
  }

  /** One round trip to the peer's prober path, as etcd measures etcd_network_peer_round_trip_time_seconds. */
  private probe(peer: Peer, now: number): void {
    peer.probing = true;
    peer.lastProbeMs = now;
    const startedMs = this.nowMs();
    this.requestUrl(peer.stream.currentUrl, PROBE_PATH, Buffer.alloc(0), this.timings.probeIntervalMs).then(() => {
      if (peer.roundTripsSeconds.length < ROUND_TRIPS_KEPT_MAX) peer.roundTripsSeconds.push((this.nowMs() - startedMs) / 1000);
    }, () => undefined).finally(() => {
      peer.probing = false;
    });
  }

  private route(request: IncomingMessage, response: ServerResponse): void {
    const path = (request.url ?? '/').split('?')[0]!;
    if (this.stopped) {
      response.writeHead(503).end('peer transport stopped');
      return;
    }
    const get = this.getHandlers.get(path);
    if (get !== undefined && request.method === 'GET') {
      const { headers, body } = get();
      response.writeHead(200, headers).end(body);
      return;
    }
    if (request.method !== 'POST') {
      response.writeHead(405, { allow: get !== undefined ? 'GET, POST' : 'POST' }).end();
      return;
    }
    if (path.startsWith(STREAM_PATH_PREFIX)) this.acceptStream(request, response, path.slice(STREAM_PATH_PREFIX.length));
    else if (path === SNAPSHOT_PATH) this.acceptSnapshot(request, response);
    else this.acceptRpc(request, response, path);
  }

  /** The checks every raft-carrying request passes: same cluster, addressed to us, from a current member. */
  private admit(request: IncomingMessage): Admission {
    const clusterId = parseMemberId(request.headers[HEADER_CLUSTER_ID]);
    const from = parseMemberId(request.headers[HEADER_FROM]);
    const to = parseMemberId(request.headers[HEADER_TO]);
    if (clusterId === undefined || from === undefined || to === undefined) return { status: 400, reason: 'missing or malformed member headers' };
    if (clusterId !== this.clusterId) {
      this.logger.warn({ 'remote-peer-id': formatMemberId(from), 'remote-cluster-id': formatMemberId(clusterId), 'local-cluster-id': formatMemberId(this.clusterId) },
        'refused peer request: cluster ID mismatch');
      return { status: 412, reason: 'cluster ID mismatch' };
    }
    if (to !== this.options.localId) return { status: 412, reason: 'to field mismatch' };
    if (this.removed.has(from)) return { status: 410, reason: 'the member has been permanently removed from the cluster' };
    if (!this.peers.has(from)) return { status: 404, reason: 'error sender not found' };
    return { from };
  }

  private acceptStream(request: IncomingMessage, response: ServerResponse, pathId: string): void {
    const admission = this.admit(request);
    if (!('from' in admission)) {
      response.writeHead(admission.status, { 'content-type': 'text/plain' }).end(admission.reason);
      return;
    }
    const { from } = admission;
    if (parseMemberId(pathId) !== from) {
      response.writeHead(400, { 'content-type': 'text/plain' }).end('stream path and sender header disagree');
      return;
    }
    // A new stream from the same sender means it gave up on the old one.
    this.inbound.get(from)?.request.destroy();
    const now = this.nowMs();
    const stream: InboundStream = { request, response, lastReceivedMs: now, lastWrittenMs: now };
    this.inbound.set(from, stream);
    const forget = () => {
      if (this.inbound.get(from) === stream) this.inbound.delete(from);
    };
    request.on('close', forget);
    request.on('error', forget);
    response.on('error', forget);
    response.writeHead(200, { 'content-type': 'application/octet-stream', [HEADER_CLUSTER_ID]: formatMemberId(this.clusterId) });
    response.flushHeaders();
    const decoder = new FrameDecoder(this.limits.frameBytesMax);
    const localId = this.options.localId;
    request.on('data', (chunk: Buffer) => {
      if (this.stopped || this.inbound.get(from) !== stream) return;
      stream.lastReceivedMs = this.nowMs();
      const peer = this.peers.get(from);
      if (peer !== undefined) peer.receivedBytes += chunk.length;
      let messages: Message[];
      try {
        messages = decoder.push(chunk).filter((frame) => frame.length > 0).map(decodeMessage);
      } catch (error) {
        this.logger.warn({ 'remote-peer-id': formatMemberId(from), error: (error as Error).message }, 'closing inbound stream: undecodable data');
        request.destroy();
        forget();
        return;
      }
      for (const message of messages) {
        if (message.from !== from || message.to !== localId) {
          this.logger.warn({ 'remote-peer-id': formatMemberId(from), 'message-from': formatMemberId(message.from), 'message-to': formatMemberId(message.to) },
            'dropped inbound message whose from/to do not match its stream');
          continue;
        }
        this.options.onMessage(message);
      }
    });
  }

  private acceptSnapshot(request: IncomingMessage, response: ServerResponse): void {
    const admission = this.admit(request);
    if (!('from' in admission)) {
      response.writeHead(admission.status, { 'content-type': 'text/plain' }).end(admission.reason);
      return;
    }
    if (this.snapshotsReceiving >= this.limits.snapshotReceivesInFlightMax) {
      response.writeHead(503, { 'content-type': 'text/plain' }).end('too many snapshots being received');
      return;
    }
    this.snapshotsReceiving++;
    void receiveSnapshot(request, response, {
      localId: this.options.localId, from: admission.from, frameBytesMax: this.limits.frameBytesMax,
      idleTimeoutMs: this.timings.snapshotIdleTimeoutMs, sink: this.options.onSnapshot,
      onMessage: (message) => this.options.onMessage(message), isStopped: () => this.stopped,
      logger: this.logger.child({ 'remote-peer-id': formatMemberId(admission.from) }),
    }).finally(() => this.snapshotsReceiving--);
  }

  private acceptRpc(request: IncomingMessage, response: ServerResponse, path: string): void {
    const entry = this.handlers.get(path);
    if (entry === undefined) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end(`no peer handler for ${path}`);
      return;
    }
    const clusterId = parseMemberId(request.headers[HEADER_CLUSTER_ID]);
    const from = parseMemberId(request.headers[HEADER_FROM]);
    if (clusterId === undefined || from === undefined) {
      response.writeHead(400, { 'content-type': 'text/plain' }).end('missing or malformed member headers');
      return;
    }
    if (clusterId !== this.clusterId && !entry.options.acceptAnyCluster) {
      this.logger.warn({ 'remote-peer-id': formatMemberId(from), 'remote-cluster-id': formatMemberId(clusterId), path }, 'refused peer request: cluster ID mismatch');
      response.writeHead(412, { 'content-type': 'text/plain' }).end('cluster ID mismatch');
      return;
    }
    if (this.removed.has(from)) {
      response.writeHead(410, { 'content-type': 'text/plain' }).end('the member has been permanently removed from the cluster');
      return;
    }
    if (this.rpcServingInFlight >= this.limits.rpcServingInFlightMax) {
      response.writeHead(503, { 'content-type': 'text/plain' }).end('too many peer requests');
      return;
    }
    this.rpcServingInFlight++;
    void serveRpc(request, response, {
      localId: this.options.localId, clusterId: this.clusterId, from, handler: entry.handler,
      requestBytesMax: this.limits.rpcBodyBytesMax, logger: this.logger,
    }).finally(() => this.rpcServingInFlight--);
  }
}

function checkUrls(urls: string[]): void {
  if (urls.length === 0) throw new Error('a peer needs at least one URL');
  for (const url of urls) new URL(url);
}
