// ReadIndex, pre-vote, check-quorum, membership changes, snapshots and leader transfer on a fault-free cluster.
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../../src/raft/storage.js';
import { RawNode } from '../../../src/raft/raw-node.js';
import { ConfChangeType, emptyMessage, EntryType, MessageType, RaftError, type Message, type NodeId } from '../../../src/raft/types.js';
import { TestCluster, dataOf, makeConfig, text } from './helpers.js';

const decode = (b: Uint8Array): string => new TextDecoder().decode(b);

function elected(ids: bigint[], overrides = {}): TestCluster {
  const c = new TestCluster(ids, overrides);
  c.get(1n).node.campaign();
  c.stabilize();
  expect(c.get(1n).node.status().role).toBe('leader');
  return c;
}

/** A forwarded read as it travels between members: `from` asked, stamped with `logTerm`. */
function readIndexMessage(to: NodeId, from: NodeId, logTerm: number, context: string) {
  const m = emptyMessage(MessageType.ReadIndex, to, from, 0);
  m.logTerm = logTerm;
  m.entries = [{ term: 0, index: 0, type: 0, data: text(context) }];
  return m;
}

/** Three voters, member 1 leading, one entry of its term committed (index 3); nothing delivered yet. */
function afterOneWrite(): TestCluster {
  const c = elected([1n, 2n, 3n]);
  c.get(1n).node.propose(text('a'));
  c.stabilize();
  c.delivered = [];
  return c;
}

describe('ReadIndex', () => {
  it('the leader answers after a heartbeat round confirms it, with its commit index', () => {
    const c = afterOneWrite();
    c.get(1n).node.readIndex(text('r1'));
    c.stabilize();
    expect(c.delivered.some((m) => m.type === MessageType.Heartbeat && decode(m.context) === 'r1')).toBe(true);
    expect(c.get(1n).readStates.map((r) => [decode(r.requestContext), r.index])).toEqual([['r1', 3]]);
  });

  it('a leader cut off from the quorum does not answer', () => {
    const c = elected([1n, 2n, 3n]);
    c.filter = (m) => m.from !== 1n && m.to !== 1n;
    c.get(1n).node.readIndex(text('r1'));
    c.stabilize();
    expect(c.get(1n).readStates).toHaveLength(0);
  });

  it('a later round confirms the requests queued before it', () => {
    const c = elected([1n, 2n, 3n]);
    c.filter = (m) => !(m.type === MessageType.HeartbeatResp && decode(m.context) === 'r1');
    c.get(1n).node.readIndex(text('r1'));
    c.stabilize();
    expect(c.get(1n).readStates).toHaveLength(0);
    c.get(1n).node.readIndex(text('r2'));
    c.stabilize();
    expect(c.get(1n).readStates.map((r) => decode(r.requestContext))).toEqual(['r1', 'r2']);
  });

  it('a follower forwards the request and gets the leader\'s index back', () => {
    const c = afterOneWrite();
    c.get(2n).node.readIndex(text('f'));
    c.stabilize();
    expect(c.get(2n).readStates.map((r) => [decode(r.requestContext), r.index])).toEqual([['f', 3]]);
    expect(c.get(1n).readStates).toHaveLength(0);
  });

  it('with three voters a forwarded read is confirmed by the forward itself: no heartbeat round', () => {
    const c = afterOneWrite();
    c.get(2n).node.readIndex(text('f'));
    c.stabilize();
    expect(c.get(2n).readStates.map((r) => [decode(r.requestContext), r.index])).toEqual([['f', 3]]);
    const forward = c.delivered.find((m) => m.type === MessageType.ReadIndex)!;
    expect(forward.logTerm).toBe(c.get(2n).node.status().term);
    expect(c.delivered.some((m) => m.type === MessageType.Heartbeat && decode(m.context) === 'f')).toBe(false);
  });

  it('with five voters the leader and the forwarder are no quorum: the read waits for a heartbeat round', () => {
    const c = elected([1n, 2n, 3n, 4n, 5n]);
    c.delivered = [];
    c.filter = (m) => m.type !== MessageType.HeartbeatResp;
    c.get(2n).node.readIndex(text('f'));
    c.stabilize();
    expect(c.delivered.some((m) => m.type === MessageType.Heartbeat && decode(m.context) === 'f')).toBe(true);
    expect(c.get(2n).readStates).toHaveLength(0);
    c.filter = () => true;
    c.get(1n).node.readIndex(text('l'));
    c.stabilize();
    expect(c.get(2n).readStates.map((r) => decode(r.requestContext))).toEqual(['f']);
  });

  it('an old leader cut off with one follower of five never answers that follower\'s read, while the majority moves on', () => {
    const c = elected([1n, 2n, 3n, 4n, 5n]);
    c.get(1n).node.propose(text('a'));
    c.stabilize();
    const minority = new Set([1n, 2n]);
    c.filter = (m) => minority.has(m.from) === minority.has(m.to);
    c.get(3n).node.campaign();
    c.stabilize();
    expect(c.get(3n).node.status().role).toBe('leader');
    c.get(3n).node.propose(text('b'));
    c.stabilize();
    expect(c.get(1n).node.status().role).toBe('leader');
    expect(c.get(2n).node.status().lead).toBe(1n);
    c.get(2n).node.readIndex(text('stale?'));
    c.stabilize();
    expect(c.get(2n).readStates).toHaveLength(0);
  });

  it('a forward stamped with another term, or passed on by a second member, gets the heartbeat round', () => {
    const c = elected([1n, 2n, 3n]);
    const leader = c.get(1n);
    const term = leader.node.status().term;
    c.filter = (m) => m.type !== MessageType.HeartbeatResp;
    for (const [logTerm, context] of [[term - 1, 'old'], [0, 'relayed']] as const) {
      c.delivered = [];
      leader.node.step(readIndexMessage(1n, 2n, logTerm, context));
      c.stabilize();
      expect(c.delivered.some((m) => m.type === MessageType.ReadIndexResp)).toBe(false);
      expect(c.delivered.some((m) => m.type === MessageType.Heartbeat && decode(m.context) === context)).toBe(true);
    }
  });

  it('a follower passing on another member\'s read does not stamp its own term on it', () => {
    const c = elected([1n, 2n, 3n]);
    c.delivered = [];
    c.get(3n).node.step(readIndexMessage(3n, 2n, 7, 'x'));
    c.stabilize();
    const relayed = c.delivered.find((m) => m.type === MessageType.ReadIndex && m.from === 2n)!;
    expect(relayed.logTerm).toBe(0);
  });
});

