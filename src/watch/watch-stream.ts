// One client watch stream inside the WatchHub: its watchers, the queue of responses held back while
// the transport is full, and the catch-up of its unsynced watchers from history.
//
// A watcher is either *synced* (it gets events live from notify, for revisions >= nextRevision) or
// *unsynced* (it needs history from nextRevision on). Every change of nextRevision and of the synced
// flag happens synchronously, between notify calls, so that the switch from history to live events
// has no gap and no duplicate:
//  - catch-up reads history up to the last revision notified *when the read started* (R), delivers
//    it, sets nextRevision = R + 1, and becomes synced only if no notify came in meanwhile;
//  - a synced watcher whose stream is full at revision R becomes unsynced with nextRevision = R.
import { EtcdError, isEtcdError } from '../errors.js';
import { EventType, type MvccEvent } from '../mvcc/types.js';
import { normalizeWatchRange, watchRangeContains, type WatchKeyRange } from './key-range.js';
import { fragmentResponse } from './response-size.js';
import {
  WatchFilter, type WatchCreateRequest, type WatchStream, type WatchStreamOptions, type WatchStreamResponse,
} from './types.js';

export interface Watcher {
  readonly id: number;
  readonly stream: HubWatchStream;
  readonly range: WatchKeyRange;
  readonly filterPut: boolean;
  readonly filterDelete: boolean;
  readonly prevKv: boolean;
  readonly fragment: boolean;
  readonly progressNotify: boolean;
  /** The first revision this watcher has not been given (nor skipped as not matching). */
  nextRevision: number;
  synced: boolean;
  /** Events went out since the last progress tick: etcd elides the next progress notification. */
  sentEventsSinceTick: boolean;
}

/** What a stream needs from its hub. */
export interface WatchHubContext {
  readonly notifiedRevision: number;
  readonly maxRequestBytes: number;
  readonly streamQueuedEventsMax: number;
  readonly watchersPerStreamMax: number;
  readonly compactRevision: number;
  /** Complete revisions from `fromRevision` on, up to `toRevision`: events and the last revision covered. */
  readComplete(fromRevision: number, toRevision: number): Promise<{ events: MvccEvent[]; lastRevision: number }>;
  register(watcher: Watcher): void;
  unregister(watcher: Watcher): void;
  startProgressTimer(stream: HubWatchStream): unknown;
  stopProgressTimer(handle: unknown): void;
  streamClosed(stream: HubWatchStream): void;
}

export const duplicateWatchIdReason = 'mvcc: duplicate watch ID provided on the WatchStream';
export const emptyWatchRangeReason = 'mvcc: watcher range is empty';
const tooManyWatchersReason = 'etcdserver: too many requests';
const INVALID_WATCH_ID = -1;
/** Responses held back per full stream; beyond it the client is not reading and the stream is closed. */
export const streamQueuedResponsesMax = 8192;

export class HubWatchStream implements WatchStream {
  private readonly watchers = new Map<number, Watcher>();
  private nextWatchId = 0;
  /** Responses held back while the transport is full; read from `queueHead`. */
  private queue: WatchStreamResponse[] = [];
  private queueHead = 0;
  private queuedEvents = 0;
  private blocked = false;
  private closed = false;
  private catchingUp = false;
  private deferredProgress = false;
  private progressTimer: unknown = undefined;

  constructor(
    private readonly hub: WatchHubContext,
    private readonly send: (response: WatchStreamResponse) => boolean,
    private readonly options: WatchStreamOptions = {},
  ) {}

  /** The owner sent etcd's `hasleader` metadata: the hub ends this stream when the member loses its leader. */
  get requiresLeader(): boolean {
    return this.options.requireLeader === true;
  }

  get watcherCount(): number {
    return this.watchers.size;
  }

  get unsyncedWatcherCount(): number {
    let count = 0;
    for (const watcher of this.watchers.values()) if (!watcher.synced) count++;
    return count;
  }

  create(request: WatchCreateRequest): void {
    if (this.closed) return;
    const currentRevision = this.hub.notifiedRevision;
    const range = normalizeWatchRange(request.key, request.rangeEnd);
    if (range === undefined) return this.refuse(currentRevision, emptyWatchRangeReason);
    if (request.watchId !== 0 && this.watchers.has(request.watchId)) {
      return this.refuse(currentRevision, duplicateWatchIdReason);
    }
    if (this.watchers.size >= this.hub.watchersPerStreamMax) return this.refuse(currentRevision, tooManyWatchersReason);
    let id = request.watchId;
    if (id === 0) {
      while (this.watchers.has(this.nextWatchId)) this.nextWatchId++;
      id = this.nextWatchId++;
    }
    const startRevision = request.startRevision === 0 ? currentRevision + 1 : request.startRevision;
    this.enqueue(response(currentRevision, id, { created: true }));

    const compactRevision = this.hub.compactRevision;
    if (startRevision <= currentRevision && startRevision < compactRevision) {
      this.enqueue(response(currentRevision, id, { canceled: true, compactRevision }));
      return;
    }
    const watcher: Watcher = {
      id, stream: this, range,
      filterPut: request.filters.includes(WatchFilter.NOPUT),
      filterDelete: request.filters.includes(WatchFilter.NODELETE),
      prevKv: request.prevKv, fragment: request.fragment, progressNotify: request.progressNotify,
      nextRevision: startRevision, synced: startRevision > currentRevision, sentEventsSinceTick: false,
    };
    this.watchers.set(id, watcher);
    this.hub.register(watcher);
    if (watcher.progressNotify && this.progressTimer === undefined) this.progressTimer = this.hub.startProgressTimer(this);
    if (!watcher.synced) this.catchUp();
  }

