// A deterministic simulator of a Raft cluster in one process. One seeded PRNG chooses every event: ticks,
// which in-flight message is delivered next (so reordering), drops, duplicates, delays, partitions (both
// ways, one way, isolating the leader), crashes that lose the Ready not yet persisted, restarts, proposals,
// read requests, compactions, leader transfers and membership changes. The simulator plays the driver: it
// takes a Ready and persists it only at that member's next "process" event, unless the member crashes first.
// After every event it checks the safety properties; a violation throws with the seed to replay.
//
// Every member applies committed entries to a real MvccStore (kv-state.ts), and simulated clients
// (kv-clients.ts) put, delete, compare-and-swap and read (through read index) on random members. At the
// end of a run the client history must be linearizable against a register-per-key model of etcd's KV,
// and every member's mvcc hash must equal the others' at the same applied index.

import { decodeConfChange } from '../../src/raft/conf-change.js';
import { MemoryStorage } from '../../src/raft/storage.js';
import { RawNode } from '../../src/raft/raw-node.js';
import {
  type ConfState, ConfChangeType, type Entry, EntryType, type Message, MessageType, type NodeId, RaftError,
  type Ready,
} from '../../src/raft/types.js';
import { encodeInternalRequest } from '../../src/server/request-codec.js';
import { SimClients, encodeWrite } from './kv-clients.js';
import { type KvApplied, KvStateMachine } from './kv-state.js';
import { checkKvHistory, formatHistory } from './linearizability.js';
import { Prng } from './prng.js';

export interface SimOptions {
  seed: number;
  members: number;
  steps: number;
  preVote: boolean;
  checkQuorum: boolean;
  /** Simulated clients, each with one operation in flight at most. */
  clients: number;
  /**
   * How gets are served: 'read-index' as etcd's linearizable read; 'local' answers from the member's
   * state at once (a serializable read) — only to prove the history check catches stale reads.
   */
  readMode: 'read-index' | 'local';
}

export interface SimTotals {
  steps: number;
  faults: number;
  violations: number;
  commits: number;
  leaderElections: number;
  crashes: number;
  confChangesApplied: number;
  snapshotsRestored: number;
  readStates: number;
  clientOps: number;
  clientOpsUnknown: number;
  /** Pairs of members whose mvcc hashes were compared at the same applied index. */
  hashComparisons: number;
  /** Checks that found a follower's commit index ahead of its leader's (maybeCommitAsFollower at work). */
  followerCommitsAhead: number;
}

/** Bounds the simulated network: past this, new messages are dropped (as a full transport queue would). */
const inFlightMessagesMax = 2000;
const electionTick = 8;
const heartbeatTick = 2;
/** Length of each stormy and each calm phase of a run. */
const calmPhaseSteps = 500;
/** The settle phase must reach every member within this many fault-free events. */
const settleStepsMax = 20_000;
/** A client waits this many events (1 ms of simulated time each) for an answer, then gives up. */
const clientTimeoutSteps = 400;
/** The key the settle phase writes its marker to (no simulated client uses it). */
const settleKey = 'settle';

type SimEvent = 'tick' | 'tick-all' | 'deliver' | 'process' | 'propose' | 'client' | 'read' | 'restart' | 'compact' | 'crash' |
  'partition' | 'heal' | 'membership' | 'transfer';

/** Relative frequencies of events; a calm phase has no faults. */
const calmWeights: [SimEvent, number][] = [
  ['tick', 18], ['tick-all', 0.5], ['deliver', 38], ['process', 28], ['propose', 8], ['client', 6], ['read', 2], ['restart', 2], ['compact', 0.5],
];
const stormWeights: [SimEvent, number][] = [
  ...calmWeights, ['crash', 1.2], ['partition', 1], ['heal', 0.8], ['membership', 0.5], ['transfer', 0.4],
];
const calmWeightTotal = calmWeights.reduce((sum, [, w]) => sum + w, 0);
const stormWeightTotal = stormWeights.reduce((sum, [, w]) => sum + w, 0);

interface AppState {
  appliedIndex: number;
  /** A chain hash of every entry applied, independent of what the entries mean. */
  hash: number;
  confState: ConfState;
  kv: KvStateMachine;
}

