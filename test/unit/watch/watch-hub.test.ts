// WatchHub: etcd's watch stream semantics, one behaviour per test.
import { describe, expect, it } from 'vitest';
import { EventType } from '../../../src/mvcc/types.js';
import { WatchFilter } from '../../../src/watch/types.js';
import { WatchHub, type WatchHubOptions } from '../../../src/watch/watch-hub.js';
import { fragmentResponse, watchResponseBytes } from '../../../src/watch/response-size.js';
import { ManualTimer } from './manual-timer.js';
import { createRequest, MemoryHistory, RecordingClient, settle } from './memory-history.js';

function setup(options: Partial<WatchHubOptions> = {}) {
  const history = new MemoryHistory();
  const hub = new WatchHub({ history, ...options });
  history.onWrite = (revision, events) => hub.notify(revision, events);
  const client = new RecordingClient();
  const stream = hub.openStream(client.send);
  return { history, hub, client, stream };
}

describe('WatchHub create', () => {
  it('assigns ids from 0, sends created first, then live events with the write revision', () => {
    const { history, client, stream } = setup();
    stream.create(createRequest({ key: 'a' }));
    stream.create(createRequest({ key: 'b' }));
    history.write([{ put: 'a' }]);
    history.write([{ put: 'b' }, { put: 'a' }]);
    const seen = client.responses.map((r) => [r.watchId, r.created, r.revision, r.events.map((e) => e.kv.key.toString())]);
    // Order across watchers of one revision is free; within a watcher it is revision order.
    expect(seen.slice(0, 3)).toEqual([[0, true, 1, []], [1, true, 1, []], [0, false, 2, ['a']]]);
    expect(seen.slice(3).sort()).toEqual([[0, false, 3, ['a']], [1, false, 3, ['b']]]);
  });

  it('refuses a duplicate client-chosen id with watch id -1, and auto ids skip chosen ones', () => {
    const { client, stream } = setup();
    stream.create(createRequest({ key: 'a', watchId: 1 }));
    stream.create(createRequest({ key: 'a', watchId: 1 }));
    stream.create(createRequest({ key: 'a' }));
    stream.create(createRequest({ key: 'a' }));
    expect(client.responses.map((r) => [r.watchId, r.created, r.canceled, r.cancelReason])).toEqual([
      [1, true, false, ''],
      [-1, true, true, 'mvcc: duplicate watch ID provided on the WatchStream'],
      [0, true, false, ''],
      [2, true, false, ''],
    ]);
  });

  it('treats an empty key as "\\0", rangeEnd "\\0" as every key >= key, and refuses empty ranges', () => {
    const { history, client, stream } = setup();
    stream.create(createRequest({ key: '' }));
    stream.create(createRequest({ key: 'm', rangeEnd: Buffer.from([0]) }));
    stream.create(createRequest({ key: 'b', rangeEnd: 'a' }));
    stream.create(createRequest({ key: 'b', rangeEnd: 'b' }));
    expect(client.responses.slice(2).map((r) => [r.watchId, r.created, r.canceled, r.cancelReason])).toEqual([
      [-1, true, true, 'mvcc: watcher range is empty'],
      [-1, true, true, 'mvcc: watcher range is empty'],
    ]);
    history.write([{ put: '\0' }, { put: 'a' }, { put: 'm' }, { put: 'zz' }]);
    expect(client.eventsOf(0).map((e) => e.key)).toEqual(['\0']);
    expect(client.eventsOf(1).map((e) => e.key)).toEqual(['m', 'zz']);
  });

  it('applies prefix ranges, NOPUT/NODELETE filters, and strips prevKv unless asked', () => {
    const { history, client, stream } = setup();
    stream.create(createRequest({ key: 'p/', rangeEnd: 'p0', filters: [WatchFilter.NODELETE] }));
    stream.create(createRequest({ key: 'p/', rangeEnd: 'p0', filters: [WatchFilter.NOPUT], prevKv: true }));
    stream.create(createRequest({ key: 'p/', rangeEnd: 'p0' }));
    history.write([{ put: 'p/1' }, { put: 'q' }]);
    history.write([{ put: 'p/1' }]);
    history.write([{ del: 'p/1' }]);
    expect(client.eventsOf(0).map((e) => e.type)).toEqual([EventType.PUT, EventType.PUT]);
    expect(client.eventsOf(1).map((e) => [e.type, e.revision])).toEqual([[EventType.DELETE, 4]]);
    const deleteToPrevKv = client.responses.find((r) => r.watchId === 1 && r.events.length > 0);
    expect(deleteToPrevKv?.events[0].prevKv?.modRevision).toBe(3);
    const plain = client.responses.filter((r) => r.watchId === 2).flatMap((r) => r.events);
    expect(plain).toHaveLength(3);
    expect(plain.every((e) => e.prevKv === undefined)).toBe(true);
  });

  it('strips prevKv without reading it when the event says it has one, as a stored event that decodes on read does', () => {
    const { hub, client, stream } = setup();
    stream.create(createRequest({ key: 'a' }));
    const revision = hub.notifiedRevision + 1;
    const kv = { key: Buffer.from('a'), createRevision: 1, modRevision: revision, version: 2, value: Buffer.from('new'), lease: 0n };
    let prevKvReads = 0;
    const event = {
      type: EventType.PUT, kv, hasPrevKv: true,
      get prevKv() { prevKvReads++; return { ...kv, modRevision: 0, value: Buffer.from('old') }; },
    };
    hub.notify(revision, [event]);
    const sent = client.responses.filter((r) => r.events.length > 0);
    expect(sent).toHaveLength(1);
    expect(sent[0].events[0].kv.value.toString()).toBe('new');
    expect(sent[0].events[0].prevKv).toBeUndefined();
    // A decoded prevKv would stay with the event in the history cache, for no watcher.
    expect(prevKvReads).toBe(0);

    stream.create(createRequest({ key: 'a', prevKv: true }));
    hub.notify(revision + 1, [{ ...event, kv: { ...kv, modRevision: revision + 1 }, get prevKv() { return { ...kv, value: Buffer.from('old') }; } }]);
    expect(client.responses.at(-1)?.events[0].prevKv?.value.toString()).toBe('old');
  });

  it('waits for a future start revision', () => {
    const { history, client, stream } = setup();
    stream.create(createRequest({ key: 'a', startRevision: 4 }));
    for (let i = 0; i < 4; i++) history.write([{ put: 'a' }]);
    expect(client.eventsOf(0).map((e) => e.revision)).toEqual([4, 5]);
  });
});

