// The watch invariant under random interleavings: writes, watchers starting in the past, present and
// future, slow streams, cancels, progress requests, compactions and history reads that take a
// while. Every watcher must receive exactly the events of its range from its start revision on, in
// revision order, each revision in one response (or a prefix of them, then a compacted cancel or its
// own cancel); and a progress response must never be followed by an older event. Streams run both
// ways: sending on every drain, and paced while congested (held-back events joined per watcher, a
// stream paced also when offered many responses between ticks); a second mix of commands keeps
// streams congested with live watchers, where events get joined.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EventType, type MvccEvent } from '../../../src/mvcc/types.js';
import { WatchFilter, type WatchStream } from '../../../src/watch/types.js';
import { WatchHub } from '../../../src/watch/watch-hub.js';
import { ManualTimer } from './manual-timer.js';
import { createRequest, MemoryHistory, RecordingClient, settle, type WriteOp } from './memory-history.js';

const KEYS = ['a', 'b', 'c', 'd'];
const STREAMS = 3;

const keyArb = fc.constantFrom(...KEYS);
const opArb: fc.Arbitrary<WriteOp> = fc.oneof(
  keyArb.map((key) => ({ put: key })),
  keyArb.map((key) => ({ del: key })),
);
const rangeArb = fc.oneof(
  keyArb.map((key) => ({ key, rangeEnd: '' })),
  fc.tuple(keyArb, keyArb).map(([x, y]) => (x < y ? { key: x, rangeEnd: y } : { key: y, rangeEnd: String.fromCharCode(y.charCodeAt(0) + 1) })),
  keyArb.map((key) => ({ key, rangeEnd: '\0' })),
);
function commandsArb(weights: { write: number; create: number; full: number; tick: number }, startOffsetMin: number) {
  return fc.oneof(
    { weight: weights.write, arbitrary: fc.array(opArb, { minLength: 1, maxLength: 4 }).map((ops) => ({ kind: 'write' as const, ops })) },
    {
      weight: weights.create,
      arbitrary: fc.record({
        kind: fc.constant('create' as const), stream: fc.nat(STREAMS - 1), range: rangeArb,
        startOffset: fc.integer({ min: startOffsetMin, max: 3 }), noPut: fc.boolean(), noDelete: fc.boolean(), fragment: fc.boolean(),
        prevKv: fc.boolean(),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), stream: fc.nat(STREAMS - 1), pick: fc.nat(10) }) },
    { weight: weights.full, arbitrary: fc.record({ kind: fc.constant('full' as const), stream: fc.nat(STREAMS - 1), full: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('compact' as const), back: fc.nat(6) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('progress' as const), stream: fc.nat(STREAMS - 1) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('settle' as const), turns: fc.integer({ min: 1, max: 4 }) }) },
    { weight: weights.tick, arbitrary: fc.record({ kind: fc.constant('tick' as const) }) },
  );
}

/** Everything mixed: watchers starting far in the past, compactions, cancels. */
const commandArb = commandsArb({ write: 6, create: 3, full: 2, tick: 2 }, -12);
/** Mostly live watchers and writes into streams that fill up: the paths where held-back events join. */
const congestedCommandArb = commandsArb({ write: 12, create: 3, full: 4, tick: 3 }, -2);
type Command = typeof commandArb extends fc.Arbitrary<infer T> ? T : never;

interface WatcherRecord {
  stream: number;
  watchId: number;
  key: string;
  rangeEnd: string;
  startRevision: number;
  noPut: boolean;
  noDelete: boolean;
  fragment: boolean;
  prevKv: boolean;
  clientCanceled: boolean;
}

function inRange(w: WatcherRecord, key: string): boolean {
  const k = key === '' ? '\0' : key;
  const start = w.key === '' ? '\0' : w.key;
  if (w.rangeEnd === '') return k === start;
  if (w.rangeEnd === '\0') return k >= start;
  return k >= start && k < w.rangeEnd;
}

interface ScenarioOptions {
  queueMax: number;
  batchMax: number;
  readDelays: number[];
  paced: boolean;
  maxRequestBytes: number;
  /** Responses per pacing interval beyond which a stream is paced though its transport never filled. */
  responsesPerTick: number;
}