interface SimMember {
  id: NodeId;
  storage: MemoryStorage;
  node: RawNode | undefined; // undefined while crashed
  pendingReady: Ready | undefined;
  app: AppState;
  retired: boolean; // removed from the cluster and knows it
  lastCommit: number;
  /** The term in which lastCommit last rose (0: not since the member started). */
  commitRaisedInTerm: number;
  lastDurableCommit: number;
  random: Prng;
}

interface InFlight {
  message: Message;
  deliverAtStep: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function mixHash(hash: number, index: number, term: number, data: Uint8Array): number {
  let h = (hash ^ Math.imul(index, 0x9e3779b1) ^ Math.imul(term, 0x85ebca6b)) >>> 0;
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i]!, 0x01000193) >>> 0;
  return h;
}

function sameEntry(a: Entry, b: Entry): boolean {
  if (a.index !== b.index || a.term !== b.term || a.type !== b.type || a.data.length !== b.data.length) return false;
  for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) return false;
  return true;
}

export class SimulationViolation extends Error {}

export class Simulation {
  private readonly prng: Prng;
  private readonly members = new Map<NodeId, SimMember>();
  private network: InFlight[] = [];
  private readonly blocked = new Set<string>();
  private step = 0;
  private nextMemberId: bigint;
  private proposalCounter = 0;
  /** term -> the one member that was leader in it. */
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** index -> state-machine hash after applying it (first member to apply it sets it). */
  private readonly hashAtIndex = new Map<number, number>();
  /** index -> the committed entry and the term of the leader that committed it. */
  private readonly committed = new Map<number, { entry: Entry; commitTerm: number }>();
  private readonly trace: string[] = [];
  /** read context -> the highest committed index when the read was asked for. */
  private readonly readFloors = new Map<string, number>();
  private highestCommitted = 0;
  /**
   * The highest index a leader said its log is durable through (LeaderPersisted): a follower may
   * commit up to it before the leader knows, so a leader's read index may be up to it too.
   */
  private highestNoticed = 0;
  /** Members that applied the settle phase's marker entry. */
  private readonly markerAppliedBy = new Set<NodeId>();
  /** index -> mvcc revision after applying it (first member to apply it sets it). */
  private readonly revisionAtIndex = new Map<number, number>();
  private readonly clients: SimClients;
  private nextRequestId = 1;
  readonly totals: SimTotals = {
    steps: 0, faults: 0, violations: 0, commits: 0, leaderElections: 0, crashes: 0, confChangesApplied: 0, snapshotsRestored: 0, followerCommitsAhead: 0,
    readStates: 0, clientOps: 0, clientOpsUnknown: 0, hashComparisons: 0,
  };

  constructor(private readonly options: SimOptions) {
    this.prng = new Prng(options.seed);
    this.nextMemberId = BigInt(options.members + 1);
    this.clients = new SimClients(options.clients, this.prng.fork());
  }

  private async bootstrap(): Promise<void> {
    const ids = Array.from({ length: this.options.members }, (_, i) => BigInt(i + 1));
    for (const id of ids) {
      const storage = new MemoryStorage();
      storage.bootstrap({ voters: ids, learners: [] });
      await this.addMember(id, storage);
    }
  }

  private async addMember(id: NodeId, storage: MemoryStorage): Promise<SimMember> {
    const snapshot = storage.snapshot();
    const restored = await KvStateMachine.fromSnapshot(snapshot.data, snapshot.metadata.index);
    const member: SimMember = {
      id, storage, node: undefined, pendingReady: undefined, retired: false,
      app: { appliedIndex: snapshot.metadata.index, hash: restored.chainHash, confState: snapshot.metadata.confState, kv: restored.kv },
      lastCommit: storage.initialState().hardState.commit,
      commitRaisedInTerm: 0,
      lastDurableCommit: storage.initialState().hardState.commit,
      random: this.prng.fork(),
    };
    this.members.set(id, member);
    this.start(member, member.app.appliedIndex);
    return member;
  }

  private start(member: SimMember, applied: number): void {
    member.node = new RawNode({
      id: member.id, electionTick, heartbeatTick, storage: member.storage, applied,
      preVote: this.options.preVote, checkQuorum: this.options.checkQuorum,
      maxSizePerMsgBytes: 256, maxInflightMsgs: 4, random: () => member.random.next(),
    });
    member.lastCommit = member.node.status().commit;
    member.commitRaisedInTerm = 0;
  }

  private note(event: string): void {
    this.trace.push(`#${this.step} ${event}`);
    if (this.trace.length > 60) this.trace.shift();
  }

