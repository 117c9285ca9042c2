// The watch invariant under random interleavings: writes, watchers starting in the past, present and
// future, slow streams, cancels, progress requests, compactions and history reads that take a
// while. Every watcher must receive exactly the events of its range from its start revision on, in
// revision order, each revision in one response (or a prefix of them, then a compacted cancel or its
// own cancel); and a progress response must never be followed by an older event.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EventType, type MvccEvent } from '../../../src/mvcc/types.js';
import { WatchFilter, type WatchStream } from '../../../src/watch/types.js';
import { WatchHub } from '../../../src/watch/watch-hub.js';
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
const commandArb = fc.oneof(
  { weight: 6, arbitrary: fc.array(opArb, { minLength: 1, maxLength: 4 }).map((ops) => ({ kind: 'write' as const, ops })) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('create' as const), stream: fc.nat(STREAMS - 1), range: rangeArb,
      startOffset: fc.integer({ min: -12, max: 3 }), noPut: fc.boolean(), noDelete: fc.boolean(), fragment: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), stream: fc.nat(STREAMS - 1), pick: fc.nat(10) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('full' as const), stream: fc.nat(STREAMS - 1), full: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('compact' as const), back: fc.nat(6) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('progress' as const), stream: fc.nat(STREAMS - 1) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('settle' as const), turns: fc.integer({ min: 1, max: 4 }) }) },
);

interface WatcherRecord {
  stream: number;
  watchId: number;
  key: string;
  rangeEnd: string;
  startRevision: number;
  noPut: boolean;
  noDelete: boolean;
  fragment: boolean;
  clientCanceled: boolean;
}

function inRange(w: WatcherRecord, key: string): boolean {
  const k = key === '' ? '\0' : key;
  const start = w.key === '' ? '\0' : w.key;
  if (w.rangeEnd === '') return k === start;
  if (w.rangeEnd === '\0') return k >= start;
  return k >= start && k < w.rangeEnd;
}

async function runScenario(
  commands: Array<typeof commandArb extends fc.Arbitrary<infer T> ? T : never>,
  options: { queueMax: number; batchMax: number; readDelays: number[] },
): Promise<void> {
  const history = new MemoryHistory();
  const hub = new WatchHub({ history, streamQueuedEventsMax: options.queueMax, catchUpBatchEventsMax: options.batchMax, maxRequestBytes: 120 });
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
        streams[command.stream].create(createRequest({ ...command.range, startRevision, filters, fragment: command.fragment }));
        watchers.push({
          stream: command.stream, watchId: nextIds[command.stream]++, ...command.range,
          startRevision: startRevision === 0 ? history.revision + 1 : startRevision,
          noPut: command.noPut, noDelete: command.noDelete, fragment: command.fragment, clientCanceled: false,
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
    }
  }
  // Let every stream drain and every catch-up finish.
  for (let round = 0; round < 5; round++) {
    clients.forEach((client, index) => {
      client.full = false;
      streams[index].resume();
    });
    await settle(30);
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
    const got = received.map((e) => `${e.kv.modRevision}:${e.kv.key}:${e.type}`);
    const want = expected.map((e) => `${e.kv.modRevision}:${e.kv.key}:${e.type}`);
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
  }
}

describe('watch ordering invariant (property)', () => {
  it('every watcher sees its range exactly once, in order, or a compacted cancel', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(commandArb, { minLength: 5, maxLength: 40 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.nat(3), { minLength: 1, maxLength: 5 }),
        async (commands, queueMax, batchMax, readDelays) => {
          await runScenario(commands, { queueMax, batchMax, readDelays });
        },
      ),
      { numRuns: 150 },
    );
  }, 60_000);
});
