// One test per claim of the Raft paper (§5.2 elections, §5.3 replication, §5.4 safety), on a fault-free
// in-memory cluster or a single RawNode stepped by hand.
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../../src/raft/storage.js';
import { RawNode } from '../../../src/raft/raw-node.js';
import { type Entry, EntryType, type Message, MessageType, type NodeId, emptyMessage } from '../../../src/raft/types.js';
import { TestCluster, dataOf, makeConfig, text } from './helpers.js';

function entry(index: number, term: number, data = ''): Entry {
  return { index, term, type: EntryType.Normal, data: text(data) };
}

/** A member whose durable log after the bootstrap snapshot holds entries of the given terms (from index 2). */
function nodeWithLog(id: NodeId, voters: NodeId[], terms: number[], term: number): { node: RawNode; storage: MemoryStorage } {
  const storage = new MemoryStorage();
  storage.bootstrap({ voters, learners: [] });
  storage.append(terms.map((t, i) => entry(i + 2, t, `t${t}-${i + 2}`)));
  storage.setHardState({ term, vote: 0n, commit: 1 });
  return { node: new RawNode(makeConfig(id, storage)), storage };
}

function persist(node: RawNode, storage: MemoryStorage): Message[] {
  const rd = node.ready();
  storage.append(rd.entries);
  if (rd.hardState) storage.setHardState(rd.hardState);
  node.advance();
  return [...rd.messagesBeforePersist, ...rd.messages];
}

function msg(type: Message['type'], from: NodeId, to: NodeId, term: number, fields: Partial<Message> = {}): Message {
  return { ...emptyMessage(type, to, from, term), ...fields };
}

describe('§5.2 leader election', () => {
  it('a campaign wins with a majority and the others follow the leader', () => {
    const c = new TestCluster([1n, 2n, 3n]);
    c.get(1n).node.campaign();
    c.stabilize();
    expect(c.get(1n).node.status().role).toBe('leader');
    for (const id of [2n, 3n]) {
      expect(c.get(id).node.status()).toMatchObject({ role: 'follower', lead: 1n, term: 2 });
    }
  });

  it('election safety: a member grants at most one vote per term', () => {
    const { node, storage } = nodeWithLog(1n, [1n, 2n, 3n], [], 1);
    node.step(msg(MessageType.Vote, 2n, 1n, 5, { index: 1, logTerm: 1 }));
    node.step(msg(MessageType.Vote, 3n, 1n, 5, { index: 1, logTerm: 1 }));
    const responses = persist(node, storage).filter((m) => m.type === MessageType.VoteResp);
    expect(responses.map((m) => [m.to, m.reject])).toEqual([[2n, false], [3n, true]]);
    expect(storage.initialState().hardState).toMatchObject({ term: 5, vote: 2n });
  });

  it('vote rule: a candidate whose log is less up to date is refused', () => {
    const { node, storage } = nodeWithLog(1n, [1n, 2n, 3n], [2, 2], 2);
    // Same last term, shorter log.
    node.step(msg(MessageType.Vote, 2n, 1n, 3, { index: 2, logTerm: 2 }));
    // Older last term, longer log.
    node.step(msg(MessageType.Vote, 3n, 1n, 4, { index: 9, logTerm: 1 }));
    const responses = persist(node, storage).filter((m) => m.type === MessageType.VoteResp);
    expect(responses.map((m) => m.reject)).toEqual([true, true]);
    node.step(msg(MessageType.Vote, 2n, 1n, 5, { index: 3, logTerm: 2 }));
    expect(persist(node, storage).find((m) => m.type === MessageType.VoteResp)?.reject).toBe(false);
  });

  it('randomised election timeouts lie in [electionTick, 2×electionTick)', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const storage = new MemoryStorage();
      storage.bootstrap({ voters: [1n, 2n, 3n], learners: [] });
      let draws = 0;
      const random = (): number => { draws++; return ((seed * 7919) % 1000) / 1000; };
      const node = new RawNode(makeConfig(1n, storage, { random }));
      expect(draws).toBeGreaterThan(0);
      const expectedTimeout = 10 + Math.floor((((seed * 7919) % 1000) / 1000) * 10);
      for (let t = 1; t < expectedTimeout; t++) node.tick();
      expect(node.status().role).toBe('follower');
      node.tick();
      expect(node.status().role).toBe('candidate');
    }
  });

  it('a candidate that hears from a leader of its term becomes follower', () => {
    const { node, storage } = nodeWithLog(1n, [1n, 2n, 3n], [], 1);
    node.campaign();
    persist(node, storage);
    expect(node.status().role).toBe('candidate');
    node.step(msg(MessageType.App, 2n, 1n, 2, { index: 1, logTerm: 1, commit: 1 }));
    expect(node.status()).toMatchObject({ role: 'follower', lead: 2n, term: 2 });
  });
});

