// Owns v2 watches over the v3 watch stream: one v3 watcher on the whole v2 keyspace from the
// requested index, each revision turned back into the one v2 event it was written as (the action
// record names it; deletes without a record are lease expiries), and etcd's v2 matching rules.
import { EventType, type MvccEvent } from '../../../mvcc/types.js';
import type { EtcdServerApi } from '../../../server/server-api.js';
import type { WatchStream, WatchStreamResponse } from '../../../watch/types.js';
import { V2Error } from './errors.js';
import { LeaseTtlCache, nodeOfKv, orderedNode, type V2Event } from './nodes.js';
import type { V2ActionRecord } from './store.js';
import { dirKey, fileKey, isHiddenBelow, isWithin, keyspaceRange, nodeOfKey, v2ActionKey } from './paths.js';

/** etcd's v2 keeps the last 1000 events (newWatchHub(1000)); here: the last 1000 revisions. */
export const v2EventHistoryMax = 1000;
/** Revisions translated but not yet taken by a slow stream: beyond this the watch ends. */
export const v2WatchBacklogMax = 1000;
/** Concurrent v2 watchers per member. */
export const v2WatchersMax = 10_000;

export interface V2WatchOptions {
  path: string;
  recursive: boolean;
  /** The first index of interest; undefined: from the next write on. */
  sinceIndex?: number;
}

export interface IndexedV2Event extends V2Event {
  index: number;
}

/** etcd's v2 watcher matching, live and from history alike. */
export function v2EventMatches(event: IndexedV2Event, watchPath: string, recursive: boolean): boolean {
  const key = event.node?.key ?? '/';
  if (key === watchPath) return true;
  if (recursive && isWithin(watchPath, key) && !isHiddenBelow(watchPath, key)) return true;
  // Deleting or expiring a directory ends everything inside it: its watchers hear of it.
  return (event.action === 'delete' || event.action === 'expire') && event.prevNode?.dir === true && isWithin(key, watchPath);
}

/** The v2 events one revision's v3 events stand for (refreshes stand for none). */
export async function translateRevision(revision: number, events: MvccEvent[], leases: LeaseTtlCache, nowMs: number): Promise<IndexedV2Event[]> {
  const recordEvent = events.find((e) => e.type === EventType.PUT && e.kv.key.equals(v2ActionKey));
  if (recordEvent) {
    let record: V2ActionRecord;
    try {
      record = JSON.parse(recordEvent.kv.value.toString()) as V2ActionRecord;
    } catch {
      return [];
    }
    if (record.refresh) return [];
    const own = (e: MvccEvent) => e.kv.key.equals(fileKey(record.key)) || e.kv.key.equals(dirKey(record.key));
    if (record.action === 'delete' || record.action === 'compareAndDelete') {
      const deleted = events.find((e) => e.type === EventType.DELETE && own(e));
      const prevNode = deleted?.prevKv ? await nodeOfKv(deleted.prevKv, leases, nowMs) : undefined;
      const node = orderedNode({ key: record.key, dir: record.dir, modifiedIndex: revision, createdIndex: deleted?.prevKv?.createRevision });
      return [{ action: record.action, node, prevNode, index: revision }];
    }
    const written = events.find((e) => e.type === EventType.PUT && own(e));
    if (!written) return [];
    const replaced = events.find((e) => e.type === EventType.DELETE && own(e));
    const previous = written.prevKv ?? replaced?.prevKv;
    const node = await nodeOfKv(written.kv, leases, nowMs);
    if (replaced) node.createdIndex = revision;
    const prevNode = previous ? await nodeOfKv(previous, leases, nowMs) : undefined;
    return [{ action: record.action, node, prevNode, index: revision }];
  }
  // No record: the leader revoked an expired lease (or a v3 client wrote into the v2 space).
  const translated: IndexedV2Event[] = [];
  for (const event of events) {
    const located = nodeOfKey(event.kv.key);
    if (!located) continue;
    if (event.type === EventType.DELETE) {
      const prevNode = event.prevKv ? await nodeOfKv(event.prevKv, leases, nowMs) : undefined;
      const node = orderedNode({ key: located.path, dir: located.dir, modifiedIndex: revision, createdIndex: event.prevKv?.createRevision });
      translated.push({ action: 'expire', node, prevNode, index: revision });
    } else {
      const prevNode = event.prevKv ? await nodeOfKv(event.prevKv, leases, nowMs) : undefined;
      translated.push({ action: 'set', node: await nodeOfKv(event.kv, leases, nowMs), prevNode, index: revision });
    }
  }
  return translated;
}

