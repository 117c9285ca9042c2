// A put's watch event as apply records it: the stored form (kv-codec) of the value it wrote and of
// the value it replaced, decoded only when first read. Most events are never read: with no watcher
// of the key nobody asks, yet each one waits in the history cache for ~500 revisions, long enough
// to be copied by a young-generation GC. Decoding both values up front (two objects, five Buffer
// views and a bigint) was ~1 KB of garbage per put and most of what the cache made the GC copy.
import { decodeKeyValue } from './kv-codec.js';
import { EventType, type KeyValue, type MvccEvent } from './types.js';

export class StoredPutEvent implements MvccEvent {
  readonly type = EventType.PUT;
  private decodedKv: KeyValue | undefined = undefined;
  private decodedPrevKv: KeyValue | undefined = undefined;

  /** Both are views of value slabs (value-slabs.ts), whose bytes are never written again. */
  constructor(private readonly stored: Buffer, private readonly prevStored: Buffer | undefined) {}

  get kv(): KeyValue {
    return (this.decodedKv ??= decodeKeyValue(this.stored));
  }

  get hasPrevKv(): boolean {
    return this.prevStored !== undefined;
  }

  get prevKv(): KeyValue | undefined {
    if (this.prevStored === undefined) return undefined;
    return (this.decodedPrevKv ??= decodeKeyValue(this.prevStored));
  }
}