describe('§5.3 log replication', () => {
  it('entries proposed on the leader are applied by every member in the same order', () => {
    const c = new TestCluster([1n, 2n, 3n]);
    c.get(1n).node.campaign();
    c.stabilize();
    for (const s of ['a', 'b', 'c']) c.get(1n).node.propose(text(s));
    c.stabilize();
    for (const id of [1n, 2n, 3n]) expect(dataOf(c.get(id).applied)).toEqual(['a', 'b', 'c']);
  });

  it('a follower forwards a proposal to the leader', () => {
    const c = new TestCluster([1n, 2n, 3n]);
    c.get(1n).node.campaign();
    c.stabilize();
    c.get(3n).node.propose(text('from-3'));
    c.stabilize();
    const forwarded = c.delivered.find((m) => m.type === MessageType.Prop);
    expect(forwarded).toMatchObject({ from: 3n, to: 1n });
    for (const id of [1n, 2n, 3n]) expect(dataOf(c.get(id).applied)).toEqual(['from-3']);
  });

  it('log matching: a follower drops conflicting uncommitted entries and takes the leader\'s', () => {
    const leader = nodeWithLog(1n, [1n, 2n], [2, 3, 3], 3);
    const follower = nodeWithLog(2n, [1n, 2n], [2, 2, 2, 2], 2);
    leader.node.campaign();
    let toFollower = persist(leader.node, leader.storage);
    for (let round = 0; round < 10; round++) {
      for (const m of toFollower) follower.node.step(m);
      const back = persist(follower.node, follower.storage);
      for (const m of back) leader.node.step(m);
      toFollower = persist(leader.node, leader.storage);
    }
    const logOf = (s: MemoryStorage): string[] => s.entries(2, s.lastIndex() + 1, Infinity).map((e) => `${e.index}/${e.term}`);
    expect(logOf(follower.storage)).toEqual(logOf(leader.storage));
    expect(logOf(follower.storage)).toEqual(['2/2', '3/3', '4/3', '5/4']);
    expect(leader.node.status().commit).toBe(5);
  });

  it('the reject hint skips a whole divergent term in one round trip', () => {
    const leader = nodeWithLog(1n, [1n, 2n], [2, 2, 5, 5, 5, 5, 5, 5], 5);
    const follower = nodeWithLog(2n, [1n, 2n], [2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3], 3);
    leader.node.campaign();
    let toFollower = persist(leader.node, leader.storage);
    let rejects = 0;
    for (let round = 0; round < 10; round++) {
      for (const m of toFollower) follower.node.step(m);
      const back = persist(follower.node, follower.storage);
      rejects += back.filter((m) => m.type === MessageType.AppResp && m.reject).length;
      for (const m of back) leader.node.step(m);
      toFollower = persist(leader.node, leader.storage);
    }
    expect(follower.storage.lastIndex()).toBe(leader.storage.lastIndex());
    expect(follower.storage.term(4)).toBe(5);
    expect(rejects).toBeLessThanOrEqual(2);
  });

  it('heartbeats carry the commit index to followers', () => {
    const c = new TestCluster([1n, 2n, 3n]);
    c.get(1n).node.campaign();
    c.stabilize();
    // 3 gets the entry but neither the empty append that announces its commit nor the leader's
    // word that its log is durable (with which 3 would commit on its own).
    c.filter = (m) => !(m.to === 3n && ((m.type === MessageType.App && m.entries.length === 0) || m.type === MessageType.LeaderPersisted));
    c.get(1n).node.propose(text('x'));
    c.stabilize();
    const leaderCommit = c.get(1n).node.status().commit;
    expect(c.get(3n).node.status().commit).toBeLessThan(leaderCommit);
    c.tickAll(1); // heartbeatTick is 1
    expect(c.get(3n).node.status().commit).toBe(leaderCommit);
    expect(dataOf(c.get(3n).applied)).toEqual(['x']);
  });

  it('the leader keeps at most maxInflightMsgs appends in flight to a silent follower', () => {
    const c = new TestCluster([1n, 2n, 3n], { maxInflightMsgs: 2 });
    c.get(1n).node.campaign();
    c.stabilize();
    c.filter = (m) => !(m.from === 3n && m.type === MessageType.AppResp);
    c.delivered = [];
    for (let i = 0; i < 6; i++) {
      c.get(1n).node.propose(text(`p${i}`));
      c.stabilize();
    }
    const appsTo3 = c.delivered.filter((m) => m.type === MessageType.App && m.to === 3n && m.entries.length > 0);
    expect(appsTo3).toHaveLength(2);
    // The other follower keeps the majority going.
    expect(dataOf(c.get(1n).applied)).toHaveLength(6);
  });
});