  cancel(watchId: number): void {
    const watcher = this.watchers.get(watchId);
    if (this.closed || watcher === undefined) return; // etcd answers nothing for an unknown id
    this.remove(watcher);
    this.enqueue(response(this.hub.notifiedRevision, watchId, { canceled: true }));
    this.sendDeferredProgressIfSynced();
  }

  progress(): void {
    if (this.closed) return;
    this.deferredProgress = true;
    this.sendDeferredProgressIfSynced();
  }

  resume(): void {
    if (this.closed) return;
    this.blocked = false;
    while (this.queueHead < this.queue.length && !this.blocked) {
      const next = this.queue[this.queueHead];
      this.queue[this.queueHead++] = undefined as never;
      this.queuedEvents -= next.events.length;
      this.transmit(next);
    }
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    }
    if (!this.blocked) this.catchUp();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const watcher of this.watchers.values()) this.hub.unregister(watcher);
    this.watchers.clear();
    this.queue = [];
    this.queueHead = 0;
    this.queuedEvents = 0;
    if (this.progressTimer !== undefined) this.hub.stopProgressTimer(this.progressTimer);
    this.progressTimer = undefined;
    this.hub.streamClosed(this);
  }

  /**
   * The server ends the stream on its own: like close(), then the owner is told why, once, so that
   * its reader (a gRPC call, a lock waiter) ends now instead of waiting on a stream that went silent.
   */
  end(reason: Error): void {
    if (this.closed) return;
    this.close();
    this.options.onClosed?.(reason);
  }

  /** Every watcher goes back to catching up from history from its next revision (see WatchHub.restored). */
  desynchronize(firstMissedRevision: number): void {
    if (this.closed) return;
    for (const watcher of this.watchers.values()) {
      if (!watcher.synced) continue;
      // A synced watcher's nextRevision is where it started: live delivery does not move it.
      watcher.nextRevision = Math.max(watcher.nextRevision, firstMissedRevision);
      watcher.synced = false;
    }
    if (!this.blocked) this.catchUp();
  }

  /** Live events of one revision for a synced watcher of this stream. */
  deliverLive(watcher: Watcher, revision: number, events: MvccEvent[]): void {
    if (this.blocked && this.queuedEvents + events.length > this.hub.streamQueuedEventsMax) {
      // Never block apply on a slow client: this watcher catches up from history once the stream drains.
      watcher.synced = false;
      watcher.nextRevision = revision;
      return;
    }
    this.sendEvents(watcher, revision, events);
  }

  /** A progress tick: an empty response to each synced progress-notify watcher that got no events since the last tick. */
  progressTick(): void {
    if (this.closed) return;
    for (const watcher of this.watchers.values()) {
      if (!watcher.progressNotify) continue;
      // A full stream is not reading: progress would only pile up behind the held-back events.
      if (watcher.synced && !watcher.sentEventsSinceTick && !this.blocked) {
        this.enqueue(response(this.hub.notifiedRevision, watcher.id, {}));
      }
      watcher.sentEventsSinceTick = false;
    }
  }

  private sendEvents(watcher: Watcher, revision: number, events: MvccEvent[]): void {
    const shaped = watcher.prevKv ? events : events.map(withoutPrevKv);
    const full = response(revision, watcher.id, { events: shaped });
    for (const part of watcher.fragment ? fragmentResponse(full, this.hub.maxRequestBytes) : [full]) this.enqueue(part);
    watcher.sentEventsSinceTick = true;
  }

  private refuse(currentRevision: number, cancelReason: string): void {
    this.enqueue(response(currentRevision, INVALID_WATCH_ID, { created: true, canceled: true, cancelReason }));
  }

  private remove(watcher: Watcher): void {
    this.watchers.delete(watcher.id);
    this.hub.unregister(watcher);
  }

  private enqueue(r: WatchStreamResponse): void {
    if (this.closed) return;
    if (!this.blocked) {
      this.transmit(r);
      return;
    }
    if (this.queue.length - this.queueHead >= streamQueuedResponsesMax) {
      // A client that keeps sending requests but reads no answers: events are bounded by
      // streamQueuedEventsMax, but control answers would grow without end. Tell it, and stop.
      this.transmit(response(this.hub.notifiedRevision, INVALID_WATCH_ID, { canceled: true, cancelReason: tooManyWatchersReason }));
      this.end(new EtcdError('TooManyRequests'));
      return;
    }
    this.queue.push(r);
    this.queuedEvents += r.events.length;
  }

  private transmit(r: WatchStreamResponse): void {
    let accepted: boolean;
    try {
      accepted = this.send(r);
    } catch (error) {
      // A transport that throws is gone; the stream must not take apply (our caller) down with it.
      this.end(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    if (!accepted) this.blocked = true;
  }

  private sendDeferredProgressIfSynced(): void {
    if (!this.deferredProgress || this.closed) return;
    for (const watcher of this.watchers.values()) if (!watcher.synced) return;
    this.deferredProgress = false;
    const tail = this.queue[this.queue.length - 1];
    if (this.blocked && tail !== undefined && this.queue.length > this.queueHead && isProgressResponse(tail)) {
      // Repeated progress requests on a full stream share one answer: nothing follows it, so it may move forward.
      tail.revision = this.hub.notifiedRevision;
      return;
    }
    this.enqueue(response(this.hub.notifiedRevision, INVALID_WATCH_ID, {}));
  }

  private catchUp(): void {
    if (this.catchingUp) return;
    this.catchingUp = true;
    this.runCatchUp().finally(() => {
      this.catchingUp = false;
    });
  }

  private async runCatchUp(): Promise<void> {
    while (!this.closed && !this.blocked) {
      const toRevision = this.hub.notifiedRevision;
      this.cancelCompacted(this.hub.compactRevision);
      let fromRevision = Number.POSITIVE_INFINITY;
      for (const watcher of this.watchers.values()) {
        if (watcher.synced) continue;
        if (watcher.nextRevision > toRevision) watcher.synced = true;
        else fromRevision = Math.min(fromRevision, watcher.nextRevision);
      }
      if (fromRevision === Number.POSITIVE_INFINITY) break;
      fromRevision = Math.max(fromRevision, 1);

      let batch: { events: MvccEvent[]; lastRevision: number };
      try {
        batch = await this.hub.readComplete(fromRevision, toRevision);
      } catch (error) {
        if (this.closed) return;
        if (isEtcdError(error, 'Compacted')) {
          this.cancelCompactedAt(fromRevision);
          continue;
        }
        this.cancelUnsynced(error instanceof Error ? error.message : String(error));
        break;
      }
      if (this.closed) return;
      this.deliverHistory(fromRevision, batch.events, batch.lastRevision);
    }
    this.sendDeferredProgressIfSynced();
  }

  private deliverHistory(fromRevision: number, events: MvccEvent[], lastRevision: number): void {
    const currentRevision = this.hub.notifiedRevision;
    for (const watcher of this.watchers.values()) {
      // A watcher created or fallen behind during the read may start before the batch: it waits for the next round.
      if (watcher.synced || watcher.nextRevision < fromRevision || watcher.nextRevision > lastRevision) continue;
      const matching = events.filter((event) => event.kv.modRevision >= watcher.nextRevision && matches(watcher, event));
      if (matching.length > 0) this.sendEvents(watcher, currentRevision, matching);
      watcher.nextRevision = lastRevision + 1;
      if (watcher.nextRevision > currentRevision) watcher.synced = true;
    }
  }

  private cancelCompacted(compactRevision: number): void {
    for (const watcher of [...this.watchers.values()]) {
      if (!watcher.synced && watcher.nextRevision < compactRevision) {
        this.remove(watcher);
        this.enqueue(response(this.hub.notifiedRevision, watcher.id, { canceled: true, compactRevision }));
      }
    }
  }

  /** History refused `fromRevision` as compacted: cancel at least the watchers waiting for it, so the loop progresses. */
  private cancelCompactedAt(fromRevision: number): void {
    const compactRevision = Math.max(this.hub.compactRevision, fromRevision + 1);
    this.cancelCompacted(compactRevision);
  }

  private cancelUnsynced(cancelReason: string): void {
    for (const watcher of [...this.watchers.values()]) {
      if (watcher.synced) continue;
      this.remove(watcher);
      this.enqueue(response(this.hub.notifiedRevision, watcher.id, { canceled: true, cancelReason }));
    }
  }
}

export function matches(watcher: Watcher, event: MvccEvent): boolean {
  if (event.type === EventType.PUT ? watcher.filterPut : watcher.filterDelete) return false;
  return watchRangeContains(watcher.range, event.kv.key);
}

function isProgressResponse(r: WatchStreamResponse): boolean {
  return r.watchId === INVALID_WATCH_ID && !r.created && !r.canceled && r.events.length === 0;
}

function withoutPrevKv(event: MvccEvent): MvccEvent {
  return event.prevKv === undefined ? event : { type: event.type, kv: event.kv };
}

function response(revision: number, watchId: number, fields: Partial<WatchStreamResponse>): WatchStreamResponse {
  return {
    revision, watchId, created: false, canceled: false, compactRevision: 0, cancelReason: '', fragment: false,
    events: [], ...fields,
  };
}