  private fail(what: string): never {
    this.totals.violations++;
    throw new SimulationViolation(
      `raft sim violation: seed=${this.options.seed} step=${this.step}: ${what}\n` +
      `replay with SIM_SEED=${this.options.seed}\nlast events:\n  ${this.trace.join('\n  ')}`);
  }

  private live(): SimMember[] {
    return [...this.members.values()].filter((m) => m.node !== undefined && !m.retired);
  }

  private leaders(): SimMember[] {
    return this.live().filter((m) => m.node!.status().role === 'leader');
  }

  // ---- the driver ----

  private async process(member: SimMember): Promise<void> {
    const node = member.node!;
    const rd = member.pendingReady;
    member.pendingReady = undefined;
    if (rd) {
      // Persist: snapshot, entries and hard state in one "synced write".
      if (rd.snapshot) member.storage.applySnapshot(rd.snapshot);
      member.storage.append(rd.entries);
      if (rd.hardState) {
        if (rd.hardState.commit < member.lastDurableCommit) this.fail(`member ${member.id} durable commit went back`);
        member.lastDurableCommit = rd.hardState.commit;
        member.storage.setHardState(rd.hardState);
      }
      if (rd.snapshot) await this.applySnapshot(member, rd.snapshot.data, rd.snapshot.metadata.index, rd.snapshot.metadata.confState);
      for (const entry of rd.committedEntries) this.apply(member, entry);
      for (const rs of rd.readStates) {
        const context = decoder.decode(rs.requestContext);
        this.checkReadState(context, rs.index);
        this.clientReadIndexKnown(member, context, rs.index);
      }
      await this.serveClientReads(member);
      for (const m of rd.messages) this.send(m);
      node.advance();
      if (member.retired) {
        this.note(`${member.id} retires`);
        return;
      }
    }
    if (node.hasReady()) {
      const next = node.ready();
      member.pendingReady = next;
      // What a driver may send before persisting goes out now: a crash before the next process
      // event loses the Ready but not these messages.
      for (const m of next.messagesBeforePersist) this.send(m);
    }
  }

  /**
   * Linearizable reads: the index must cover every entry committed before the read was asked for, and
   * must itself be committed, or durable on a leader that told a follower so (the follower may commit
   * it first; the read then waits for it to be applied).
   */
  private checkReadState(context: string, index: number): void {
    const floor = this.readFloors.get(context);
    // A duplicated request may be answered twice; the driver ignores contexts it no longer waits for.
    if (floor === undefined) return;
    this.readFloors.delete(context);
    if (index < floor) this.fail(`read index ${index} for ${context} misses entries committed before the read (${floor})`);
    if (index > Math.max(this.highestCommitted, this.highestNoticed)) {
      this.fail(`read index ${index} for ${context} is beyond any commit (${this.highestCommitted}) or durable notice (${this.highestNoticed})`);
    }
    this.totals.readStates++;
  }

  private async applySnapshot(member: SimMember, data: Uint8Array, index: number, confState: ConfState): Promise<void> {
    const { kv, chainHash: hash } = await KvStateMachine.fromSnapshot(data, index);
    const known = this.hashAtIndex.get(index);
    if (known !== undefined && known !== hash) this.fail(`member ${member.id} restored a snapshot at ${index} that differs from what others applied`);
    const knownRevision = this.revisionAtIndex.get(index);
    if (knownRevision !== undefined && knownRevision !== kv.store.currentRevision) {
      this.fail(`member ${member.id} restored a snapshot at ${index} with mvcc revision ${kv.store.currentRevision}, others had ${knownRevision}`);
    }
    member.app = { appliedIndex: index, hash, confState, kv };
    this.totals.snapshotsRestored++;
    this.note(`${member.id} restores snapshot @${index}`);
  }

