// Test double for mvcc's history: an in-memory event log with compaction, whose reads can be held
// back by a gate so that tests interleave writes with catch-up reads.
import { EtcdError } from '../../../src/errors.js';
import { EventType, type KeyValue, type MvccEvent } from '../../../src/mvcc/types.js';
import type { WatchableHistory, WatchCreateRequest, WatchStreamResponse } from '../../../src/watch/types.js';

export type WriteOp = { put: string; value?: string } | { del: string };

export class MemoryHistory implements WatchableHistory {
  revision = 1;
  compacted = 0;
  readonly log: MvccEvent[] = [];
  private readonly latest = new Map<string, KeyValue>();
  /** Awaited by every read before it returns: lets tests run writes in the middle of a read. */
  readGate: (() => Promise<void>) | undefined;
  onWrite: ((revision: number, events: MvccEvent[]) => void) | undefined;

  get currentRevision(): number {
    return this.revision;
  }

  get compactRevision(): number {
    return this.compacted;
  }

  async history(fromRevision: number, toRevision: number, maxEvents: number): Promise<MvccEvent[]> {
    if (fromRevision < this.compacted) throw new EtcdError('Compacted');
    if (this.readGate !== undefined) await this.readGate();
    // A compaction may have run while the read was held back.
    if (fromRevision < this.compacted) throw new EtcdError('Compacted');
    return this.log.filter((e) => e.kv.modRevision >= fromRevision && e.kv.modRevision <= toRevision).slice(0, maxEvents);
  }

  /** One write transaction: one revision, events in op order. */
  write(ops: WriteOp[]): MvccEvent[] {
    const revision = this.revision + 1;
    const events: MvccEvent[] = [];
    for (const op of ops) {
      if ('put' in op) {
        const prev = this.latest.get(op.put);
        const kv: KeyValue = {
          key: Buffer.from(op.put), value: Buffer.from(op.value ?? `v${revision}`), modRevision: revision,
          createRevision: prev?.createRevision ?? revision, version: (prev?.version ?? 0) + 1, lease: 0n,
        };
        this.latest.set(op.put, kv);
        events.push(prev === undefined ? { type: EventType.PUT, kv } : { type: EventType.PUT, kv, prevKv: prev });
      } else {
        const prev = this.latest.get(op.del);
        if (prev === undefined) continue;
        this.latest.delete(op.del);
        const kv: KeyValue = { key: Buffer.from(op.del), value: Buffer.alloc(0), modRevision: revision, createRevision: 0, version: 0, lease: 0n };
        events.push({ type: EventType.DELETE, kv, prevKv: prev });
      }
    }
    if (events.length === 0) return [];
    this.revision = revision;
    this.log.push(...events);
    this.onWrite?.(revision, events);
    return events;
  }

  compact(revision: number): void {
    if (revision <= this.compacted || revision > this.revision) return;
    this.compacted = revision;
    // Keep what etcd keeps for watchers starting at the compact revision: events at or after it.
    const kept = this.log.filter((e) => e.kv.modRevision >= revision);
    this.log.length = 0;
    this.log.push(...kept);
  }
}

/** A recording transport; `full` makes send report a full buffer. */
export class RecordingClient {
  readonly responses: WatchStreamResponse[] = [];
  full = false;
  readonly send = (response: WatchStreamResponse): boolean => {
    this.responses.push(response);
    return !this.full;
  };

  eventsOf(watchId: number): Array<{ revision: number; key: string; type: number }> {
    return this.responses
      .filter((r) => r.watchId === watchId)
      .flatMap((r) => r.events.map((e) => ({ revision: e.kv.modRevision, key: e.kv.key.toString(), type: e.type })));
  }
}

export function createRequest(fields: Partial<Omit<WatchCreateRequest, 'key' | 'rangeEnd'>> & { key?: string | Buffer; rangeEnd?: string | Buffer } = {}): WatchCreateRequest {
  const toBuffer = (v: string | Buffer | undefined) => (v === undefined ? Buffer.alloc(0) : Buffer.isBuffer(v) ? v : Buffer.from(v));
  return {
    startRevision: 0, progressNotify: false, filters: [], prevKv: false, watchId: 0, fragment: false,
    ...fields, key: toBuffer(fields.key), rangeEnd: toBuffer(fields.rangeEnd),
  };
}

/** Lets pending promise callbacks (catch-up rounds) run. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