describe('pre-vote and check-quorum', () => {
  it('with pre-vote, an isolated member does not raise its term and does not disrupt the leader when back', () => {
    const c = elected([1n, 2n, 3n], { preVote: true });
    const term = c.get(1n).node.status().term;
    c.filter = (m) => m.from !== 3n && m.to !== 3n;
    c.tickAll(50);
    expect(c.get(3n).node.status().term).toBe(term);
    expect(c.get(3n).node.status().role).toBe('pre-candidate');
    c.filter = () => true;
    c.tickAll(5);
    expect(c.get(1n).node.status()).toMatchObject({ role: 'leader', term });
    expect(c.get(3n).node.status()).toMatchObject({ role: 'follower', lead: 1n });
  });

  it('without pre-vote the same isolated member raises its term and deposes the leader', () => {
    const c = elected([1n, 2n, 3n]);
    const term = c.get(1n).node.status().term;
    c.filter = (m) => m.from !== 3n && m.to !== 3n;
    c.tickAll(50);
    expect(c.get(3n).node.status().term).toBeGreaterThan(term);
    c.filter = () => true;
    c.tickAll(1);
    expect(c.get(1n).node.status().term).toBeGreaterThan(term);
  });

  it('with check-quorum, a leader that hears from no majority steps down', () => {
    const c = elected([1n, 2n, 3n], { checkQuorum: true });
    c.filter = (m) => m.from !== 1n && m.to !== 1n;
    c.tickAll(25);
    expect(c.get(1n).node.status().role).toBe('follower');
    expect(() => c.get(1n).node.propose(text('x'))).toThrow(RaftError);
  });

  it('with check-quorum, followers that heard from the leader ignore a vote request', () => {
    const c = elected([1n, 2n, 3n], { checkQuorum: true });
    const term = c.get(1n).node.status().term;
    c.get(3n).node.campaign(); // 3 is not partitioned: 1 and 2 are within their lease
    c.stabilize();
    expect(c.get(1n).node.status()).toMatchObject({ role: 'leader', term });
    expect(c.get(2n).node.status().term).toBe(term);
  });
});

