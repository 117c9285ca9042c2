// The "stream closed" notice: a stream the server ends on its own (stop, lost leader, a client that
// reads nothing, a throwing transport) tells its owner why, once, after everything it sent; an owner
// that closes its stream itself hears nothing. KeyWatch (lock/election waiters) ends at once on it.
import { describe, expect, it } from 'vitest';
import { EtcdError } from '../../../src/errors.js';
import { KeyWatch } from '../../../src/concurrency/key-watch.js';
import type { WatchStreamOptions } from '../../../src/watch/types.js';
import { WatchHub, type WatchHubOptions } from '../../../src/watch/watch-hub.js';
import { ManualTimer } from './manual-timer.js';
import { createRequest, MemoryHistory, RecordingClient } from './memory-history.js';

const electionTimeoutMs = 1000;

function setup(options: Partial<WatchHubOptions> = {}) {
  const history = new MemoryHistory();
  const timer = new ManualTimer();
  const leader = { present: true };
  const hub = new WatchHub({
    history, timer, leader: { hasLeader: () => leader.present, electionTimeoutMs }, ...options,
  });
  history.onWrite = (revision, events) => hub.notify(revision, events);
  const open = (streamOptions: Omit<WatchStreamOptions, 'onClosed'> = {}) => {
    const client = new RecordingClient();
    const reasons: Error[] = [];
    // What the owner had received when it was told: the notice must come after the last response.
    const responsesAtNotice: number[] = [];
    const stream = hub.openStream(client.send, {
      ...streamOptions,
      onClosed: (reason) => { reasons.push(reason); responsesAtNotice.push(client.responses.length); },
    });
    return { client, stream, reasons, responsesAtNotice };
  };
  return { history, timer, leader, hub, open };
}

function codeOf(error: Error | undefined): string | undefined {
  return error instanceof EtcdError ? error.errorName : undefined;
}

describe('WatchHub stream-closed notice', () => {
  it('close (server stop) tells every owner "etcdserver: server stopped" once, after its last response', () => {
    const { history, hub, open } = setup();
    const first = open();
    const second = open();
    first.stream.create(createRequest({ key: 'a' }));
    history.write([{ put: 'a' }]);
    hub.close();
    hub.close();
    expect(first.reasons.map(codeOf)).toEqual(['Stopped']);
    expect(first.reasons[0]!.message).toBe('etcdserver: server stopped');
    expect(first.responsesAtNotice).toEqual([2]);
    expect(second.reasons.map(codeOf)).toEqual(['Stopped']);
    expect(hub.streamCount).toBe(0);
  });

  it('refuses to open a stream after close, instead of one that would never hear anything', () => {
    const { hub, open } = setup();
    hub.close();
    expect(() => open()).toThrow('etcdserver: server stopped');
  });

  it('an owner that closes its own stream is not told anything, not even at server stop', () => {
    const { hub, open } = setup();
    const owner = open();
    owner.stream.close();
    hub.close();
    expect(owner.reasons).toEqual([]);
  });

  it('ends only require-leader streams, at the third leaderless election timeout, with "etcdserver: no leader"', () => {
    const { history, timer, leader, hub, open } = setup();
    const requiring = open({ requireLeader: true });
    const plain = open();
    requiring.stream.create(createRequest({ key: 'a' }));
    plain.stream.create(createRequest({ key: 'a' }));
    leader.present = false;
    timer.fireEvery(electionTimeoutMs);
    timer.fireEvery(electionTimeoutMs);
    expect(requiring.reasons).toEqual([]);
    // Still served while the count runs: a member without a leader still applies nothing new, but
    // the stream must not lose what was already notified.
    history.write([{ put: 'a' }]);
    expect(requiring.client.eventsOf(0)).toHaveLength(1);
    timer.fireEvery(electionTimeoutMs);
    expect(requiring.reasons.map((reason) => reason.message)).toEqual(['etcdserver: no leader']);
    expect(codeOf(requiring.reasons[0])).toBe('NoLeader');
    expect(plain.reasons).toEqual([]);
    expect(hub.streamCount).toBe(1);
    history.write([{ put: 'a' }]);
    expect(requiring.client.eventsOf(0)).toHaveLength(1);
    expect(plain.client.eventsOf(0)).toHaveLength(2);
  });

  it('keeps require-leader streams when the leader comes back before the third check', () => {
    const { timer, leader, hub, open } = setup();
    const requiring = open({ requireLeader: true });
    leader.present = false;
    timer.fireEvery(electionTimeoutMs);
    timer.fireEvery(electionTimeoutMs);
    leader.present = true;
    timer.fireEvery(electionTimeoutMs);
    leader.present = false;
    timer.fireEvery(electionTimeoutMs);
    expect(requiring.reasons).toEqual([]);
    expect(hub.streamCount).toBe(1);
  });

  it('close stops the leader checks', () => {
    const { timer, hub } = setup();
    expect(timer.callbacks.size).toBe(1);
    hub.close();
    expect(timer.callbacks.size).toBe(0);
  });

  it('a hub without a leader probe never ends require-leader streams', () => {
    const history = new MemoryHistory();
    const timer = new ManualTimer();
    const hub = new WatchHub({ history, timer });
    const reasons: Error[] = [];
    hub.openStream(new RecordingClient().send, { requireLeader: true, onClosed: (reason) => reasons.push(reason) });
    expect(timer.callbacks.size).toBe(0);
    expect(reasons).toEqual([]);
  });

  it('a client that reads nothing is cut off with a cancel, then told "etcdserver: too many requests"', () => {
    const { hub, open } = setup();
    const owner = open();
    owner.stream.create(createRequest({ key: 'a' }));
    owner.client.full = true;
    owner.stream.create(createRequest({ key: 'a' }));
    // Each create/cancel pair queues two answers that cannot be merged, unlike progress answers.
    for (let i = 0; i < 9000 && owner.reasons.length === 0; i++) {
      owner.stream.create(createRequest({ key: 'a' }));
      owner.stream.cancel(i + 2);
    }
    expect(owner.reasons.map(codeOf)).toEqual(['TooManyRequests']);
    expect(owner.client.responses.at(-1)).toMatchObject({ watchId: -1, canceled: true, cancelReason: 'etcdserver: too many requests' });
    expect(owner.responsesAtNotice).toEqual([owner.client.responses.length]);
    expect(hub.streamCount).toBe(0);
  });

  it('a transport that throws is reported with its own error', () => {
    const { history, hub } = setup();
    const reasons: Error[] = [];
    const stream = hub.openStream(() => { throw new Error('transport gone'); }, { onClosed: (reason) => reasons.push(reason) });
    stream.create(createRequest({ key: 'a' }));
    history.write([{ put: 'a' }]);
    expect(reasons.map((reason) => reason.message)).toEqual(['transport gone']);
    expect(hub.streamCount).toBe(0);
  });
});

