// A deterministic simulator of a Raft cluster in one process. One seeded PRNG chooses every event: ticks,
// which in-flight message is delivered next (so reordering), drops, duplicates, delays, partitions (both
// ways, one way, isolating the leader), crashes that lose the Ready not yet persisted, restarts, proposals,
// read requests, compactions, leader transfers and membership changes. The simulator plays the driver: it
// takes a Ready and persists it only at that member's next "process" event, unless the member crashes first.
// After every event it checks the safety properties; a violation throws with the seed to replay.

import { decodeConfChange } from '../../src/raft/conf-change.js';
import { MemoryStorage } from '../../src/raft/storage.js';
import { RawNode } from '../../src/raft/raw-node.js';
import {
  type ConfState, ConfChangeType, type Entry, EntryType, type Message, MessageType, type NodeId, RaftError,
  type Ready,
} from '../../src/raft/types.js';
import { Prng } from './prng.js';

export interface SimOptions {
  seed: number;
  members: number;
  steps: number;
  preVote: boolean;
  checkQuorum: boolean;
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
}

/** Bounds the simulated network: past this, new messages are dropped (as a full transport queue would). */
const inFlightMessagesMax = 2000;
const electionTick = 8;
const heartbeatTick = 2;
/** Length of each stormy and each calm phase of a run. */
const calmPhaseSteps = 500;
/** The settle phase must reach every member within this many fault-free events. */
const settleStepsMax = 20_000;

type SimEvent = 'tick' | 'tick-all' | 'deliver' | 'process' | 'propose' | 'read' | 'restart' | 'compact' | 'crash' |
  'partition' | 'heal' | 'membership' | 'transfer';

/** Relative frequencies of events; a calm phase has no faults. */
const calmWeights: [SimEvent, number][] = [
  ['tick', 18], ['tick-all', 0.5], ['deliver', 38], ['process', 28], ['propose', 8], ['read', 2], ['restart', 2], ['compact', 0.5],
];
const stormWeights: [SimEvent, number][] = [
  ...calmWeights, ['crash', 1.2], ['partition', 1], ['heal', 0.8], ['membership', 0.5], ['transfer', 0.4],
];
const calmWeightTotal = calmWeights.reduce((sum, [, w]) => sum + w, 0);
const stormWeightTotal = stormWeights.reduce((sum, [, w]) => sum + w, 0);

interface AppState {
  appliedIndex: number;
  hash: number;
  confState: ConfState;
}