describe('membership changes', () => {
  it('adds a learner that catches up by snapshot, promotes it, then removes a voter', () => {
    const c = elected([1n, 2n, 3n]);
    c.get(1n).node.propose(text('before'));
    c.stabilize();
    const learner = c.addMember(4n);
    c.get(1n).node.proposeConfChange({ type: ConfChangeType.AddLearnerNode, nodeId: 4n, context: new Uint8Array(0) });
    c.stabilize();
    expect(c.get(1n).node.confState()).toEqual({ voters: [1n, 2n, 3n], learners: [4n] });
    expect(c.delivered.some((m) => m.type === MessageType.Snap && m.to === 4n)).toBe(true);
    c.get(1n).node.propose(text('after'));
    c.stabilize();
    expect(learner.node.status().commit).toBe(c.get(1n).node.status().commit);
    // The leader's snapshot is the bootstrap one (index 1): 'before' comes as an entry after it.
    expect(learner.storage.snapshot().metadata.index).toBe(1);
    expect(dataOf(learner.applied)).toEqual(['before', 'after']);
    expect(learner.node.confState()).toEqual({ voters: [1n, 2n, 3n], learners: [4n] });
    // A learner never campaigns.
    learner.node.campaign();
    expect(learner.node.status().role).toBe('follower');

    c.get(1n).node.proposeConfChange({ type: ConfChangeType.AddNode, nodeId: 4n, context: new Uint8Array(0) });
    c.stabilize();
    expect(c.get(1n).node.confState()).toEqual({ voters: [1n, 2n, 3n, 4n], learners: [] });

    c.get(1n).node.proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: 2n, context: new Uint8Array(0) });
    c.stabilize();
    for (const id of [1n, 3n, 4n]) expect(c.get(id).node.confState().voters).toEqual([1n, 3n, 4n]);
    // With 2 gone, 1 and 3 are a quorum of 3 even if 4 is silent.
    c.filter = (m) => m.to !== 4n && m.from !== 4n && m.to !== 2n;
    c.get(1n).node.propose(text('without-2'));
    c.stabilize();
    expect(dataOf(c.get(1n).applied)).toContain('without-2');
  });

  it('accepts one conf change at a time: a second one before the first applies becomes a no-op', () => {
    const c = elected([1n, 2n, 3n]);
    c.addMember(4n);
    c.addMember(5n);
    c.get(1n).node.proposeConfChange({ type: ConfChangeType.AddLearnerNode, nodeId: 4n, context: new Uint8Array(0) });
    c.get(1n).node.proposeConfChange({ type: ConfChangeType.AddLearnerNode, nodeId: 5n, context: new Uint8Array(0) });
    c.stabilize();
    expect(c.get(1n).node.confState().learners).toEqual([4n]);
  });

  it('a removed leader steps down and the rest elect a new one', () => {
    const c = elected([1n, 2n, 3n]);
    c.get(1n).node.proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: 1n, context: new Uint8Array(0) });
    c.stabilize();
    expect(c.get(1n).node.status().role).toBe('follower');
    c.tickAll(25);
    const leader = c.leader();
    expect(leader && leader.id !== 1n).toBe(true);
    leader!.node.propose(text('x'));
    c.stabilize();
    expect(dataOf(c.get(leader!.id === 2n ? 3n : 2n).applied)).toEqual(['x']);
  });
});