describe('WatchHub catch-up', () => {
  it('catches up from history in batches of whole revisions, then goes live without gap or duplicate', async () => {
    const { history, client, stream } = setup({ catchUpBatchEventsMax: 3 });
    history.write([{ put: 'a' }]); // 2
    history.write([{ put: 'a' }, { put: 'b' }]); // 3
    history.write([{ put: 'a' }, { put: 'b' }, { put: 'c' }, { put: 'd' }]); // 4: larger than a batch
    history.write([{ put: 'b' }]); // 5
    let release: () => void = () => undefined;
    history.readGate = () => new Promise<void>((resolve) => (release = resolve));
    stream.create(createRequest({ key: 'a', rangeEnd: 'z', startRevision: 2 }));
    history.write([{ put: 'c' }]); // 6, arrives while the first read is held
    for (let i = 0; i < 10; i++) {
      release();
      await settle(2);
    }
    history.readGate = undefined;
    await settle();
    history.write([{ put: 'd' }]); // 7, live
    const revisions = client.eventsOf(0).map((e) => e.revision);
    expect(revisions).toEqual([2, 3, 3, 4, 4, 4, 4, 5, 6, 7]);
    // every revision lies within one response
    const responses = client.responses.filter((r) => r.events.length > 0);
    const revisionResponses = new Map<number, Set<number>>();
    responses.forEach((r, index) => r.events.forEach((e) => {
      const set = revisionResponses.get(e.kv.modRevision) ?? new Set<number>();
      set.add(index);
      revisionResponses.set(e.kv.modRevision, set);
    }));
    expect([...revisionResponses.values()].every((set) => set.size === 1)).toBe(true);
  });

  it('a start revision below the compact revision gets created, then a compacted cancel', () => {
    const { history, client, stream, hub } = setup();
    for (let i = 0; i < 5; i++) history.write([{ put: 'a' }]);
    history.compact(4);
    stream.create(createRequest({ key: 'a', startRevision: 3 }));
    expect(client.responses.map((r) => [r.watchId, r.created, r.canceled, r.compactRevision])).toEqual([
      [0, true, false, 0],
      [0, false, true, 4],
    ]);
    expect(hub.watcherCount).toBe(0);
    stream.create(createRequest({ key: 'a', startRevision: 4 }));
    return settle().then(() => expect(client.eventsOf(1).map((e) => e.revision)).toEqual([4, 5, 6]));
  });

  it('a compaction during catch-up ends in a compacted cancel', async () => {
    const { history, client, stream } = setup({ catchUpBatchEventsMax: 1 });
    for (let i = 0; i < 5; i++) history.write([{ put: 'a' }]);
    let release: () => void = () => undefined;
    history.readGate = () => new Promise<void>((resolve) => (release = resolve));
    stream.create(createRequest({ key: 'a', startRevision: 2 }));
    await settle(2);
    history.compact(5);
    release();
    await settle();
    release();
    await settle();
    const last = client.responses[client.responses.length - 1];
    expect(last).toMatchObject({ watchId: 0, canceled: true, compactRevision: 5 });
  });
});

