// The Ready driver's message and answer order in a three-member cluster. On the leader: appends
// with entries leave before the log write, and the word that the write is done (LeaderPersisted)
// right after it, so that the followers commit on their own; nothing is answered before its own log
// write, except entries that were in its durable log before the Ready whose write is still open. On
// a follower: entries that come with their commit index are answered only once written, the ack of
// new entries leaves in their cycle, and, told the leader's write is done, it commits and answers
// without another message. With five members (no commit on a follower): the new commit index goes
// out in the leader's cycle that answers, before it applies; an append that only brings the commit
// index is not acked, and the answer to a heartbeat that brought one waits until the answers and
// watch events of that cycle have been written. And advanceTicks moves the election clock.
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { EntryType, MessageType, type Entry, type Message } from '../../../src/raft/types.js';
import { RaftNode } from '../../../src/server/raft-node.js';
import { TestCluster, text } from '../raft/helpers.js';

type Event =
  | { kind: 'send'; message: Message }
  | { kind: 'answered'; count: number }
  | { kind: 'answers-written' }
  | { kind: 'applied'; index: number }
  | { kind: 'log-write'; entries: number };

/** `save`: what the log write of a Ready with that many entries returns (default: done at once). */
function leaderWithDriver(save: (entries: number) => Promise<void> | undefined = () => undefined) {
  return memberWithDriver(1n, save);
}

/**
 * Member 1 leads; `driven` runs under a RaftNode, the others are stepped directly. Answers are
 * "written" as the servers do it: settled in a microtask after apply, their connection flushed
 * in a tick (EtcdServer.onApplied, the h2 connection).
 */
