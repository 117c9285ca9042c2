// KeyWatch over a scripted watch stream: the bounded queue asks the stream to hold back and
// resumes it once drained, events queued before a cancellation are still read, an abort ends at once.
import { describe, expect, it } from 'vitest';
import { KeyWatch, keyWatchResponsesQueuedMax } from '../../../src/concurrency/key-watch.js';
import { isEtcdError } from '../../../src/errors.js';
import { EventType, type MvccEvent } from '../../../src/mvcc/types.js';
import type { WatchCreateRequest, WatchStream, WatchStreamResponse } from '../../../src/watch/types.js';

class ScriptedStream implements WatchStream {
  created: WatchCreateRequest[] = [];
  resumed = 0;
  closed = false;
  constructor(readonly send: (response: WatchStreamResponse) => boolean) {}
  create(request: WatchCreateRequest): void { this.created.push(request); }
  cancel(): void {}
  progress(): void {}
  resume(): void { this.resumed++; }
  close(): void { this.closed = true; }
}

function scripted(): { server: { openWatchStream(send: (r: WatchStreamResponse) => boolean): WatchStream }; stream: () => ScriptedStream } {
  let stream: ScriptedStream | undefined;
  return {
    server: { openWatchStream: (send) => (stream = new ScriptedStream(send)) },
    stream: () => stream!,
  };
}

function eventsAt(revision: number, type: number = EventType.PUT): WatchStreamResponse {
  const event: MvccEvent = {
    type: type as MvccEvent['type'],
    kv: { key: Buffer.from('k'), createRevision: 1, modRevision: revision, version: 1, value: Buffer.alloc(0), lease: 0n },
  };
  return { revision, watchId: 0, created: false, canceled: false, compactRevision: 0, cancelReason: '', fragment: false, events: [event] };
}

describe('KeyWatch', () => {
  it('creates one watch for the key from the revision asked', () => {
    const { server, stream } = scripted();
    new KeyWatch(server, { key: Buffer.from('k'), rangeEnd: Buffer.alloc(0), startRevision: 7, signal: new AbortController().signal });
    expect(stream().created).toMatchObject([{ key: Buffer.from('k'), startRevision: 7, prevKv: false, filters: [] }]);
  });

  it('holds the stream back when its queue is full and resumes it once half drained', async () => {
    const { server, stream } = scripted();
    const watch = new KeyWatch(server, { key: Buffer.from('k'), rangeEnd: Buffer.alloc(0), startRevision: 1, signal: new AbortController().signal });
    const accepted: boolean[] = [];
    for (let i = 0; i < keyWatchResponsesQueuedMax; i++) accepted.push(stream().send(eventsAt(i + 2)));
    expect(accepted.slice(0, -1).every(Boolean)).toBe(true);
    expect(accepted.at(-1)).toBe(false);
    const read: number[] = [];
    for (let i = 0; i < keyWatchResponsesQueuedMax / 2; i++) read.push((await watch.next()).revision);
    expect(stream().resumed).toBe(1);
    expect(read).toEqual(Array.from({ length: keyWatchResponsesQueuedMax / 2 }, (_, i) => i + 2));
  });

  it('still delivers events queued before a compaction cancel, then fails with Compacted', async () => {
    const { server, stream } = scripted();
    const watch = new KeyWatch(server, { key: Buffer.from('k'), rangeEnd: Buffer.alloc(0), startRevision: 1, signal: new AbortController().signal });
    stream().send(eventsAt(5, EventType.DELETE));
    stream().send({ ...eventsAt(6), events: [], canceled: true, compactRevision: 9 });
    expect((await watch.next()).revision).toBe(5);
    const error = await watch.next().catch((e: unknown) => e);
    expect(isEtcdError(error, 'Compacted')).toBe(true);
    expect(stream().closed).toBe(true);
  });

  it('rejects a pending read at once when the caller aborts, and closes the stream', async () => {
    const { server, stream } = scripted();
    const abort = new AbortController();
    const watch = new KeyWatch(server, { key: Buffer.from('k'), rangeEnd: Buffer.alloc(0), startRevision: 1, signal: abort.signal });
    const pending = watch.next();
    abort.abort();
    await expect(pending).rejects.toThrow('context canceled');
    expect(stream().closed).toBe(true);
    expect(stream().send(eventsAt(3))).toBe(false);
  });
});