describe('WatchHub cancel and progress', () => {
  it('cancel answers canceled and stops events; an unknown id gets no answer', () => {
    const { history, client, stream } = setup();
    stream.create(createRequest({ key: 'a' }));
    stream.cancel(0);
    stream.cancel(7);
    history.write([{ put: 'a' }]);
    expect(client.responses.map((r) => [r.watchId, r.created, r.canceled])).toEqual([[0, true, false], [0, false, true]]);
  });

  it('a progress request is answered with watch id -1 and the current revision, after catch-up if needed', async () => {
    const { history, client, stream } = setup();
    stream.progress();
    expect(client.responses).toMatchObject([{ watchId: -1, revision: 1, events: [] }]);
    history.write([{ put: 'a' }]);
    history.write([{ put: 'a' }]);
    stream.create(createRequest({ key: 'a', startRevision: 2 }));
    stream.progress();
    expect(client.responses.filter((r) => r.watchId === -1)).toHaveLength(1);
    await settle();
    const tail = client.responses.slice(-2);
    expect(tail[0].events.map((e) => e.kv.modRevision)).toEqual([2, 3]);
    expect(tail[1]).toMatchObject({ watchId: -1, revision: 3, events: [] });
  });

  it('progress notify sends an empty response per interval to synced watchers that got no events', () => {
    const timer = new ManualTimer();
    const { history, client, stream } = setup({ timer });
    stream.create(createRequest({ key: 'a', progressNotify: true }));
    stream.create(createRequest({ key: 'b' }));
    timer.fire();
    history.write([{ put: 'a' }]);
    timer.fire(); // elided: events went out during this interval
    timer.fire();
    expect(client.responses.slice(2).map((r) => [r.watchId, r.revision, r.events.length])).toEqual([
      [0, 1, 0],
      [0, 2, 1],
      [0, 2, 0],
    ]);
    stream.close();
    expect(timer.callbacks.size).toBe(0);
  });
});

describe('WatchHub fragments', () => {
  it('splits a response over maxRequestBytes when asked, keeping event order', () => {
    const maxRequestBytes = 300;
    const { history, client, stream } = setup({ maxRequestBytes });
    stream.create(createRequest({ key: 'k', rangeEnd: 'l', fragment: true }));
    stream.create(createRequest({ key: 'k', rangeEnd: 'l' }));
    const ops = Array.from({ length: 8 }, (_, i) => ({ put: `k${i}`, value: 'x'.repeat(60) }));
    history.write(ops);
    const fragments = client.responses.filter((r) => r.watchId === 0 && r.events.length > 0);
    expect(fragments.length).toBeGreaterThan(1);
    expect(fragments.map((r) => r.fragment)).toEqual([...fragments.slice(1).map(() => true), false]);
    expect(fragments.every((r) => r.events.length === 1 || watchResponseBytes(r) < maxRequestBytes)).toBe(true);
    expect(fragments.flatMap((r) => r.events.map((e) => e.kv.key.toString()))).toEqual(ops.map((o) => o.put));
    expect(client.responses.filter((r) => r.watchId === 1 && r.events.length > 0)).toHaveLength(1);
  });

  it('never splits a single event', () => {
    const { history, client, stream } = setup({ maxRequestBytes: 10 });
    stream.create(createRequest({ key: 'k', fragment: true }));
    history.write([{ put: 'k', value: 'x'.repeat(100) }]);
    expect(client.responses[1]).toMatchObject({ fragment: false });
    expect(fragmentResponse(client.responses[1], 10)).toHaveLength(1);
  });
});