function memberWithDriver(driven: bigint, save: (entries: number) => Promise<void> | undefined = () => undefined, ids = [1n, 2n, 3n]) {
  const cluster = new TestCluster(ids);
  cluster.get(1n).node.campaign();
  cluster.stabilize();
  const member = cluster.get(driven);
  const others = ids.filter((id) => id !== driven);
  const events: Event[] = [];
  let appliedIndex = member.storage.lastIndex();
  const driver = new RaftNode({
    rawNode: member.node,
    memoryStorage: member.storage,
    backend: { write: async () => undefined, hold: () => undefined } as never,
    wal: {
      save: (records: { entries: Entry[] }[]) => {
        const entries = records.reduce((n, r) => n + r.entries.length, 0);
        events.push({ kind: 'log-write', entries });
        return save(entries);
      },
      close: async () => undefined,
    } as never,
    applier: {
      get appliedIndex() { return appliedIndex; },
      applyEntries: async (entries: Entry[]) => {
        appliedIndex = entries[entries.length - 1]!.index;
        events.push({ kind: 'applied', index: appliedIndex });
        return entries.filter((e) => e.data.length > 0).map((_, i) => ({ requestId: i + 1, outcome: {} }));
      },
    } as never,
    transport: {
      send: (messages: Message[]) => {
        for (const message of messages) {
          events.push({ kind: 'send', message });
          cluster.queue.push(message);
        }
      },
    },
    tickIntervalMs: 60_000,
    unsafeNoFsync: true,
    hooks: {
      onApplied: (results) => {
        if (results.length === 0) return;
        events.push({ kind: 'answered', count: results.length });
        queueMicrotask(() => process.nextTick(() => events.push({ kind: 'answers-written' })));
      },
      onReadStates: () => undefined,
      onSoftState: () => undefined,
      onFlushed: () => undefined,
      beforeWrite: () => undefined,
    },
    logger: pino({ level: 'silent' }),
  });
  /** Delivers queued messages: to the driven member through the driver, to the others directly. */
  const deliver = () => {
    const batch = cluster.queue;
    cluster.queue = [];
    for (const m of batch) (m.to === driven ? driver.step(m) : cluster.get(m.to).node.step(m));
    for (const id of others) while (cluster.processReady(cluster.get(id)));
  };
  return { driver, events, deliver, cluster };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** No answer while the held log write is open, over a few turns; one soon after it finishes. */
async function expectNoAnswerUntilWritten(events: Event[], finishWrite: () => void): Promise<void> {
  for (let i = 0; i < 5; i++) await turn();
  expect(events.some((e) => e.kind === 'answered')).toBe(false);
  finishWrite();
  for (let i = 0; i < 10 && !events.some((e) => e.kind === 'answered'); i++) await turn();
  expect(events.some((e) => e.kind === 'answered')).toBe(true);
}

describe('RaftNode message order', () => {
  it('sends appends with entries before the log write and word of the write right after it; an ack answers at once, with no append to announce the commit', async () => {
    const { driver, events, deliver } = leaderWithDriver();
    driver.start();
    driver.propose(text('put'));
    await turn();
    const firstWrite = events.findIndex((e) => e.kind === 'log-write' && e.entries > 0);
    const sent = (type: MessageType) => events.filter((e): e is Extract<Event, { kind: 'send' }> => e.kind === 'send' && e.message.type === type);
    expect(sent(MessageType.App).map((e) => e.message.to).sort()).toEqual([2n, 3n]);
    for (const append of sent(MessageType.App)) expect(events.indexOf(append)).toBeLessThan(firstWrite);
    // The followers may commit once their own write is done too: they need not hear from us again.
    expect(sent(MessageType.LeaderPersisted).map((e) => [e.message.to, e.message.index]).sort()).toEqual([[2n, 3], [3n, 3]]);
    for (const notice of sent(MessageType.LeaderPersisted)) expect(events.indexOf(notice)).toBeGreaterThan(firstWrite);

    events.length = 0;
    deliver(); // the appends and the word reach the followers, which persist, ack and commit
    deliver(); // the acks reach the driver: the entry commits and its request is answered
    for (let i = 0; i < 5 && !events.some((e) => e.kind === 'answered'); i++) await Promise.resolve();
    expect(events.findIndex((e) => e.kind === 'answered')).toBeGreaterThanOrEqual(0);
    expect(sent(MessageType.App)).toHaveLength(0);
    await driver.stop();
  });

  it('with five members, an ack answers at once, and the new commit index goes out in that same cycle', async () => {
    const { driver, events, deliver } = memberWithDriver(1n, undefined, [1n, 2n, 3n, 4n, 5n]);
    driver.start();
    driver.propose(text('put'));
    await turn();
    const firstWrite = events.findIndex((e) => e.kind === 'log-write' && e.entries > 0);
    const appends = events.filter((e): e is Extract<Event, { kind: 'send' }> => e.kind === 'send' && e.message.type === MessageType.App);
    expect(appends.map((e) => e.message.to).sort()).toEqual([2n, 3n, 4n, 5n]);
    for (const append of appends) {
      expect(append.message.entries.length).toBe(1);
      expect(events.indexOf(append)).toBeLessThan(firstWrite);
    }

    events.length = 0;
    deliver(); // the appends reach the followers, which persist them and ack
    deliver(); // the acks reach the driver: the entry commits and its request is answered
    // With nothing new to persist, an ack starts its cycle at once (a microtask, no setImmediate).
    for (let i = 0; i < 5 && !events.some((e) => e.kind === 'answered'); i++) await Promise.resolve();
    const answered = events.findIndex((e) => e.kind === 'answered');
    expect(answered).toBeGreaterThanOrEqual(0);
    // Followers learn the commit as the answer is given, not a turn later: their watchers and
    // serializable reads see the put as soon as the client does.
    const commitOnly = events.filter((e): e is Extract<Event, { kind: 'send' }> =>
      e.kind === 'send' && e.message.type === MessageType.App && e.message.entries.length === 0);
    expect(commitOnly.map((e) => e.message.to).sort()).toEqual([2n, 3n, 4n, 5n]);
    for (const e of commitOnly) expect(events.indexOf(e)).toBeLessThan(answered);
    // Before this member applies the entry, too: the followers apply in parallel with it.
    const applied = events.findIndex((e) => e.kind === 'applied');
    expect(applied).toBeGreaterThanOrEqual(0);
    for (const e of commitOnly) expect(events.indexOf(e)).toBeLessThan(applied);
    await driver.stop();
  });

  it('answers nothing before its own log write has finished, though both followers acked', async () => {
    // A Ready's cycle runs synchronously unless a step waits (raft-node.ts): the log write of the
    // proposal's Ready is held open here, and no later cycle may start, apply or answer meanwhile.
    let finishWrite: (() => void) | undefined;
    const { driver, events, deliver } = leaderWithDriver((entries) => (entries > 0 && finishWrite === undefined
      ? new Promise<void>((resolve) => { finishWrite = resolve; })
      : undefined));
    driver.start();
    driver.propose(text('put'));
    await turn();
    expect(finishWrite).toBeDefined();
    deliver(); // the appends (sent before the log write) reach the followers, which ack
    deliver(); // the acks reach the driver while its own write is still open
    await expectNoAnswerUntilWritten(events, finishWrite!);
    await driver.stop();
  });

  it('answers entries that were already in its durable log before the write of the new entries that came with their commit', async () => {
    // Under load a Ready both applies the last Ready's entries (committed meanwhile) and appends the
    // proposals that arrived during its write. The applied ones are on disk here and on a majority:
    // their answers need not wait for the new entries' write (a whole fsync at 1000 clients).
    let finishSecondWrite: (() => void) | undefined;
    let writesWithEntries = 0;
    const { driver, events, deliver } = leaderWithDriver((entries) => {
      if (entries === 0 || ++writesWithEntries < 2) return undefined;
      return new Promise<void>((resolve) => { finishSecondWrite = resolve; });
    });
    driver.start();
    driver.propose(text('first'));
    await turn();
    deliver(); // the appends reach the followers, which ack
    // In one turn: a second proposal, then the acks that commit the first.
    driver.propose(text('second'));
    deliver();
    for (let i = 0; i < 5 && finishSecondWrite === undefined; i++) await turn();
    expect(finishSecondWrite).toBeDefined();
    const writesOfEntries = events.filter((e) => e.kind === 'log-write' && e.entries === 1);
    expect(writesOfEntries).toHaveLength(2);
    const secondWrite = events.indexOf(writesOfEntries[1]!);
    const answered = events.findIndex((e) => e.kind === 'answered');
    expect(answered).toBeGreaterThanOrEqual(0);
    expect(answered).toBeLessThan(secondWrite);
    finishSecondWrite!();
    await driver.stop();
  });

  it('on a follower, answers nothing of entries that arrive with their commit index before writing them', async () => {
    let finishWrite: (() => void) | undefined;
    const { driver, events, cluster } = memberWithDriver(2n, (entries) => (entries > 0
      ? new Promise<void>((resolve) => { finishWrite = resolve; })
      : undefined));
    driver.start();
    const follower = cluster.get(2n);
    const lastIndex = follower.storage.lastIndex();
    const term = follower.storage.term(lastIndex);
    const entry: Entry = { term, index: lastIndex + 1, type: EntryType.Normal, data: text('put') };
    // An append that brings an entry and the commit index that covers it, as after a catch-up.
    driver.step({
      type: MessageType.App, from: 1n, to: 2n, term, logTerm: term, index: lastIndex, entries: [entry],
      commit: lastIndex + 1, reject: false, rejectHint: 0, selfCommit: false, context: new Uint8Array(0),
    });
    for (let i = 0; i < 5 && finishWrite === undefined; i++) await turn();
    expect(finishWrite).toBeDefined();
    expect(events.some((e) => e.kind === 'applied' && e.index === lastIndex + 1)).toBe(true);
    await expectNoAnswerUntilWritten(events, finishWrite!);
    await driver.stop();
  });

  it('on a follower of three, acks new entries in their cycle and, told the leader\'s write is done, commits and answers with no further message', async () => {
    const { driver, events, deliver, cluster } = memberWithDriver(2n);
    driver.start();
    const leader = cluster.get(1n);
    driver.propose(text('put'));
    await turn();
    deliver(); // the forwarded proposal reaches the leader, which appends, writes and says so
    while (cluster.processReady(leader));
    expect(cluster.queue.filter((m) => m.to === 2n).map((m) => m.type)).toEqual([MessageType.App, MessageType.LeaderPersisted]);
    events.length = 0;
    deliver(); // the append and the word reach the driven follower; the acks reach nobody yet
    for (let i = 0; i < 5 && !events.some((e) => e.kind === 'answered'); i++) await turn();
    const sent = events.filter((e): e is Extract<Event, { kind: 'send' }> => e.kind === 'send');
    expect(sent.map((e) => [e.message.type, e.message.selfCommit])).toEqual([[MessageType.AppResp, true]]);
    const answered = events.findIndex((e) => e.kind === 'answered');
    expect(answered).toBeGreaterThan(events.indexOf(sent[0]!));
    expect(leader.node.status().commit).toBeLessThan(driver.rawNode.committedIndex);
    await driver.stop();
  });

  it('on a follower of five, acks new entries in their cycle; a commit index in an append is not acked, in a heartbeat its answer leaves after the answers', async () => {
    const { driver, events, deliver, cluster } = memberWithDriver(2n, undefined, [1n, 2n, 3n, 4n, 5n]);
    driver.start();
    const leader = cluster.get(1n);
    const acks = () => events.filter((e): e is Extract<Event, { kind: 'send' }> => e.kind === 'send' && e.message.type === MessageType.AppResp);
    /** A put proposed through this follower, acked: its answer waits for this member's apply. */
    const putUntilCommitted = async () => {
      driver.propose(text('put'));
      await turn();
      deliver(); // the forwarded proposal reaches the leader, which appends and sends it out
      while (cluster.processReady(leader));
      events.length = 0;
      deliver(); // the append reaches the driven follower
      await turn();
      // The ack of new entries is what commits them: it leaves in the cycle that wrote them.
      expect(acks()).toHaveLength(1);
      const writeAt = events.findIndex((e) => e.kind === 'log-write' && e.entries === 1);
      expect(writeAt).toBeGreaterThanOrEqual(0);
      expect(events.indexOf(acks()[0]!)).toBeGreaterThan(writeAt);
      deliver(); // the ack reaches the leader, which commits
      while (cluster.processReady(leader));
      events.length = 0;
    };

    await putUntilCommitted();
    deliver(); // the commit index reaches the follower in an append without entries: it applies and answers
    await turn();
    const answered = events.findIndex((e) => e.kind === 'answered');
    expect(answered).toBeGreaterThanOrEqual(0);
    expect(events.findIndex((e) => e.kind === 'answers-written')).toBeGreaterThan(answered);
    // It had acked that index already: the leader would learn nothing (raft.ts handleAppendEntries).
    expect(acks()).toHaveLength(0);

    await putUntilCommitted();
    // This time the commit index comes with a heartbeat: its answer waits for nothing on the leader,
    // so it leaves behind the answers' writes, still within the same turn of the event loop.
    cluster.queue = cluster.queue.filter((m) => !(m.type === MessageType.App && m.to === 2n));
    leader.node.tick();
    while (cluster.processReady(leader));
    cluster.queue = cluster.queue.filter((m) => m.to === 2n);
    expect(cluster.queue.map((m) => [m.type, m.commit])).toEqual([[MessageType.Heartbeat, leader.storage.lastIndex()]]);
    deliver();
    await turn();
    const answeredAgain = events.findIndex((e) => e.kind === 'answered');
    const written = events.findIndex((e) => e.kind === 'answers-written');
    expect(answeredAgain).toBeGreaterThanOrEqual(0);
    expect(written).toBeGreaterThan(answeredAgain);
    const heartbeatAnswers = events.filter((e) => e.kind === 'send' && e.message.type === MessageType.HeartbeatResp);
    expect(heartbeatAnswers).toHaveLength(1);
    expect(events.indexOf(heartbeatAnswers[0]!)).toBeGreaterThan(written);
    await driver.stop();
  });
});

describe('RaftNode.advanceTicks (the initial election tick advance)', () => {
  const campaigned = (events: Event[]) => events.some((event) => event.kind === 'send'
    && (event.message.type === MessageType.Vote || event.message.type === MessageType.PreVote));

  it('moves the election clock: a follower that hears no leader campaigns within 2 to 11 more ticks after an advance of 8', async () => {
    // Election timeout 10 ticks, randomized in [10, 20): without the advance 9 ticks are never enough.
    const tickOnce = (member: ReturnType<typeof memberWithDriver>) => {
      member.driver.rawNode.tick();
      member.driver.kick();
    };
    const fresh = memberWithDriver(2n);
    for (let tick = 0; tick < 9; tick++) tickOnce(fresh);
    await turn();
    expect(campaigned(fresh.events)).toBe(false);

    const advanced = memberWithDriver(2n);
    advanced.driver.advanceTicks(8);
    await turn();
    expect(campaigned(advanced.events)).toBe(false);
    // 8 + 11 ticks reach any randomized timeout; 11 alone would not.
    for (let tick = 0; tick < 11 && !campaigned(advanced.events); tick++) {
      tickOnce(advanced);
      await turn();
    }
    expect(campaigned(advanced.events)).toBe(true);
  });
});