async function runScenario(commands: Command[], options: ScenarioOptions): Promise<void> {
  const history = new MemoryHistory();
  const timer = new ManualTimer();
  const hub = new WatchHub({
    history, streamQueuedEventsMax: options.queueMax, catchUpBatchEventsMax: options.batchMax,
    maxRequestBytes: options.maxRequestBytes, timer, congestedFlushIntervalMs: options.paced ? 10 : 0, congestionQuietMs: 20,
    congestionResponsesPerTick: options.responsesPerTick,
  });
  const fullLog: MvccEvent[] = [];
  history.onWrite = (revision, events) => {
    fullLog.push(...events);
    hub.notify(revision, events);
  };
  let readCount = 0;
  history.readGate = () => settle(options.readDelays[readCount++ % options.readDelays.length]);

  const clients = Array.from({ length: STREAMS }, () => new RecordingClient());
  const streams: WatchStream[] = clients.map((client) => hub.openStream(client.send));
  const watchers: WatcherRecord[] = [];
  // Auto ids go 0, 1, 2... per stream; the created response itself may be held back by a full stream.
  const nextIds = clients.map(() => 0);

  for (const command of commands) {
    switch (command.kind) {
      case 'write':
        history.write(command.ops);
        break;
      case 'create': {
        const startRevision = command.startOffset === 0 ? 0 : Math.max(1, history.revision + command.startOffset);
        const filters = [...(command.noPut ? [WatchFilter.NOPUT] : []), ...(command.noDelete ? [WatchFilter.NODELETE] : [])];
        streams[command.stream].create(createRequest({ ...command.range, startRevision, filters, fragment: command.fragment, prevKv: command.prevKv }));
        watchers.push({
          stream: command.stream, watchId: nextIds[command.stream]++, ...command.range,
          startRevision: startRevision === 0 ? history.revision + 1 : startRevision,
          noPut: command.noPut, noDelete: command.noDelete, fragment: command.fragment, prevKv: command.prevKv, clientCanceled: false,
        });
        break;
      }
      case 'cancel': {
        const own = watchers.filter((w) => w.stream === command.stream && !w.clientCanceled);
        if (own.length === 0) break;
        const w = own[command.pick % own.length];
        w.clientCanceled = true;
        streams[command.stream].cancel(w.watchId);
        break;
      }
      case 'full':
        clients[command.stream].full = command.full;
        if (!command.full) streams[command.stream].resume();
        break;
      case 'compact':
        history.compact(history.revision - command.back);
        break;
      case 'progress':
        streams[command.stream].progress();
        break;
      case 'settle':
        await settle(command.turns);
        break;
      case 'tick':
        timer.fireEvery(10);
        break;
    }
  }
  // Let every stream drain and every catch-up finish (a paced stream reads one batch per tick).
  for (let round = 0; round < 60; round++) {
    clients.forEach((client, index) => {
      client.full = false;
      streams[index].resume();
    });
    timer.fireEvery(10);
    await settle(5);
  }
  expect(hub.unsyncedWatcherCount).toBe(0);

  for (const w of watchers) {
    const responses = clients[w.stream].responses;
    const own = responses.map((r, index) => ({ r, index })).filter(({ r }) => r.watchId === w.watchId);
    expect(own[0].r.created).toBe(true);
    expect(own[0].r.canceled).toBe(false);
    const received = own.flatMap(({ r }) => r.events);
    const expected = fullLog.filter((e) =>
      e.kv.modRevision >= w.startRevision && inRange(w, e.kv.key.toString()) &&
      !(e.type === EventType.PUT && w.noPut) && !(e.type === EventType.DELETE && w.noDelete));
    const ended = own.find(({ r }) => r.canceled);
    const label = (e: MvccEvent, prevKv: boolean) => `${e.kv.modRevision}:${e.kv.key}:${e.type}:${prevKv && e.prevKv ? e.prevKv.modRevision : '-'}`;
    const got = received.map((e) => label(e, true));
    const want = expected.map((e) => label(e, w.prevKv));
    if (ended === undefined) {
      expect(got).toEqual(want);
    } else {
      // A canceled watcher got a prefix, with nothing after its cancel.
      expect(want.slice(0, got.length)).toEqual(got);
      expect(own[own.length - 1].r.canceled).toBe(true);
      if (!w.clientCanceled) {
        // The compaction is real, and the watcher still needed a revision below it.
        expect(ended.r.compactRevision).toBeGreaterThan(0);
        expect(ended.r.compactRevision).toBeLessThanOrEqual(history.compacted);
        const lastReceived = received.length === 0 ? 0 : received[received.length - 1].kv.modRevision;
        expect(Math.max(w.startRevision, lastReceived + 1)).toBeLessThan(ended.r.compactRevision);
      }
    }
    if (!w.fragment) {
      // Atomic: one revision of one watcher never spans two responses.
      const responseOfRevision = new Map<number, number>();
      for (const { r, index } of own) {
        for (const e of r.events) {
          const seen = responseOfRevision.get(e.kv.modRevision);
          expect(seen === undefined || seen === index).toBe(true);
          responseOfRevision.set(e.kv.modRevision, index);
        }
      }
    }
    // Bookmarkable: after a progress response at revision R, no event at or below R for a watcher that existed then.
    const createdAt = own[0].index;
    responses.forEach((r, index) => {
      if (r.watchId !== -1 || r.created || index < createdAt) return;
      for (const { r: later, index: laterIndex } of own) {
        if (laterIndex > index) for (const e of later.events) expect(e.kv.modRevision).toBeGreaterThan(r.revision);
      }
    });
    // ...and never below an event sent before it: a client resumes from the revision of the last
    // progress response it read (clientv3), so an event moved ahead of one would come twice.
    responses.forEach((r, index) => {
      const progress = r.events.length === 0 && !r.created && !r.canceled && (r.watchId === -1 || r.watchId === w.watchId);
      if (!progress || index < createdAt) return;
      for (const { r: earlier, index: earlierIndex } of own) {
        if (earlierIndex < index) for (const e of earlier.events) expect(e.kv.modRevision).toBeLessThanOrEqual(r.revision);
      }
    });
  }
}

const scenarioOptionsArb = fc.record({
  queueMax: fc.integer({ min: 1, max: 12 }),
  batchMax: fc.integer({ min: 1, max: 5 }),
  readDelays: fc.array(fc.nat(3), { minLength: 1, maxLength: 5 }),
  paced: fc.boolean(),
  maxRequestBytes: fc.constantFrom(120, 400),
  responsesPerTick: fc.constantFrom(1, 2, 5, 128),
});

describe('watch ordering invariant (property)', () => {
  it('every watcher sees its range exactly once, in order, or a compacted cancel', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(commandArb, { minLength: 5, maxLength: 40 }), scenarioOptionsArb, async (commands, options) => {
        await runScenario(commands, options);
      }),
      { numRuns: 150 },
    );
  }, 60_000);

  it("the same on congested streams, where a watcher's held-back events join into fewer responses", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(congestedCommandArb, { minLength: 20, maxLength: 80, size: 'max' }), scenarioOptionsArb, async (commands, options) => {
        await runScenario(commands, options);
      }),
      { numRuns: 150 },
    );
  }, 60_000);
});