describe('snapshots', () => {
  it('a follower behind the leader\'s first index receives a snapshot and then the tail', () => {
    const c = elected([1n, 2n, 3n]);
    c.filter = (m) => m.to !== 3n && m.from !== 3n;
    for (let i = 0; i < 5; i++) c.get(1n).node.propose(text(`e${i}`));
    c.stabilize();
    const leader = c.get(1n);
    const appliedIndex = leader.applied[leader.applied.length - 1]!.index;
    leader.storage.createSnapshot(appliedIndex, leader.node.confState(), text('state@' + appliedIndex));
    leader.storage.compact(appliedIndex);
    c.filter = () => true;
    c.get(1n).node.propose(text('tail'));
    c.tickAll(3);
    expect(c.delivered.some((m) => m.type === MessageType.Snap && m.to === 3n)).toBe(true);
    expect(c.get(3n).storage.snapshot().metadata.index).toBe(appliedIndex);
    expect(decode(c.get(3n).storage.snapshot().data)).toBe('state@' + appliedIndex);
    expect(dataOf(c.get(3n).applied)).toEqual(['tail']);
    expect(c.get(3n).node.status().commit).toBe(leader.node.status().commit);
  });
});

describe('leader transfer', () => {
  it('moves leadership to an up-to-date follower at once', () => {
    const c = elected([1n, 2n, 3n], { checkQuorum: true, preVote: true });
    c.get(1n).node.transferLeader(2n);
    c.stabilize();
    expect(c.get(2n).node.status().role).toBe('leader');
    expect(c.get(1n).node.status()).toMatchObject({ role: 'follower', lead: 2n });
  });

  it('catches a lagging transferee up first, and drops proposals meanwhile', () => {
    const c = elected([1n, 2n, 3n]);
    c.filter = (m) => m.to !== 3n;
    c.get(1n).node.propose(text('a'));
    c.stabilize();
    c.filter = (m) => !(m.to === 3n && m.type === MessageType.App);
    c.get(1n).node.transferLeader(3n);
    c.stabilize();
    expect(() => c.get(1n).node.propose(text('b'))).toThrow(RaftError);
    c.filter = () => true;
    c.tickAll(1);
    expect(c.get(3n).node.status().role).toBe('leader');
    expect(dataOf(c.get(3n).applied)).toEqual(['a']);
  });

  it('drops, without throwing, a proposal forwarded to a leader that is transferring', () => {
    const c = elected([1n, 2n, 3n]);
    c.filter = (m) => m.to !== 3n && m.from !== 3n;
    c.get(1n).node.transferLeader(3n);
    c.stabilize();
    c.get(2n).node.propose(text('forwarded'));
    expect(() => c.stabilize()).not.toThrow();
    expect(dataOf(c.get(1n).applied)).toEqual([]);
  });

  it('abandons a transfer that does not finish within an election timeout', () => {
    const c = elected([1n, 2n, 3n]);
    c.filter = (m) => m.to !== 3n && m.from !== 3n;
    c.get(1n).node.transferLeader(3n);
    c.stabilize();
    expect(() => c.get(1n).node.propose(text('b'))).toThrow(RaftError);
    c.tickAll(10);
    expect(c.get(1n).node.status().role).toBe('leader');
    expect(() => c.get(1n).node.propose(text('c'))).not.toThrow();
  });
});

describe('acknowledgements', () => {
  const acksFrom = (c: TestCluster, id: NodeId) =>
    c.delivered.filter((m) => m.type === MessageType.AppResp && m.from === id && !m.reject).map((m) => m.index);

  it("a follower does not answer an append that only moves its commit index to what it had acknowledged", () => {
    // Five voters: with three, the followers commit on their own and get no such append (below).
    const c = elected([1n, 2n, 3n, 4n, 5n]);
    c.get(1n).node.propose(text('a'));
    c.stabilize();
    c.delivered = [];
    c.get(1n).node.propose(text('b'));
    c.stabilize();
    for (const id of [2n, 3n, 4n, 5n]) {
      // The entry's ack, then the commit index arrives in an append without entries: no answer.
      expect(acksFrom(c, id)).toEqual([4]);
      expect(c.delivered.filter((m) => m.type === MessageType.App && m.to === id).map((m) => [m.entries.length, m.commit])).toEqual([[1, 3], [0, 4]]);
    }
    for (const id of [1n, 2n, 3n, 4n, 5n]) expect(dataOf(c.get(id).applied).slice(-1)).toEqual(['b']);
  });

  it('a leader whose acks got lost hears back on the empty append a heartbeat answer brings', () => {
    const c = afterOneWrite();
    let dropAcks = true;
    c.filter = (m) => !(dropAcks && m.type === MessageType.AppResp);
    c.get(1n).node.propose(text('b'));
    c.stabilize();
    expect(dataOf(c.get(1n).applied).slice(-1)).toEqual(['a']);
    dropAcks = false;
    c.tickAll(3);
    for (const id of [1n, 2n, 3n]) expect(dataOf(c.get(id).applied).slice(-1)).toEqual(['b']);
  });
});