interface SimMember {
  id: NodeId;
  storage: MemoryStorage;
  node: RawNode | undefined; // undefined while crashed
  pendingReady: Ready | undefined;
  app: AppState;
  retired: boolean; // removed from the cluster and knows it
  lastCommit: number;
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

function encodeAppSnapshot(index: number, hash: number): Uint8Array {
  return encoder.encode(`${index}:${hash}`);
}

function decodeAppSnapshot(data: Uint8Array, metadataIndex: number): { index: number; hash: number } {
  if (data.length === 0) return { index: metadataIndex, hash: 0 }; // the bootstrap snapshot: initial state
  const [index, hash] = decoder.decode(data).split(':').map(Number);
  return { index: index!, hash: hash! };
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
  /** Members that applied the settle phase's marker entry. */
  private readonly markerAppliedBy = new Set<NodeId>();
  readonly totals: SimTotals = {
    steps: 0, faults: 0, violations: 0, commits: 0, leaderElections: 0, crashes: 0, confChangesApplied: 0, snapshotsRestored: 0,
    readStates: 0,
  };

  constructor(private readonly options: SimOptions) {
    this.prng = new Prng(options.seed);
    const ids = Array.from({ length: options.members }, (_, i) => BigInt(i + 1));
    this.nextMemberId = BigInt(options.members + 1);
    for (const id of ids) {
      const storage = new MemoryStorage();
      storage.bootstrap({ voters: ids, learners: [] });
      this.addMember(id, storage);
    }
  }

  private addMember(id: NodeId, storage: MemoryStorage): SimMember {
    const snapshot = storage.snapshot();
    const member: SimMember = {
      id, storage, node: undefined, pendingReady: undefined, retired: false,
      app: { appliedIndex: snapshot.metadata.index, hash: decodeAppSnapshot(snapshot.data, snapshot.metadata.index).hash,
        confState: snapshot.metadata.confState },
      lastCommit: storage.initialState().hardState.commit,
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

  private process(member: SimMember): void {
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
      if (rd.snapshot) this.applySnapshot(member, rd.snapshot.data, rd.snapshot.metadata.index, rd.snapshot.metadata.confState);
      for (const entry of rd.committedEntries) this.apply(member, entry);
      for (const rs of rd.readStates) this.checkReadState(decoder.decode(rs.requestContext), rs.index);
      for (const m of rd.messages) this.send(m);
      node.advance();
      if (member.retired) {
        this.note(`${member.id} retires`);
        return;
      }
    }
    if (node.hasReady()) member.pendingReady = node.ready();
  }

  /**
   * Linearizable reads: the index must cover every entry committed before the read was asked for, and
   * must itself be committed.
   */
  private checkReadState(context: string, index: number): void {
    const floor = this.readFloors.get(context);
    // A duplicated request may be answered twice; the driver ignores contexts it no longer waits for.
    if (floor === undefined) return;
    this.readFloors.delete(context);
    if (index < floor) this.fail(`read index ${index} for ${context} misses entries committed before the read (${floor})`);
    if (index > this.highestCommitted) this.fail(`read index ${index} for ${context} is beyond any commit (${this.highestCommitted})`);
    this.totals.readStates++;
  }

  private applySnapshot(member: SimMember, data: Uint8Array, index: number, confState: ConfState): void {
    const { index: snapIndex, hash } = decodeAppSnapshot(data, index);
    if (snapIndex !== index) this.fail(`snapshot data index ${snapIndex} != metadata index ${index}`);
    const known = this.hashAtIndex.get(index);
    if (known !== undefined && known !== hash) this.fail(`member ${member.id} restored a snapshot at ${index} that differs from what others applied`);
    member.app = { appliedIndex: index, hash, confState };
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
    if (decoder.decode(entry.data) === `settle-${this.options.seed}`) this.markerAppliedBy.add(member.id);
    if (entry.type === EntryType.ConfChange) {
      const cc = decodeConfChange(entry.data);
      member.app.confState = member.node!.applyConfChange(cc);
      this.totals.confChangesApplied++;
      this.note(`${member.id} applies conf change type=${cc.type} node=${cc.nodeId} @${entry.index}`);
      if (cc.type === ConfChangeType.RemoveNode && cc.nodeId === member.id) member.retired = true;
    }
  }

  private send(m: Message): void {
    if (this.network.length >= inFlightMessagesMax || this.prng.chance(0.05)) {
      this.dropped(m);
      return;
    }
    const delay = this.prng.chance(0.8) ? this.prng.int(3) : this.prng.int(30);
    this.network.push({ message: m, deliverAtStep: this.step + delay });
    if (this.prng.chance(0.03)) {
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
    member.pendingReady = undefined; // never persisted: lost
    this.totals.faults++;
    this.totals.crashes++;
    this.note(`${member.id} crashes`);
  }

  private restart(member: SimMember): void {
    // Either the application state is durable (restart at its applied index), or it is rebuilt from the
    // snapshot and the log is re-applied; both must give the same state machine.
    if (this.prng.chance(0.5)) {
      const snapshot = member.storage.snapshot();
      this.applySnapshot(member, snapshot.data, snapshot.metadata.index, snapshot.metadata.confState);
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

  private propose(): void {
    const member = this.prng.pick(this.live());
    if (!member) return;
    const data = encoder.encode(`p${this.proposalCounter++}`);
    try {
      member.node!.propose(data);
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
    }
  }

  private changeMembership(): void {
    const leader = this.prng.pick(this.leaders());
    if (!leader) return;
    const conf = leader.node!.confState();
    const cc = (() => {
      if (conf.learners.length > 0) return { type: ConfChangeType.AddNode, nodeId: conf.learners[0]! };
      if (conf.voters.length > this.options.members - 1 && this.prng.chance(0.5)) {
        return { type: ConfChangeType.RemoveNode, nodeId: this.prng.pick(conf.voters)! };
      }
      if (conf.voters.length + conf.learners.length > this.options.members + 1) return undefined;
      const id = this.nextMemberId++;
      this.addMember(id, new MemoryStorage());
      return { type: ConfChangeType.AddLearnerNode, nodeId: id };
    })();
    if (!cc) return;
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
    member.storage.createSnapshot(index, member.app.confState, encodeAppSnapshot(index, member.app.hash));
    member.storage.compact(index);
    this.note(`${member.id} compacts to ${index}`);
  }

  /**
   * One event. Runs alternate between stormy phases (faults fire) and calm ones (the network heals and
   * crashed members come back), so the cluster both suffers faults and must recover from them.
   */
  private event(): void {
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
        if (member) this.process(member);
        break;
      }
      case 'propose':
        this.propose();
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
        if (member) this.restart(member);
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
        this.changeMembership();
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
        this.recordCommitted(member, status.commit, status.term);
        this.checkLeaderCompleteness(member, status.term);
      }
    }
    this.checkLogMatching();
  }

  private recordCommitted(leader: SimMember, commit: number, term: number): void {
    for (let index = commit; index >= 1 && !this.committed.has(index); index--) {
      const entry = leader.node!.entryAt(index);
      if (!entry) break; // compacted: was recorded when it was committed
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
  private settle(): void {
    this.blocked.clear();
    for (const member of this.members.values()) if (member.node === undefined && !member.retired) this.restart(member);
    this.note('settle: healed, all members up');
    const marker = `settle-${this.options.seed}`;
    const settleEvents: [SimEvent, number][] = [['tick', 20], ['deliver', 45], ['process', 35]];
    for (let i = 0; i < settleStepsMax; i++, this.step++) {
      if (i % 200 === 0) {
        const leader = this.prng.pick(this.leaders());
        const config = leader?.node!.confState();
        const members = config ? [...config.voters, ...config.learners] : [];
        if (config && members.every((id) => this.markerAppliedBy.has(id))) return;
        try {
          leader?.node!.propose(encoder.encode(marker));
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
        if (member) this.process(member);
      }
      this.check();
    }
    const states = this.live().map((m) => `${m.id}:${m.node!.status().role}/t${m.node!.status().term}/applied ${m.app.appliedIndex}`);
    this.fail(`liveness: no progress to every member within ${settleStepsMax} fault-free events (${states.join(', ')})`);
  }

  run(): SimTotals {
    for (this.step = 0; this.step < this.options.steps; this.step++) {
      this.event();
      this.check();
    }
    this.settle();
    this.totals.steps = this.step;
    return this.totals;
  }
}