  private apply(member: SimMember, entry: Entry): void {
    if (entry.index !== member.app.appliedIndex + 1) {
      this.fail(`member ${member.id} applies ${entry.index} after ${member.app.appliedIndex}`);
    }
    const hash = mixHash(member.app.hash, entry.index, entry.term, entry.data);
    const known = this.hashAtIndex.get(entry.index);
    if (known === undefined) {
      this.hashAtIndex.set(entry.index, hash);
      this.totals.commits++;
    } else if (known !== hash) {
      this.fail(`state machine safety: member ${member.id} applied a different entry at ${entry.index}`);
    }
    member.app.appliedIndex = entry.index;
    member.app.hash = hash;
    const applied = member.app.kv.apply(entry);
    const revision = member.app.kv.store.currentRevision;
    const knownRevision = this.revisionAtIndex.get(entry.index);
    if (knownRevision === undefined) this.revisionAtIndex.set(entry.index, revision);
    else if (knownRevision !== revision) {
      this.fail(`kv state machine safety: member ${member.id} is at mvcc revision ${revision} after ${entry.index}, others at ${knownRevision}`);
    }
    if (applied) this.clientWriteApplied(member, applied);
    if (entry.type === EntryType.ConfChange) {
      const cc = decodeConfChange(entry.data);
      member.app.confState = member.node!.applyConfChange(cc);
      this.totals.confChangesApplied++;
      this.note(`${member.id} applies conf change type=${cc.type} node=${cc.nodeId} @${entry.index}`);
      if (cc.type === ConfChangeType.RemoveNode && cc.nodeId === member.id) member.retired = true;
    }
  }

  private send(m: Message): void {
    if (m.type === MessageType.LeaderPersisted) this.highestNoticed = Math.max(this.highestNoticed, m.index);
    if (this.network.length >= inFlightMessagesMax || this.prng.chance(0.05)) {
      this.dropped(m);
      return;
    }
    const delay = this.prng.chance(0.8) ? this.prng.int(3) : this.prng.int(30);
    this.network.push({ message: m, deliverAtStep: this.step + delay });
    // A duplicated proposal would be applied twice, in etcd too: peer streams (TCP) never duplicate, so
    // only the messages Raft must tolerate seeing twice are duplicated.
    if (m.type !== MessageType.Prop && this.prng.chance(0.03)) {
      this.network.push({ message: m, deliverAtStep: this.step + this.prng.int(40) });
      this.totals.faults++;
    }
  }

  private dropped(m: Message): void {
    this.totals.faults++;
    if (m.type === MessageType.Snap) this.members.get(m.from)?.node?.reportSnapshot(m.to, false);
    else if (this.prng.chance(0.1)) this.members.get(m.from)?.node?.reportUnreachable(m.to);
  }

  private deliverOne(): void {
    const ready = this.network.map((f, i) => [f, i] as const).filter(([f]) => f.deliverAtStep <= this.step);
    const chosen = this.prng.pick(ready);
    if (!chosen) return;
    const [flight, position] = chosen;
    this.network.splice(position, 1);
    const m = flight.message;
    const to = this.members.get(m.to);
    if (!to || !to.node || to.retired || this.blocked.has(`${m.from}>${m.to}`)) {
      this.dropped(m);
      return;
    }
    try {
      to.node.step(m);
    } catch (err) {
      // A forwarded proposal reaching a member that is no longer leader is dropped, as a real driver would.
      if (!(err instanceof RaftError && err.code === 'ProposalDropped')) throw err;
    }
    if (m.type === MessageType.Snap) this.members.get(m.from)?.node?.reportSnapshot(m.to, true);
  }

  // ---- faults and client actions ----

  private crash(member: SimMember): void {
    member.node = undefined;
    for (const [clientId, pending] of this.clients.inFlight()) if (pending.memberId === member.id) this.clients.abandon(clientId);
    member.pendingReady = undefined; // never persisted: lost
    this.totals.faults++;
    this.totals.crashes++;
    this.note(`${member.id} crashes`);
  }

  private async restart(member: SimMember): Promise<void> {
    // Either the application state is durable (the store reloads from its database at its applied index),
    // or it is rebuilt from the snapshot and the log is re-applied; both must give the same state machine.
    if (this.prng.chance(0.5)) {
      const snapshot = member.storage.snapshot();
      await this.applySnapshot(member, snapshot.data, snapshot.metadata.index, snapshot.metadata.confState);
    } else {
      member.app.kv = await KvStateMachine.reopen(member.app.kv);
    }
    this.start(member, member.app.appliedIndex);
    this.note(`${member.id} restarts at applied ${member.app.appliedIndex}`);
  }