describe('proposal batching', () => {
  it('sends each follower the proposals of one Ready in one append', () => {
    const c = afterOneWrite();
    const leader = c.get(1n);
    for (const data of ['b', 'c', 'd']) leader.node.propose(text(data));
    c.processReady(leader);
    const appends = c.queue.filter((m) => m.type === MessageType.App);
    expect(appends.map((m) => [m.to, dataOf(m.entries)])).toEqual([[2n, ['b', 'c', 'd']], [3n, ['b', 'c', 'd']]]);
    c.stabilize();
    // After it, only appends without entries (the commit index) go to the followers.
    expect(c.delivered.filter((m) => m.type === MessageType.App && m.entries.length > 0).map((m) => m.to)).toEqual([2n, 3n]);
    for (const id of [1n, 2n, 3n]) expect(dataOf(c.get(id).applied).slice(-3)).toEqual(['b', 'c', 'd']);
  });

  it('a follower forwards the proposals of one Ready to the leader in one message', () => {
    const c = afterOneWrite();
    const follower = c.get(2n);
    for (const data of ['b', 'c']) follower.node.propose(text(data));
    follower.node.readIndex(text('r')); // sent between: the next proposal starts a new forward
    follower.node.propose(text('d'));
    c.processReady(follower);
    expect(c.queue.map((m) => [m.type, m.to, dataOf(m.entries)])).toEqual([
      [MessageType.Prop, 1n, ['b', 'c']], [MessageType.ReadIndex, 1n, ['r']], [MessageType.Prop, 1n, ['d']],
    ]);
    c.stabilize();
    for (const id of [1n, 2n, 3n]) expect(dataOf(c.get(id).applied).slice(-3)).toEqual(['b', 'c', 'd']);
  });

  it('sends more than one append of entries in several, as flow control allows', () => {
    const c = elected([1n, 2n, 3n], { maxSizePerMsgBytes: 100 });
    const leader = c.get(1n);
    leader.node.propose(text('a'));
    c.stabilize(); // the followers are in replicate state now
    const payloads = ['b', 'c', 'd', 'e', 'f'].map((letter) => letter.repeat(60));
    for (const payload of payloads) leader.node.propose(text(payload));
    c.processReady(leader);
    const toTwo = c.queue.filter((m) => m.type === MessageType.App && m.to === 2n);
    expect(toTwo.length).toBeGreaterThan(1);
    expect(toTwo.flatMap((m) => dataOf(m.entries))).toEqual(payloads);
    c.stabilize();
    for (const id of [1n, 2n, 3n]) expect(dataOf(c.get(id).applied).slice(-5)).toEqual(payloads);
  });

  it("a follower's forward holds at most one message's worth of entries", () => {
    const c = elected([1n, 2n, 3n], { maxSizePerMsgBytes: 100 });
    c.get(1n).node.propose(text('a'));
    c.stabilize();
    const follower = c.get(2n);
    const payloads = ['b', 'c', 'd'].map((letter) => letter.repeat(40));
    for (const payload of payloads) follower.node.propose(text(payload));
    c.processReady(follower);
    expect(c.queue.filter((m) => m.type === MessageType.Prop).map((m) => dataOf(m.entries))).toEqual([payloads.slice(0, 2), payloads.slice(2)]);
    c.stabilize();
    for (const id of [1n, 2n, 3n]) expect(dataOf(c.get(id).applied).slice(-3)).toEqual(payloads);
  });

  it('a leader that steps down before its Ready sends none of them', () => {
    const c = afterOneWrite();
    const leader = c.get(1n);
    leader.node.propose(text('lost'));
    leader.node.step({ ...emptyMessage(MessageType.Heartbeat, 1n, 2n, 5), commit: 0 });
    expect(leader.node.status().role).toBe('follower');
    c.processReady(leader);
    expect(c.queue.filter((m) => m.type === MessageType.App)).toHaveLength(0);
  });
});

