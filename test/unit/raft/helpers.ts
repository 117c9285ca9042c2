// A fault-free in-memory cluster for unit tests: it plays the driver (persist, apply, send, advance) for
// every member and delivers messages in order, with an optional filter to drop some.

import { decodeConfChange } from '../../../src/raft/conf-change.js';
import { MemoryStorage } from '../../../src/raft/storage.js';
import { RawNode, type RaftConfig } from '../../../src/raft/raw-node.js';
import { type Entry, EntryType, type Message, type NodeId, type ReadState } from '../../../src/raft/types.js';

export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Member {
  id: NodeId;
  node: RawNode;
  storage: MemoryStorage;
  applied: Entry[];
  readStates: ReadState[];
}

export function makeConfig(id: NodeId, storage: MemoryStorage, overrides: Partial<RaftConfig> = {}): RaftConfig {
  return {
    id, electionTick: 10, heartbeatTick: 1, storage, applied: 0, preVote: false, checkQuorum: false,
    maxSizePerMsgBytes: 1024 * 1024, maxInflightMsgs: 256, random: seededRandom(Number(id)), ...overrides,
  };
}

export class TestCluster {
  readonly members = new Map<NodeId, Member>();
  queue: Message[] = [];
  /** Returns false to drop a message. */
  filter: (m: Message) => boolean = () => true;
  delivered: Message[] = [];

  constructor(ids: NodeId[], overrides: Partial<RaftConfig> = {}) {
    for (const id of ids) {
      const storage = new MemoryStorage();
      storage.bootstrap({ voters: ids, learners: [] });
      this.members.set(id, { id, node: new RawNode(makeConfig(id, storage, overrides)), storage, applied: [], readStates: [] });
    }
  }

  addMember(id: NodeId, overrides: Partial<RaftConfig> = {}): Member {
    const storage = new MemoryStorage();
    const member = { id, node: new RawNode(makeConfig(id, storage, overrides)), storage, applied: [], readStates: [] };
    this.members.set(id, member);
    return member;
  }

  get(id: NodeId): Member {
    return this.members.get(id)!;
  }

  /** Runs one Ready cycle of a member, as the real driver would. */
  processReady(member: Member): boolean {
    if (!member.node.hasReady()) return false;
    const rd = member.node.ready();
    if (rd.snapshot) member.storage.applySnapshot(rd.snapshot);
    member.storage.append(rd.entries);
    if (rd.hardState) member.storage.setHardState(rd.hardState);
    for (const entry of rd.committedEntries) {
      member.applied.push(entry);
      if (entry.type === EntryType.ConfChange) member.node.applyConfChange(decodeConfChange(entry.data));
    }
    member.readStates.push(...rd.readStates);
    this.queue.push(...rd.messagesBeforePersist, ...rd.messages);
    member.node.advance();
    return true;
  }

  deliverAll(): number {
    const batch = this.queue;
    this.queue = [];
    for (const m of batch) {
      const to = this.members.get(m.to);
      if (!to || !this.filter(m)) continue;
      this.delivered.push(m);
      to.node.step(m);
    }
    return batch.length;
  }

  stabilize(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      let busy = false;
      for (const member of this.members.values()) busy = this.processReady(member) || busy;
      busy = this.deliverAll() > 0 || busy;
      if (!busy) return;
    }
    throw new Error('cluster did not stabilize');
  }

  leader(): Member | undefined {
    return [...this.members.values()].find((m) => m.node.status().role === 'leader');
  }

  tickAll(times: number): void {
    for (let i = 0; i < times; i++) {
      for (const member of this.members.values()) member.node.tick();
      this.stabilize();
    }
  }
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dataOf = (entries: Entry[]): string[] =>
  entries.filter((e) => e.type === EntryType.Normal && e.data.length > 0).map((e) => new TextDecoder().decode(e.data));
