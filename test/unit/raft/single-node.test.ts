import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../../src/raft/storage.js';
import { RawNode } from '../../../src/raft/raw-node.js';
import { RaftError } from '../../../src/raft/types.js';
import { TestCluster, dataOf, makeConfig, text } from './helpers.js';

describe('one-member cluster', () => {
  it('becomes leader on the first election timeout', () => {
    const c = new TestCluster([1n]);
    const m = c.get(1n);
    expect(m.node.status().role).toBe('follower');
    c.tickAll(20); // randomized timeout is in [10, 20)
    expect(m.node.status().role).toBe('leader');
    expect(m.node.status().lead).toBe(1n);
  });

  it('commits a proposal only in the Ready after the one that persisted it', () => {
    const storage = new MemoryStorage();
    storage.bootstrap({ voters: [1n], learners: [] });
    const node = new RawNode(makeConfig(1n, storage));
    node.campaign();
    expect(node.status().role).toBe('leader');
    let rd = node.ready();
    expect(rd.entries).toHaveLength(1); // the leader's empty entry
    expect(rd.committedEntries).toHaveLength(0); // not persisted yet: not committed
    expect(rd.mustSync).toBe(true);
    storage.append(rd.entries);
    storage.setHardState(rd.hardState!);
    node.advance();
    rd = node.ready();
    expect(rd.committedEntries.map((e) => e.index)).toEqual([2]);
    node.advance();

    node.propose(text('a'));
    rd = node.ready();
    expect(rd.entries.map((e) => e.index)).toEqual([3]);
    expect(rd.committedEntries).toHaveLength(0);
    expect(node.status().commit).toBe(2);
    storage.append(rd.entries);
    if (rd.hardState) storage.setHardState(rd.hardState);
    node.advance();
    expect(node.status().commit).toBe(3);
    rd = node.ready();
    expect(dataOf(rd.committedEntries)).toEqual(['a']);
    expect(rd.hardState?.commit).toBe(3);
    node.advance();
    expect(node.status().applied).toBe(3);
    expect(node.hasReady()).toBe(false);
  });

  it('drops proposals when there is no leader', () => {
    const c = new TestCluster([1n]);
    expect(() => c.get(1n).node.propose(text('x'))).toThrow(RaftError);
  });

  it('refuses a second ready() before advance()', () => {
    const c = new TestCluster([1n]);
    const node = c.get(1n).node;
    node.campaign();
    node.ready();
    expect(node.hasReady()).toBe(false);
    expect(() => node.ready()).toThrow(/before advance/);
  });

  it('restarts from persisted state and keeps its log and commit', () => {
    const c = new TestCluster([1n]);
    const m = c.get(1n);
    m.node.campaign();
    c.stabilize();
    for (const s of ['a', 'b', 'c']) m.node.propose(text(s));
    c.stabilize();
    expect(dataOf(m.applied)).toEqual(['a', 'b', 'c']);
    const restarted = new RawNode(makeConfig(1n, m.storage, { applied: m.applied[m.applied.length - 1]!.index }));
    const st = restarted.status();
    expect(st.commit).toBe(5);
    expect(st.applied).toBe(5);
    expect(restarted.hasReady()).toBe(false);
    restarted.campaign();
    expect(restarted.status().term).toBe(m.node.status().term + 1);
  });

  it('answers a read index at once once it has committed in its term', () => {
    const c = new TestCluster([1n]);
    const m = c.get(1n);
    m.node.campaign();
    m.node.readIndex(text('early')); // before the first commit of the term: held back
    c.processReady(m);
    expect(m.readStates).toHaveLength(0);
    c.stabilize();
    expect(m.readStates.map((r) => new TextDecoder().decode(r.requestContext))).toEqual(['early']);
    expect(m.readStates[0]!.index).toBe(2);
    m.node.readIndex(text('later'));
    c.stabilize();
    expect(m.readStates[1]!.index).toBe(2);
  });

  it('gives the same read index without a round only when nothing is unstable', () => {
    const c = new TestCluster([1n]);
    const m = c.get(1n);
    expect(m.node.singletonReadIndex()).toBeUndefined(); // follower
    m.node.campaign();
    expect(m.node.singletonReadIndex()).toBeUndefined(); // no entry of its term committed yet
    c.stabilize();
    expect(m.node.singletonReadIndex()).toBe(2);
    m.node.readIndex(text('round'));
    c.stabilize();
    expect(m.readStates.at(-1)!.index).toBe(2); // what a round answers
    m.node.propose(text('a'));
    expect(m.node.singletonReadIndex()).toBeUndefined(); // appended, not yet in the log on disk
    c.stabilize();
    expect(m.node.singletonReadIndex()).toBe(3);
  });

  it('gives no read index without a round to a leader with other voters', () => {
    const c = new TestCluster([1n, 2n, 3n]);
    c.get(1n).node.campaign();
    c.stabilize();
    const leader = c.leader()!;
    expect(leader.id).toBe(1n);
    expect(leader.node.singletonReadIndex()).toBeUndefined();
    expect(c.get(2n).node.singletonReadIndex()).toBeUndefined();
  });
});