describe('§5.4 safety', () => {
  it('commit rule: an entry of an older term is not committed by counting replicas', () => {
    const { node, storage } = nodeWithLog(1n, [1n, 2n, 3n], [2], 2);
    node.campaign();
    node.step(msg(MessageType.VoteResp, 2n, 1n, 3));
    expect(node.status().role).toBe('leader');
    persist(node, storage); // the leader's empty entry (index 3, term 3) is durable
    node.step(msg(MessageType.AppResp, 2n, 1n, 3, { index: 2 }));
    expect(node.status().commit).toBe(1); // index 2 (term 2) is on a majority but not committed
    node.step(msg(MessageType.AppResp, 2n, 1n, 3, { index: 3 }));
    expect(node.status().commit).toBe(3); // committing the term-3 entry commits index 2 with it
  });

  it('the leader does not count its own unpersisted entries toward the quorum', () => {
    const { node, storage } = nodeWithLog(1n, [1n, 2n, 3n], [], 1);
    node.campaign();
    node.step(msg(MessageType.VoteResp, 2n, 1n, 2));
    persist(node, storage);
    node.propose(text('x')); // index 3, only in memory
    node.step(msg(MessageType.AppResp, 2n, 1n, 2, { index: 3 }));
    expect(node.status().commit).toBe(2); // 2 has 3, but the leader has not persisted it: 1 of 3
    persist(node, storage);
    expect(node.status().commit).toBe(3);
  });

  it('leader completeness: a member missing a committed entry cannot become leader', () => {
    const c = new TestCluster([1n, 2n, 3n]);
    c.get(1n).node.campaign();
    c.stabilize();
    c.filter = (m) => m.to !== 3n && m.from !== 3n;
    c.get(1n).node.propose(text('committed'));
    c.stabilize();
    expect(dataOf(c.get(1n).applied)).toEqual(['committed']);
    // Leader 1 goes away; 3 (behind) campaigns first, then 2.
    c.filter = (m) => m.to !== 1n && m.from !== 1n;
    c.get(3n).node.campaign();
    c.stabilize();
    expect(c.get(3n).node.status().role).not.toBe('leader');
    c.get(2n).node.campaign();
    c.stabilize();
    expect(c.get(2n).node.status().role).toBe('leader');
    expect(dataOf(c.get(3n).applied)).toEqual(['committed']);
  });
});