  private partition(): void {
    const live = [...this.members.values()].filter((m) => !m.retired);
    const kind = this.prng.int(3);
    const leader = this.prng.pick(this.leaders());
    const victim = kind === 2 && leader ? leader : this.prng.pick(live);
    if (!victim) return;
    for (const other of live) {
      if (other.id === victim.id) continue;
      if (kind === 1) {
        // one way: the victim can send but not receive (or the reverse)
        if (this.prng.chance(0.5)) this.blocked.add(`${other.id}>${victim.id}`);
        else this.blocked.add(`${victim.id}>${other.id}`);
      } else {
        this.blocked.add(`${other.id}>${victim.id}`);
        this.blocked.add(`${victim.id}>${other.id}`);
      }
    }
    this.totals.faults++;
    this.note(`partition kind=${kind} isolates ${victim.id}`);
  }

  // ---- simulated clients ----

  /** An idle client sends its next operation to a random member. */
  private async clientOperation(): Promise<void> {
    const clientId = this.clients.idleClient();
    const member = this.prng.pick(this.live());
    if (clientId === undefined || !member) return;
    const { key, input } = this.clients.chooseOperation(clientId);
    this.totals.clientOps++;
    const deadlineStep = this.step + clientTimeoutSteps;
    if (input.kind === 'get') {
      if (this.options.readMode === 'local') {
        this.clients.invoke(clientId, key, input, this.step, { memberId: member.id, requestId: undefined, readContext: undefined, readIndex: undefined, deadlineStep });
        this.clients.complete(clientId, { kind: 'get', value: await member.app.kv.get(key) }, this.step);
        return;
      }
      const readContext = `g${this.proposalCounter++}`;
      this.clients.invoke(clientId, key, input, this.step, { memberId: member.id, requestId: undefined, readContext, readIndex: undefined, deadlineStep });
      member.node!.readIndex(encoder.encode(readContext));
      return;
    }
    const requestId = this.nextRequestId++;
    this.clients.invoke(clientId, key, input, this.step, { memberId: member.id, requestId, readContext: undefined, readIndex: undefined, deadlineStep });
    try {
      member.node!.propose(encodeInternalRequest(encodeWrite(requestId, key, input)));
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
      // Refused before reaching any log (no leader, transfer in progress): the client sees an error.
      this.clients.refused(clientId);
    }
  }

  /** The proposing member applied a client's write: the client gets the result. */
  private clientWriteApplied(member: SimMember, applied: KvApplied): void {
    if (applied.request.put?.key.toString() === settleKey) this.markerAppliedBy.add(member.id);
    for (const [clientId, pending] of this.clients.inFlight()) {
      if (pending.memberId !== member.id || pending.requestId !== applied.request.requestId) continue;
      const { outcome } = applied;
      if (!outcome.ok) this.fail(`client ${clientId}'s request failed in apply: ${outcome.error}`);
      const kind = pending.operation.input.kind;
      if (kind === 'cas') this.clients.complete(clientId, { kind: 'cas', succeeded: outcome.txnSucceeded === true }, this.step);
      else if (kind === 'put' || kind === 'delete') this.clients.complete(clientId, { kind }, this.step);
    }
  }

  private clientReadIndexKnown(member: SimMember, context: string, index: number): void {
    for (const [, pending] of this.clients.inFlight()) {
      if (pending.memberId === member.id && pending.readContext === context && pending.readIndex === undefined) pending.readIndex = index;
    }
  }

  /** Reads whose read index the member has applied are answered from its store, as EtcdServer does. */
  private async serveClientReads(member: SimMember): Promise<void> {
    for (const [clientId, pending] of this.clients.inFlight()) {
      if (pending.memberId !== member.id || pending.readIndex === undefined || pending.readIndex > member.app.appliedIndex) continue;
      this.clients.complete(clientId, { kind: 'get', value: await member.app.kv.get(pending.operation.key) }, this.step);
    }
  }

  private expireClientOperations(): void {
    for (const [clientId, pending] of this.clients.inFlight()) if (pending.deadlineStep <= this.step) this.clients.abandon(clientId);
  }

  /**
   * Background writes nobody waits for (keys outside the clients' ones): they keep the log busy, so Raft
   * is stressed as much as before clients existed, and they give mvcc history for the hash to cover.
   */
  private proposeLoad(): void {
    const member = this.prng.pick(this.live());
    if (!member) return;
    const n = this.proposalCounter++;
    const request = n % 5 === 4
      ? { requestId: 0, deleteRange: { key: Buffer.from('load/'), rangeEnd: Buffer.from('load0'), prevKv: false } }
      : { requestId: 0, put: { key: Buffer.from(`load/${n % 7}`), value: Buffer.from(`p${n}`), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false } };
    try {
      member.node!.propose(encodeInternalRequest(request));
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
    }
  }