/**
 * A full transport holds responses back; by default the stream is then paced (it sends on a timer
 * tick while congested). Both ways must keep every guarantee, so the slow-stream tests run in both;
 * `drain` is what the transport does once it can take more, and what the pacing tick then does.
 */
const deliveryModes = [
  { mode: 'sending on every drain', options: { congestedFlushIntervalMs: 0 } as Partial<WatchHubOptions> },
  { mode: 'paced while congested', options: {} as Partial<WatchHubOptions> },
];

describe.each(deliveryModes)('WatchHub slow streams ($mode)', ({ options }) => {
  function slowSetup(extra: Partial<WatchHubOptions> = {}) {
    const timer = new ManualTimer();
    const parts = setup({ timer, ...options, ...extra });
    const drain = (): void => {
      parts.client.full = false;
      parts.stream.resume();
      timer.fireEvery(10);
    };
    /** Drains until nothing is held back and every catch-up round ran (one per tick when paced). */
    const drainFully = async (): Promise<void> => {
      for (let i = 0; i < 20; i++) {
        drain();
        await settle(5);
      }
    };
    return { ...parts, timer, drain, drainFully };
  }

  it('holds back a full stream without blocking notify or other streams, then drains in order', () => {
    const { history, hub, client, stream, drain } = slowSetup();
    const other = new RecordingClient();
    hub.openStream(other.send).create(createRequest({ key: 'a' }));
    stream.create(createRequest({ key: 'a' }));
    client.full = true;
    history.write([{ put: 'a' }]); // accepted, but the buffer is now full
    history.write([{ put: 'a' }]);
    history.write([{ put: 'a' }]);
    expect(client.eventsOf(0).map((e) => e.revision)).toEqual([2]);
    expect(other.eventsOf(0).map((e) => e.revision)).toEqual([2, 3, 4]);
    drain();
    expect(client.eventsOf(0).map((e) => e.revision)).toEqual([2, 3, 4]);
  });

  it('counts events as they reach the transport, each watcher its own copy (etcd_debugging_mvcc_events_total)', () => {
    const { history, hub, client, stream, drain } = slowSetup();
    const eventsReceived = () => client.responses.reduce((sum, r) => sum + r.events.length, 0);
    stream.create(createRequest({ key: 'a' }));
    stream.create(createRequest({ key: 'a' }));
    history.write([{ put: 'a' }]);
    expect(hub.eventsSent).toBe(2);
    client.full = true;
    history.write([{ put: 'a' }, { put: 'a' }]);
    history.write([{ put: 'a' }]);
    // Held-back events are not sent yet.
    expect(hub.eventsSent).toBe(eventsReceived());
    expect(hub.eventsSent).toBeLessThan(8);
    drain();
    expect([hub.eventsSent, eventsReceived()]).toEqual([8, 8]);
  });

  it("each watcher's held-back revisions go out in one response, whole and in order, with the newest revision", () => {
    const { history, client, stream, drain } = slowSetup();
    stream.create(createRequest({ key: 'a' }));
    stream.create(createRequest({ key: 'a', prevKv: true }));
    client.full = true;
    history.write([{ put: 'a' }]);
    history.write([{ put: 'a' }, { put: 'b' }]);
    history.write([{ put: 'b' }]);
    history.write([{ put: 'a' }, { put: 'a' }]);
    const held = client.responses.length;
    drain();
    const sent = client.responses.slice(held);
    // Watcher 0 took revision 2 and filled the transport: watcher 1's revision 2 waits with the rest.
    expect(sent.map((r) => [r.watchId, r.revision, r.events.map((e) => e.kv.modRevision)])).toEqual([
      [1, 5, [2, 3, 5, 5]],
      [0, 5, [3, 5, 5]],
    ]);
    expect(sent[0].events.slice(1).every((e) => e.prevKv !== undefined)).toBe(true);
    expect(sent[1].events.every((e) => e.prevKv === undefined)).toBe(true);
  });

  it('held-back events never move ahead of a progress response, nor grow a response past maxRequestBytes', () => {
    const { history, client, stream, drain } = slowSetup({ maxRequestBytes: 120 });
    stream.create(createRequest({ key: 'a' }));
    client.full = true;
    history.write([{ put: 'a' }]); // sent; the transport is now full
    history.write([{ put: 'a' }]);
    stream.progress();
    history.write([{ put: 'a' }]);
    history.write([{ put: 'a' }]);
    history.write([{ put: 'a', value: 'x'.repeat(80) }]);
    const held = client.responses.length;
    drain();
    expect(client.responses.slice(held).map((r) => [r.watchId, r.revision, r.events.map((e) => e.kv.modRevision)])).toEqual([
      [0, 3, [3]],
      [-1, 3, []],
      [0, 5, [4, 5]],
      [0, 6, [6]],
    ]);
  });

  it('fragmenting watchers keep their fragments: their responses are not joined', () => {
    const { history, client, stream, drain } = slowSetup();
    stream.create(createRequest({ key: 'a', fragment: true }));
    client.full = true;
    history.write([{ put: 'a' }]);
    history.write([{ put: 'a' }]);
    history.write([{ put: 'a' }]);
    drain();
    expect(client.responses.filter((r) => r.events.length > 0).map((r) => r.events.length)).toEqual([1, 1, 1]);
  });

  it('beyond the queue maximum a watcher catches up from history after resume, missing nothing', async () => {
    const { history, hub, client, stream, drainFully } = slowSetup({ streamQueuedEventsMax: 2 });
    stream.create(createRequest({ key: 'a', rangeEnd: 'c' }));
    client.full = true;
    for (let i = 0; i < 10; i++) history.write([{ put: i % 2 === 0 ? 'a' : 'b' }]);
    expect(hub.unsyncedWatcherCount).toBe(1);
    expect(client.responses.length).toBe(2); // created + the revision that filled the buffer
    await drainFully();
    history.write([{ put: 'a' }]);
    await drainFully();
    expect(client.eventsOf(0).map((e) => e.revision)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(hub.unsyncedWatcherCount).toBe(0);
  });

  it('a slow watcher whose history was compacted away gets a compacted cancel', async () => {
    const { history, client, stream, drainFully } = slowSetup({ streamQueuedEventsMax: 1 });
    stream.create(createRequest({ key: 'a' }));
    client.full = true;
    for (let i = 0; i < 6; i++) history.write([{ put: 'a' }]);
    history.compact(6);
    await drainFully();
    expect(client.responses[client.responses.length - 1]).toMatchObject({ watchId: 0, canceled: true, compactRevision: 6 });
    const delivered = client.eventsOf(0).map((e) => e.revision);
    expect(delivered).toEqual([2, 3]);
  });

  it('repeated progress requests on a full stream share one answer at the latest revision', () => {
    const { history, client, stream, drain } = slowSetup();
    stream.create(createRequest({ key: 'a' }));
    client.full = true;
    history.write([{ put: 'a' }]);
    for (let i = 0; i < 100; i++) {
      stream.progress();
      history.write([{ put: 'b' }]);
    }
    stream.progress();
    drain();
    expect(client.responses.filter((r) => r.watchId === -1).map((r) => r.revision)).toEqual([102]);
  });

  it('a client that never reads while sending requests is cut off with a cancel, not an unbounded queue', () => {
    const { hub, client, stream } = slowSetup();
    stream.create(createRequest({ key: 'a' }));
    client.full = true;
    stream.create(createRequest({ key: 'a' })); // accepted; the transport is now full
    for (let i = 0; i < 5000; i++) {
      stream.create(createRequest({ key: 'a' }));
      stream.cancel(i + 2);
    }
    expect(hub.streamCount).toBe(0);
    const last = client.responses[client.responses.length - 1];
    expect(last).toMatchObject({ watchId: -1, canceled: true, cancelReason: 'etcdserver: too many requests' });
    expect(client.responses.length).toBe(3);
  });

  it('a transport that throws closes its stream and does not disturb notify', () => {
    const { history, hub, stream } = slowSetup();
    stream.create(createRequest({ key: 'a' }));
    hub.openStream(() => { throw new Error('gone'); }).create(createRequest({ key: 'a' }));
    history.write([{ put: 'a' }]);
    expect(hub.streamCount).toBe(1);
  });
});

describe('WatchHub pacing of congested streams', () => {
  it('a stream that was never full sends every response at once, with no timer', () => {
    const timer = new ManualTimer();
    const { history, client, stream } = setup({ timer });
    stream.create(createRequest({ key: 'a' }));
    for (let i = 0; i < 5; i++) history.write([{ put: 'a' }]);
    expect(client.eventsOf(0).map((e) => e.revision)).toEqual([2, 3, 4, 5, 6]);
    expect(client.responses).toHaveLength(6);
    expect(timer.callbacks.size).toBe(0);
  });

  it('after a full transport, events wait for the tick even once it drained; quiet ticks end the pacing', () => {
    const timer = new ManualTimer();
    const { history, client, stream } = setup({ timer, congestedFlushIntervalMs: 10, congestionQuietMs: 30 });
    stream.create(createRequest({ key: 'a' }));
    client.full = true;
    history.write([{ put: 'a' }]); // sent; the transport is now full
    expect(timer.callbacks.size).toBe(1);
    client.full = false;
    stream.resume();
    history.write([{ put: 'a' }]);
    history.write([{ put: 'a' }]);
    expect(client.eventsOf(0).map((e) => e.revision)).toEqual([2]);
    timer.fireEvery(10);
    expect(client.responses.slice(2).map((r) => r.events.map((e) => e.kv.modRevision))).toEqual([[3, 4]]);
    timer.fireEvery(10);
    timer.fireEvery(10);
    expect(timer.callbacks.size).toBe(0);
    history.write([{ put: 'a' }]);
    expect(client.eventsOf(0).map((e) => e.revision)).toEqual([2, 3, 4, 5]);
  });

  it('a full transport during pacing restarts the quiet count; close stops the timer', () => {
    const timer = new ManualTimer();
    const { history, client, stream } = setup({ timer, congestedFlushIntervalMs: 10, congestionQuietMs: 20 });
    stream.create(createRequest({ key: 'a' }));
    client.full = true;
    history.write([{ put: 'a' }]);
    timer.fireEvery(10); // still full: nothing sent
    history.write([{ put: 'a' }]);
    client.full = false;
    stream.resume();
    client.full = true;
    timer.fireEvery(10); // sends revision 3 into a full transport again
    expect(client.eventsOf(0).map((e) => e.revision)).toEqual([2, 3]);
    client.full = false;
    stream.resume();
    timer.fireEvery(10);
    expect(timer.callbacks.size).toBe(1);
    stream.close();
    expect(timer.callbacks.size).toBe(0);
  });
});

describe('WatchHub pacing of streams offered many responses', () => {
  /** Each response of `watchId` as the list of revisions it carries. */
  const responsesOf = (client: RecordingClient, watchId: number) =>
    client.responses.filter((r) => r.watchId === watchId && !r.created).map((r) => r.events.map((e) => e.kv.modRevision));

  it('paces a stream offered more responses in one interval than the limit: one response per watcher per tick, the first at once', () => {
    const timer = new ManualTimer();
    const { history, client, stream } = setup({ timer, congestedFlushIntervalMs: 10, congestionQuietMs: 20, congestionResponsesPerTick: 3 });
    stream.create(createRequest({ key: 'a' }));
    stream.create(createRequest({ key: 'a' }));
    history.write([{ put: 'a' }]); // 2 responses offered
    expect(timer.callbacks.size).toBe(0);
    history.write([{ put: 'a' }]); // the 3rd within the interval: paced, yet revision 3 is the watchers' first response in it
    expect(timer.callbacks.size).toBe(1);
    history.write([{ put: 'a' }]);
    history.write([{ put: 'a' }]);
    expect(responsesOf(client, 0)).toEqual([[2], [3]]);
    timer.fireEvery(10);
    expect(responsesOf(client, 0)).toEqual([[2], [3], [4, 5]]);
    expect(responsesOf(client, 1)).toEqual([[2], [3], [4, 5]]);
    // The tick's response was this interval's: later revisions wait for the next tick.
    history.write([{ put: 'a' }]);
    expect(responsesOf(client, 0)).toHaveLength(3);
    timer.fireEvery(10);
    expect(responsesOf(client, 0)).toEqual([[2], [3], [4, 5], [6]]);
  });

  it('sends a burst of one revision whole at once, though the stream is paced in its middle', () => {
    const timer = new ManualTimer();
    const { history, client, stream } = setup({ timer, congestedFlushIntervalMs: 10, congestionResponsesPerTick: 3 });
    for (let i = 0; i < 6; i++) stream.create(createRequest({ key: 'a' }));
    history.write([{ put: 'a' }]);
    expect(timer.callbacks.size).toBe(1);
    for (let id = 0; id < 6; id++) expect(responsesOf(client, id)).toEqual([[2]]);
  });

  it('busy ticks keep the pacing, quiet ones end it; responses spread wider than the limit never start it', () => {
    const timer = new ManualTimer();
    const { history, client, stream } = setup({ timer, congestedFlushIntervalMs: 10, congestionQuietMs: 20, congestionResponsesPerTick: 2 });
    stream.create(createRequest({ key: 'a' }));
    for (let i = 0; i < 3; i++) history.write([{ put: 'a' }]); // revisions 2..4: paced at 3
    for (let i = 0; i < 3; i++) history.write([{ put: 'a' }]); // 5..7 offered in this interval
    timer.fireEvery(10); // busy: 4 offered since the pacing began
    timer.fireEvery(10); // quiet 1
    expect(timer.callbacks.size).toBe(1);
    timer.fireEvery(10); // quiet 2 = congestionQuietMs: sending at once again
    expect(timer.callbacks.size).toBe(0);
    expect(responsesOf(client, 0)).toEqual([[2], [3], [4, 5, 6, 7]]);
    // Two responses per interval at most (the limit): each goes at once.
    for (let i = 0; i < 6; i++) {
      timer.nowMs += 6;
      history.write([{ put: 'a' }]);
    }
    expect(timer.callbacks.size).toBe(0);
    expect(responsesOf(client, 0).slice(3)).toEqual([[8], [9], [10], [11], [12], [13]]);
  });
});

describe('WatchHub notify checks', () => {
  it('close ends every stream', () => {
    const { hub, history, client, stream } = setup();
    stream.create(createRequest({ key: 'a' }));
    hub.close();
    history.write([{ put: 'a' }]);
    expect(hub.streamCount).toBe(0);
    expect(client.responses).toHaveLength(1);
  });

  it('rejects revisions that do not grow and, with a watcher, events of another revision', () => {
    const { hub, history, stream } = setup();
    // Events are checked once someone watches: until then nothing reads them (see notify).
    stream.create(createRequest({ key: 'zzz' }));
    history.write([{ put: 'a' }]);
    expect(() => hub.notify(2, [])).toThrow(/must grow/);
    const event = history.log[0];
    expect(() => hub.notify(5, [event])).toThrow(/notified as revision 5/);
  });
});

describe('WatchHub after a snapshot install', () => {
  it('catches every watcher up on the revisions it never saw notified, without duplicates', async () => {
    const { history, hub, client, stream } = setup();
    stream.create(createRequest({ key: 'k' }));
    history.write([{ put: 'k', value: 'live' }]); // revision 2, notified
    // Revisions 3..4 arrive with an installed snapshot: they are in history but never notified.
    history.onWrite = undefined;
    history.write([{ put: 'k', value: 'snap1' }]);
    history.write([{ put: 'other' }]);
    history.onWrite = (revision, events) => hub.notify(revision, events);
    hub.restored(4);
    await settle();
    history.write([{ put: 'k', value: 'after' }]); // revision 5, live again
    await settle();
    const values = client.responses.flatMap((r) => r.events.map((e) => [e.kv.modRevision, e.kv.value.toString()]));
    expect(values).toEqual([[2, 'live'], [3, 'snap1'], [5, 'after']]);
  });

  it('refuses to go back in time', () => {
    const { history, hub } = setup();
    history.write([{ put: 'k' }]);
    expect(() => hub.restored(1)).toThrow(/behind/);
  });
});