/**
 * Watches the v2 tree. `onEvent` gets every matching event in index order and returns whether
 * to keep going; `onError` gets a V2Error (history cleared) once. close() ends it.
 */
export class V2Watch {
  private stream: WatchStream | undefined;
  private chain: Promise<void> = Promise.resolve();
  private backlog = 0;
  private closed = false;
  private static open = 0;

  private constructor(
    private readonly server: EtcdServerApi,
    private readonly options: V2WatchOptions,
    private readonly onEvent: (event: IndexedV2Event) => boolean,
    private readonly onError: (error: V2Error) => void,
    private readonly nowMs: () => number,
  ) {}

  /** Starts watching; throws V2Error 401 when sinceIndex is older than the event history. */
  static start(
    server: EtcdServerApi, currentIndex: number, options: V2WatchOptions,
    onEvent: (event: IndexedV2Event) => boolean, onError: (error: V2Error) => void, nowMs: () => number = Date.now,
  ): V2Watch {
    const since = options.sinceIndex;
    const historyStart = currentIndex - v2EventHistoryMax + 1;
    if (since !== undefined && since < historyStart) {
      throw new V2Error(401, `the requested history has been cleared [${historyStart}/${since}]`, currentIndex);
    }
    if (V2Watch.open >= v2WatchersMax) throw new V2Error(300, 'too many v2 watchers', currentIndex);
    const watch = new V2Watch(server, options, onEvent, onError, nowMs);
    V2Watch.open++;
    const { key, rangeEnd } = keyspaceRange();
    watch.stream = server.openWatchStream((response) => watch.receive(response));
    watch.stream.create({
      key, rangeEnd, startRevision: since !== undefined && since > 0 ? since : currentIndex + 1,
      progressNotify: false, filters: [], prevKv: true, watchId: 0, fragment: false,
    });
    return watch;
  }

  static openCount(): number {
    return V2Watch.open;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    V2Watch.open--;
    this.stream?.close();
  }

  private receive(response: WatchStreamResponse): boolean {
    if (this.closed) return true;
    if (response.canceled) {
      const cause = response.compactRevision > 0
        ? `the requested history has been cleared [${response.compactRevision}/${this.options.sinceIndex ?? 0}]`
        : response.cancelReason;
      this.fail(new V2Error(response.compactRevision > 0 ? 401 : 400, cause, response.revision));
      return true;
    }
    if (response.events.length === 0) return true;
    if (++this.backlog > v2WatchBacklogMax) {
      this.fail(new V2Error(400, 'the watcher fell too far behind', response.revision));
      return true;
    }
    const byRevision = new Map<number, MvccEvent[]>();
    for (const event of response.events) {
      const group = byRevision.get(event.kv.modRevision);
      if (group) group.push(event);
      else byRevision.set(event.kv.modRevision, [event]);
    }
    this.chain = this.chain.then(async () => {
      this.backlog--;
      for (const [revision, events] of byRevision) {
        if (this.closed) return;
        const translated = await translateRevision(revision, events, new LeaseTtlCache(this.server), this.nowMs());
        for (const event of translated) {
          if (this.closed) return;
          if (!v2EventMatches(event, this.options.path, this.options.recursive)) continue;
          if (!this.onEvent(event)) {
            this.close();
            return;
          }
        }
      }
    }).catch((error: unknown) => {
      this.fail(new V2Error(300, error instanceof Error ? error.message : String(error), response.revision));
    });
    return true;
  }

  private fail(error: V2Error): void {
    if (this.closed) return;
    this.close();
    this.onError(error);
  }
}