  private settleProposal(): Uint8Array {
    return encodeInternalRequest({
      requestId: 0,
      put: { key: Buffer.from(settleKey), value: Buffer.from(`settle-${this.options.seed}`), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false },
    });
  }

  private async changeMembership(): Promise<void> {
    const leader = this.prng.pick(this.leaders());
    if (!leader) return;
    const conf = leader.node!.confState();
    let cc: { type: (typeof ConfChangeType)[keyof typeof ConfChangeType]; nodeId: NodeId };
    if (conf.learners.length > 0) cc = { type: ConfChangeType.AddNode, nodeId: conf.learners[0]! };
    else if (conf.voters.length > this.options.members - 1 && this.prng.chance(0.5)) {
      cc = { type: ConfChangeType.RemoveNode, nodeId: this.prng.pick(conf.voters)! };
    } else if (conf.voters.length + conf.learners.length > this.options.members + 1) {
      return;
    } else {
      cc = { type: ConfChangeType.AddLearnerNode, nodeId: this.nextMemberId++ };
      await this.addMember(cc.nodeId, new MemoryStorage());
    }
    try {
      leader.node!.proposeConfChange({ ...cc, context: new Uint8Array(0) });
      this.note(`propose conf change type=${cc.type} node=${cc.nodeId} on ${leader.id}`);
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
    }
  }

  private compact(member: SimMember): void {
    const index = member.app.appliedIndex;
    if (index <= member.storage.snapshot().metadata.index || index > member.storage.lastIndex()) return;
    member.storage.createSnapshot(index, member.app.confState, member.app.kv.encodeSnapshot(member.app.hash));
    member.storage.compact(index);
    this.note(`${member.id} compacts to ${index}`);
  }

  /**
   * One event. Runs alternate between stormy phases (faults fire) and calm ones (the network heals and
   * crashed members come back), so the cluster both suffers faults and must recover from them.
   */
  private async event(): Promise<void> {
    const calm = Math.floor(this.step / calmPhaseSteps) % 2 === 1;
    if (calm && this.step % calmPhaseSteps === 0) {
      this.blocked.clear();
      this.note('calm phase: heal');
    }
    const live = this.live();
    switch (this.pickEvent(calm)) {
      case 'tick':
        this.prng.pick(live)?.node!.tick();
        break;
      case 'tick-all':
        for (const member of live) member.node!.tick(); // all clocks move together for once
        break;
      case 'deliver':
        this.deliverOne();
        break;
      case 'process': {
        const member = this.prng.pick(live);
        if (member) await this.process(member);
        break;
      }
      case 'propose':
        this.proposeLoad();
        break;
      case 'client':
        await this.clientOperation();
        break;
      case 'read': {
        const member = this.prng.pick(live);
        if (member) {
          this.readFloors.set(`r${this.step}`, this.highestCommitted);
          member.node!.readIndex(encoder.encode(`r${this.step}`));
        }
        break;
      }
      case 'restart': {
        const member = this.prng.pick([...this.members.values()].filter((m) => m.node === undefined && !m.retired));
        if (member) await this.restart(member);
        break;
      }
      case 'compact': {
        const member = this.prng.pick(live);
        if (member) this.compact(member);
        break;
      }
      case 'crash': {
        // Leaders are the interesting victims: prefer them.
        const member = this.prng.chance(0.6) ? this.prng.pick(this.leaders()) ?? this.prng.pick(live) : this.prng.pick(live);
        if (member && live.length > Math.floor(this.options.members / 2)) this.crash(member);
        break;
      }
      case 'partition':
        this.partition();
        break;
      case 'heal':
        if (this.blocked.size > 0) this.note('heal');
        this.blocked.clear();
        break;
      case 'membership':
        await this.changeMembership();
        break;
      case 'transfer': {
        const leader = this.prng.pick(this.leaders());
        const target = this.prng.pick(live);
        if (leader && target) {
          leader.node!.transferLeader(target.id);
          this.note(`transfer leader ${leader.id} -> ${target.id}`);
        }
        break;
      }
    }
  }

  private pickEvent(calm: boolean): SimEvent {
    const weights = calm ? calmWeights : stormWeights;
    let roll = this.prng.next() * (calm ? calmWeightTotal : stormWeightTotal);
    for (const [event, weight] of weights) {
      roll -= weight;
      if (roll < 0) return event;
    }
    return 'deliver';
  }