describe('KeyWatch on a hub that ends its stream', () => {
  function keyWatchOn(hub: WatchHub, requireLeader: boolean) {
    const controller = new AbortController();
    // The server's openWatchStream passes the context's requireLeader to the hub the same way.
    const server = {
      openWatchStream: (send: Parameters<WatchHub['openStream']>[0], ctx?: { requireLeader?: boolean }, onClosed?: (reason: Error) => void) =>
        hub.openStream(send, { requireLeader: ctx?.requireLeader === true, onClosed }),
    };
    return new KeyWatch(server, { key: Buffer.from('lock/a'), rangeEnd: Buffer.alloc(0), startRevision: 0, signal: controller.signal, ctx: { requireLeader } });
  }

  it('a waiter blocked in next() is rejected at once with "etcdserver: server stopped" at server stop', async () => {
    const { hub } = setup();
    const watch = keyWatchOn(hub, false);
    const next = watch.next();
    hub.close();
    await expect(next).rejects.toThrow('etcdserver: server stopped');
    await expect(watch.next()).rejects.toThrow('etcdserver: server stopped');
  });

  it('events delivered before the stop are still read, then the stop', async () => {
    const { history, hub } = setup();
    const watch = keyWatchOn(hub, false);
    history.write([{ put: 'lock/a' }]);
    hub.close();
    const first = await watch.next();
    expect(first.events.map((event) => event.kv.key.toString())).toEqual(['lock/a']);
    await expect(watch.next()).rejects.toThrow('etcdserver: server stopped');
  });

  it('a require-leader waiter ends with "etcdserver: no leader" when the member loses its leader', async () => {
    const { timer, leader, hub } = setup();
    const watch = keyWatchOn(hub, true);
    const next = watch.next();
    leader.present = false;
    for (let i = 0; i < 3; i++) timer.fireEvery(electionTimeoutMs);
    await expect(next).rejects.toThrow('etcdserver: no leader');
  });
});