describe('commit on a follower (at most three voters)', () => {
  const isAck = (m: Message) => m.type === MessageType.AppResp && !m.reject;
  const commitOf = (c: TestCluster, id: NodeId) => c.get(id).node.status().commit;

  it('a follower commits and applies a write once its log and the leader\'s are durable, without hearing from the leader again', () => {
    const c = afterOneWrite();
    c.filter = (m) => !isAck(m); // the leader never hears the acks, so never commits
    c.get(1n).node.propose(text('b'));
    c.stabilize();
    expect(commitOf(c, 1n)).toBe(3);
    for (const id of [2n, 3n]) {
      expect(commitOf(c, id)).toBe(4);
      expect(dataOf(c.get(id).applied)).toEqual(['a', 'b']);
    }
  });

  it('no notice to a follower that has not said it commits alone (a member built before this would close its stream on one)', () => {
    const c = elected([1n, 2n, 3n]);
    // Member 3 acks as an older build would: without selfCommit.
    c.filter = (m) => {
      if (m.type === MessageType.AppResp && m.from === 3n) m.selfCommit = false;
      return true;
    };
    c.get(1n).node.propose(text('a'));
    c.stabilize();
    c.delivered = [];
    c.get(1n).node.propose(text('b'));
    c.stabilize();
    expect(c.delivered.filter((m) => m.type === MessageType.LeaderPersisted).map((m) => m.to)).toEqual([2n]);
    // It gets the commit in an append, as before.
    expect(c.delivered.filter((m) => m.to === 3n && m.type === MessageType.App).map((m) => m.entries.length)).toEqual([1, 0]);
    for (const id of [1n, 2n, 3n]) expect(dataOf(c.get(id).applied)).toEqual(['a', 'b']);
  });

  it('per write each follower gets one append and one notice and sends one ack: no append to announce the commit', () => {
    const c = afterOneWrite();
    c.get(1n).node.propose(text('b'));
    c.stabilize();
    for (const id of [2n, 3n]) {
      expect(c.delivered.filter((m) => m.to === id).map((m) => [m.type, m.entries.length, m.index])).toEqual([
        [MessageType.App, 1, 3], [MessageType.LeaderPersisted, 0, 4],
      ]);
      expect(c.delivered.filter((m) => m.from === id).map((m) => [m.type, m.index, m.selfCommit])).toEqual([[MessageType.AppResp, 4, true]]);
    }
    for (const id of [1n, 2n, 3n]) {
      expect(commitOf(c, id)).toBe(4);
      expect(dataOf(c.get(id).applied)).toEqual(['a', 'b']);
    }
  });

  it('with five voters a follower and the leader are no quorum: no notice, no commit without the leader', () => {
    const c = elected([1n, 2n, 3n, 4n, 5n]);
    c.get(1n).node.propose(text('a'));
    c.stabilize();
    const before = commitOf(c, 2n);
    c.filter = (m) => !isAck(m);
    c.delivered = [];
    c.get(1n).node.propose(text('b'));
    c.stabilize();
    expect(c.delivered.some((m) => m.type === MessageType.LeaderPersisted)).toBe(false);
    for (const id of [1n, 2n, 3n, 4n, 5n]) expect(commitOf(c, id)).toBe(before);
  });

  it('while a conf change waits to be applied on the leader it sends no notice, and the followers wait for its commit', () => {
    const c = afterOneWrite();
    c.filter = (m) => !isAck(m);
    c.get(1n).node.proposeConfChange({ type: ConfChangeType.AddLearnerNode, nodeId: 4n, context: new Uint8Array(0) });
    c.stabilize();
    expect(c.delivered.some((m) => m.type === MessageType.LeaderPersisted)).toBe(false);
    for (const id of [1n, 2n, 3n]) expect(commitOf(c, id)).toBe(3);
    c.filter = () => true;
    c.tickAll(1); // the heartbeat's answer brings the lost acks back
    for (const id of [1n, 2n, 3n]) expect(commitOf(c, id)).toBe(4);
  });

  it('a follower with a conf change unapplied at or below the entry does not commit on its own, nor says it would', () => {
    const c = afterOneWrite();
    // Member 2 gets the conf change but never learns it is committed: appends to it carry no newer
    // commit, and the empty ones and heartbeats that would announce it are lost.
    const keepTwoUncommitted = (m: Message) => {
      if (m.to !== 2n) return true;
      if (m.type === MessageType.Heartbeat || (m.type === MessageType.App && m.entries.length === 0)) return false;
      if (m.type === MessageType.App) m.commit = Math.min(m.commit, 3);
      return true;
    };
    c.filter = keepTwoUncommitted;
    c.get(1n).node.proposeConfChange({ type: ConfChangeType.AddLearnerNode, nodeId: 4n, context: new Uint8Array(0) });
    c.stabilize();
    expect(commitOf(c, 1n)).toBe(4);
    expect(commitOf(c, 2n)).toBe(3);
    c.delivered = [];
    const acksOfTwo: Message[] = [];
    c.filter = (m) => {
      if (isAck(m) && m.from === 2n) {
        acksOfTwo.push(m);
        return false;
      }
      return keepTwoUncommitted(m);
    };
    c.get(1n).node.propose(text('b'));
    c.stabilize();
    expect(acksOfTwo.map((m) => [m.index, m.selfCommit])).toEqual([[5, false]]);
    // Its acks said so, so the leader tells it nothing; told anyway, it still does not commit.
    expect(c.delivered.some((m) => m.type === MessageType.LeaderPersisted && m.to === 2n)).toBe(false);
    const notice = emptyMessage(MessageType.LeaderPersisted, 2n, 1n, c.get(1n).node.status().term);
    notice.index = 5;
    c.get(2n).node.step(notice);
    c.stabilize();
    expect(commitOf(c, 2n)).toBe(3);
  });

  it('a read at the leader covers what a follower may have committed before the leader heard', () => {
    const c = afterOneWrite();
    c.filter = (m) => !isAck(m);
    c.get(1n).node.propose(text('b'));
    c.stabilize();
    expect(commitOf(c, 2n)).toBe(4);
    expect(commitOf(c, 1n)).toBe(3);
    c.get(1n).node.readIndex(text('r'));
    c.stabilize();
    // 4, not the leader's commit index 3: a watcher on member 2 may already have seen 'b'.
    expect(c.get(1n).readStates.map((r) => [decode(r.requestContext), r.index])).toEqual([['r', 4]]);
  });

  it('a notice naming an entry of an earlier term commits nothing (Raft counts replicas only for the current term)', () => {
    const storage = new MemoryStorage();
    storage.bootstrap({ voters: [1n, 2n, 3n], learners: [] });
    const follower = new RawNode(makeConfig(2n, storage));
    const persist = () => {
      const rd = follower.ready();
      storage.append(rd.entries);
      if (rd.hardState) storage.setHardState(rd.hardState);
      follower.advance();
    };
    // Term 2's leader (1) appends entry 2 of its term ... then term 3's leader (1 again) finds it,
    // without adding its own entry yet, and says its log is durable through 2.
    const app = (term: number, index: number, logTerm: number, entries: { term: number; index: number }[]) => {
      const m = emptyMessage(MessageType.App, 2n, 1n, term);
      m.index = index;
      m.logTerm = logTerm;
      m.entries = entries.map((e) => ({ ...e, type: EntryType.Normal, data: text('x') }));
      return m;
    };
    follower.step(app(2, 1, 1, [{ term: 2, index: 2 }]));
    persist();
    follower.step(app(3, 2, 2, []));
    persist();
    const notice = emptyMessage(MessageType.LeaderPersisted, 2n, 1n, 3);
    notice.index = 2;
    follower.step(notice);
    expect(follower.status().term).toBe(3);
    expect(follower.status().commit).toBe(1);
  });
});