  // ---- invariants ----

  private check(): void {
    for (const member of this.live()) {
      const status = member.node!.status();
      if (status.commit < member.lastCommit) this.fail(`member ${member.id} commit went back ${member.lastCommit} -> ${status.commit}`);
      if (status.commit > member.lastCommit) member.commitRaisedInTerm = status.term;
      member.lastCommit = status.commit;
      if (status.role === 'leader') {
        const known = this.leaderOfTerm.get(status.term);
        if (known === undefined) {
          this.leaderOfTerm.set(status.term, member.id);
          this.totals.leaderElections++;
          this.note(`${member.id} leads term ${status.term}`);
        } else if (known !== member.id) {
          this.fail(`election safety: ${known} and ${member.id} both lead term ${status.term}`);
        }
        this.checkLeaderCompleteness(member, status.term);
      }
      // Followers too: one of a quorum of two may commit without the leader's word (maybeCommitAsFollower).
      this.recordCommitted(member, status.commit, status.term);
      if (status.role === 'follower' && status.lead !== 0n) {
        const leader = this.live().find((other) => other.id === status.lead);
        const leaderStatus = leader?.node!.status();
        if (leaderStatus && leaderStatus.role === 'leader' && leaderStatus.term === status.term && status.commit > leaderStatus.commit) {
          this.totals.followerCommitsAhead++;
          // What the leader's own answers wait for (lease renewals, read indexes) must cover what
          // the follower committed in this leader's term (a commit learned in an earlier term the
          // new leader covers once it commits an entry of its own, as in etcd).
          const visible = leader!.node!.visibleCommitIndex;
          if (member.commitRaisedInTerm === status.term && status.commit > visible) {
            this.fail(`follower ${member.id} committed ${status.commit}, past its leader's visible commit index ${visible}`);
          }
        }
      }
    }
    this.checkLogMatching();
  }

  private recordCommitted(member: SimMember, commit: number, term: number): void {
    for (let index = commit; index >= 1; index--) {
      const entry = member.node!.entryAt(index);
      if (!entry) break; // compacted: was recorded when it was committed
      const known = this.committed.get(index);
      if (known !== undefined) {
        if (!sameEntry(entry, known.entry)) this.fail(`member ${member.id} committed a different entry at ${index} than another member`);
        break;
      }
      this.committed.set(index, { entry, commitTerm: term });
    }
    this.highestCommitted = Math.max(this.highestCommitted, commit);
  }

  /** Every entry committed in an earlier term is in the log of the leader of a later term. */
  private checkLeaderCompleteness(leader: SimMember, term: number): void {
    for (const [index, { entry, commitTerm }] of this.committed) {
      if (commitTerm >= term) continue;
      const ours = leader.node!.entryAt(index);
      if (ours === undefined) {
        if (index < leader.storage.firstIndex()) continue; // covered by our snapshot
        this.fail(`leader completeness: leader ${leader.id} of term ${term} lacks entry ${index} committed in term ${commitTerm}`);
      }
      if (!sameEntry(ours, entry)) {
        this.fail(`leader completeness: leader ${leader.id} of term ${term} has a different entry at ${index}`);
      }
    }
  }

  /** Two durable logs holding an entry with the same index and term are identical up to it. */
  private checkLogMatching(): void {
    const all = [...this.members.values()];
    for (let a = 0; a < all.length; a++) {
      for (let b = a + 1; b < all.length; b++) {
        const x = all[a]!.storage;
        const y = all[b]!.storage;
        const lo = Math.max(x.firstIndex(), y.firstIndex());
        const hi = Math.min(x.lastIndex(), y.lastIndex());
        if (lo > hi) continue;
        const xs = x.entries(lo, hi + 1, Number.MAX_SAFE_INTEGER);
        const ys = y.entries(lo, hi + 1, Number.MAX_SAFE_INTEGER);
        let matched = false;
        for (let i = xs.length - 1; i >= 0; i--) {
          if (!matched && xs[i]!.term === ys[i]!.term) matched = true;
          if (matched && !sameEntry(xs[i]!, ys[i]!)) {
            this.fail(`log matching: members ${all[a]!.id} and ${all[b]!.id} differ at ${xs[i]!.index} below a matching entry`);
          }
        }
      }
    }
  }

