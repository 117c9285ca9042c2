// The watch path hands its encoders objects of one hidden class each (object-array.ts, types.ts
// watchStreamResponse): V8 threw the encoders' optimized code away whenever a second class showed up
// (a new watcher's created response, a key's first put), and compiled it again on a helper thread
// that competed for the cores with the event loop. Checked with V8's own intrinsics, enabled for
// functions compiled after the flag is set.
import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { encodeKeyValue } from '../../../src/mvcc/kv-codec.js';
import { StoredPutEvent } from '../../../src/mvcc/stored-event.js';
import type { KeyValue } from '../../../src/mvcc/types.js';
import { emptyObjectArray } from '../../../src/object-array.js';
import { fragmentResponse } from '../../../src/watch/response-size.js';
import { WatchHub } from '../../../src/watch/watch-hub.js';
import { createRequest, MemoryHistory, RecordingClient } from './memory-history.js';

v8.setFlagsFromString('--allow-natives-syntax');
const haveSameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: unknown, b: unknown) => boolean;
const hasObjectElements = new Function('a', 'return %HasObjectElements(a)') as (a: unknown) => boolean;
const hasHoleyElements = new Function('a', 'return %HasHoleyElements(a)') as (a: unknown) => boolean;

function kv(key: string, modRevision: number, version: number): KeyValue {
  return { key: Buffer.from(key), createRevision: 2, modRevision, version, value: Buffer.from(`v${version}`), lease: 0n };
}

function setup() {
  const history = new MemoryHistory();
  const hub = new WatchHub({ history });
  const client = new RecordingClient();
  const stream = hub.openStream(client.send);
  return { hub, client, stream };
}

describe('watch response shapes', () => {
  it('an empty object array takes objects without changing its hidden class, unlike []', () => {
    const array = emptyObjectArray<Buffer>();
    expect(array).toHaveLength(0);
    expect(hasObjectElements(array)).toBe(true);
    expect(hasObjectElements([])).toBe(false);
    const before = [Buffer.alloc(1)];
    before.length = 0;
    expect(haveSameMap(array, before)).toBe(true);
    array.push(Buffer.alloc(1));
    expect(hasHoleyElements(array)).toBe(false);
  });

  it('created responses, event responses and fragments share one hidden class, and so do their event lists', () => {
    const { hub, client, stream } = setup();
    stream.create(createRequest({ key: 'k' }));
    stream.create(createRequest({ key: 'k', prevKv: true }));
    // A key's first put has no prevKv, the next one has: both reach the first watcher in one shape.
    hub.notify(2, [new StoredPutEvent(encodeKeyValue(kv('k', 2, 1)), undefined)]);
    hub.notify(3, [new StoredPutEvent(encodeKeyValue(kv('k', 3, 2)), encodeKeyValue(kv('k', 2, 1)))]);
    const [created, ...rest] = client.responses;
    expect(created!.created).toBe(true);
    const withEvents = rest.filter((response) => response.events.length > 0);
    expect(withEvents).toHaveLength(4);
    for (const response of client.responses) {
      expect(haveSameMap(response, created)).toBe(true);
      expect(hasObjectElements(response.events)).toBe(true);
      expect(hasHoleyElements(response.events)).toBe(false);
    }
    const plain = withEvents.filter((response) => response.watchId === 0).map((response) => response.events[0]!);
    expect(plain.map((event) => event.prevKv)).toEqual([undefined, undefined]);
    expect(haveSameMap(plain[0], plain[1])).toBe(true);
    const fragments = fragmentResponse({ ...withEvents[0]!, events: [...withEvents[0]!.events, ...withEvents[1]!.events] }, 1);
    expect(fragments).toHaveLength(2);
    for (const fragment of fragments) expect(haveSameMap(fragment, created)).toBe(true);
  });
});