  /**
   * Liveness after the storm: with the network healed and every member back, a new proposal must reach
   * every member of the configuration within a bounded number of fault-free events.
   */
  private async settle(): Promise<void> {
    this.blocked.clear();
    for (const member of this.members.values()) if (member.node === undefined && !member.retired) await this.restart(member);
    this.note('settle: healed, all members up');
    const marker = this.settleProposal();
    const settleEvents: [SimEvent, number][] = [['tick', 20], ['deliver', 45], ['process', 35]];
    for (let i = 0; i < settleStepsMax; i++, this.step++) {
      if (i % 200 === 0) {
        const leader = this.prng.pick(this.leaders());
        const config = leader?.node!.confState();
        const members = config ? [...config.voters, ...config.learners] : [];
        if (config && members.every((id) => this.markerAppliedBy.has(id))) return;
        try {
          leader?.node!.propose(marker);
        } catch (err) {
          if (!(err instanceof RaftError)) throw err;
        }
      }
      let roll = this.prng.next() * 100;
      let event: SimEvent = 'deliver';
      for (const [e, w] of settleEvents) {
        roll -= w;
        if (roll < 0) { event = e; break; }
      }
      const live = this.live();
      if (event === 'tick') this.prng.pick(live)?.node!.tick();
      else if (event === 'deliver') this.deliverOne();
      else {
        const member = this.prng.pick(live);
        if (member) await this.process(member);
      }
      this.expireClientOperations();
      this.check();
    }
    const states = this.live().map((m) => `${m.id}:${m.node!.status().role}/t${m.node!.status().term}/applied ${m.app.appliedIndex}`);
    if (process.env.SIM_DEBUG) {
      for (const m of this.live()) {
        const r = (m.node as any).raft;
        console.error('MEMBER', m.id, 'role', m.node!.status().role, 'term', r.term, 'commit', r.raftLog.committed, 'last', r.raftLog.lastIndex(), 'first', r.raftLog.firstIndex(), 'applied', m.app.appliedIndex, 'pendingReady', !!m.pendingReady, 'hasReady', m.node!.hasReady(), 'conf', JSON.stringify(r.tracker.config ?? null, (k, v) => v instanceof Set ? [...v] : v instanceof Map ? [...v] : v));
        if (m.node!.status().role === 'leader') for (const [id, pr] of r.tracker.progress) console.error('  PROGRESS', id, JSON.stringify(pr, (k, v) => typeof v === 'object' && v && v.constructor?.name === 'Inflights' ? { count: v.count, size: v.size } : v));
      }
      console.error('INFLIGHT', (this as any).inFlight?.length ?? (this as any).network?.length);
    }
    this.fail(`liveness: no progress to every member within ${settleStepsMax} fault-free events (${states.join(', ')})`);
  }

  /**
   * The end of a run: the client history must be linearizable, and each member's mvcc hash must equal,
   * at that member's applied index, the hash of the member that applied the most (the same revision
   * means the same applied index: revisionAtIndex is checked on every apply).
   */
  private async checkKv(): Promise<void> {
    for (const [clientId] of this.clients.inFlight()) this.clients.abandon(clientId);
    this.totals.clientOpsUnknown = this.clients.unknownOutcomes;
    const result = checkKvHistory(this.clients.history);
    if (!result.ok) {
      this.fail(`linearizability: the history of key ${result.failedKey} has no valid order:\n${formatHistory(result.failedHistory ?? [])}`);
    }
    const members = [...this.members.values()];
    const reference = members.reduce((a, b) => (b.app.appliedIndex > a.app.appliedIndex ? b : a));
    for (const member of members) {
      if (member === reference) continue;
      const revision = member.app.kv.store.currentRevision;
      const [theirs, ours] = [await member.app.kv.hashAt(revision), await reference.app.kv.hashAt(revision)];
      if (theirs !== ours) {
        this.fail(`mvcc hash: member ${member.id} (applied ${member.app.appliedIndex}, revision ${revision}) hashes ${theirs}, ` +
          `member ${reference.id} at the same revision ${ours}`);
      }
      this.totals.hashComparisons++;
    }
  }

  async run(): Promise<SimTotals> {
    await this.bootstrap();
    for (this.step = 0; this.step < this.options.steps; this.step++) {
      await this.event();
      this.expireClientOperations();
      this.check();
    }
    await this.settle();
    await this.checkKv();
    this.totals.steps = this.step;
    return this.totals;
  }
}
