// One client watch stream inside the WatchHub: its watchers, the queue of responses held back while
// the transport is full, and the catch-up of its unsynced watchers from history.
//
// A stream whose transport filled up is congested: its client reads slower than events come. So is
// one offered more responses in a pacing interval than etcd's stream queues for its sender (its
// watchers get revisions faster than a client takes one response per revision: each costs the
// client more than its events do). Until it has been quiet for a while, a congested stream gives
// each watcher one response per pacing tick: the first at once when nothing waits before it, later
// revisions joining the watcher's response held back for the next tick, as etcd's slow watchers get
// theirs.
//
// A watcher is either *synced* (it gets events live from notify, for revisions >= nextRevision) or
// *unsynced* (it needs history from nextRevision on). Every change of nextRevision and of the synced
// flag happens synchronously, between notify calls, so that the switch from history to live events
// has no gap and no duplicate:
//  - catch-up reads history up to the last revision notified *when the read started* (R), delivers
//    it, sets nextRevision = R + 1, and becomes synced only if no notify came in meanwhile;
//  - a synced watcher whose stream is full at revision R becomes unsynced with nextRevision = R.
import { EtcdError, isEtcdError } from '../errors.js';
import { StoredPutEvent } from '../mvcc/stored-event.js';
import { EventType, type MvccEvent } from '../mvcc/types.js';
import { normalizeWatchRange, watchRangeContains, type WatchKeyRange } from './key-range.js';
import { eventBytes, fragmentResponse, watchResponseBytes } from './response-size.js';
import {
  WatchFilter, watchStreamResponse, type WatchCreateRequest, type WatchResponseFlags, type WatchStream, type WatchStreamOptions,
  type WatchStreamResponse,
} from './types.js';
import { emptyObjectArray } from '../object-array.js';

export interface Watcher {
  readonly id: number;
  readonly stream: HubWatchStream;
  readonly range: WatchKeyRange;
  readonly filterPut: boolean;
  readonly filterDelete: boolean;
  /** Range and filters as one string: watchers with equal ones match the same events. */
  readonly selection: string;
  readonly prevKv: boolean;
  readonly fragment: boolean;
  readonly progressNotify: boolean;
  /** The first revision this watcher has not been given (nor skipped as not matching). */
  nextRevision: number;
  synced: boolean;
  /** Events went out since the last progress tick: etcd elides the next progress notification. */
  sentEventsSinceTick: boolean;
  /**
   * This watcher's last events response held back in its stream's queue, at `queuedIndex`, of about
   * `queuedBytes` encoded: later events join it while the stream stays full (see HubWatchStream.merge).
   * Stale once that queue slot holds anything else.
   */
  queuedResponse: WatchStreamResponse | undefined;
  queuedIndex: number;
  queuedBytes: number;
  /**
   * The pacing tick whose interval holds this watcher's last response: sent at once in it, or held
   * back during the interval before it and sent at its start.
   */
  responseTick: number;
  /** queuedResponse.events is this stream's own list (not one shared with other watchers): it may grow in place. */
  queuedEventsOwned: boolean;
}

/** What a stream needs from its hub. */
export interface WatchHubContext {
  readonly notifiedRevision: number;
  /** A response with `count` events went to a stream's transport (etcd_debugging_mvcc_events_total). */
  countSentEvents(count: number): void;
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
  /**
   * Calls stream.pacingTick() on every pacing tick until stopPacing; false when pacing is off (the
   * stream then sends on every drain).
   */
  startPacing(stream: HubWatchStream): boolean;
  stopPacing(stream: HubWatchStream): void;
  /** A congested stream goes back to sending at once after this many quiet pacing ticks. */
  readonly congestionQuietTicks: number;
  /** More responses offered in one pacing interval than this make a stream congested. */
  readonly congestionResponsesPerTick: number;
  readonly congestedFlushIntervalMs: number;
  /** Counts pacing ticks; it moves only while some stream is paced. */
  readonly pacingTicks: number;
  now(): number;
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
  /**
   * Queue slots below this hold responses that events must not join: a progress or control response
   * was queued after them, and events moved ahead of it would break what it says.
   */
  private mergeFloor = 0;
  /** The transport reported a full buffer: nothing is sent until it drains (resume). */
  private blocked = false;
  /**
   * Congested: the transport was full not long ago, so the client reads slower than events come.
   * Responses then wait in the queue, events joining per watcher, and go out on the pacing tick
   * (etcd likewise hands a slow watcher its pending events in one response every few ms rather than
   * one response per revision). Ends after congestionQuietTicks ticks without a full transport.
   */
  private paced = false;
  /** Pacing ticks since the transport was last full or the stream was last offered too much. */
  private quietTicks = 0;
  /** The transport was full in this pacing interval: everything waits for the tick, even once it drained. */
  private fullThisTick = false;
  /** Responses offered (before any joining) since `offeredSinceMs`, or, while paced, since the last tick. */
  private offered = 0;
  private offeredSinceMs: number;
  private closed = false;
  private catchingUp = false;
  private deferredProgress = false;
  private progressTimer: unknown = undefined;

  constructor(
    private readonly hub: WatchHubContext,
    private readonly send: (response: WatchStreamResponse) => boolean,
    private readonly options: WatchStreamOptions = {},
  ) {
    this.offeredSinceMs = hub.now();
  }

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
    const filterPut = request.filters.includes(WatchFilter.NOPUT);
    const filterDelete = request.filters.includes(WatchFilter.NODELETE);
    const watcher: Watcher = {
      id, stream: this, range, filterPut, filterDelete,
      selection: selectionOf(range, filterPut, filterDelete),
      prevKv: request.prevKv, fragment: request.fragment, progressNotify: request.progressNotify,
      nextRevision: startRevision, synced: startRevision > currentRevision, sentEventsSinceTick: false,
      queuedResponse: undefined, queuedIndex: 0, queuedBytes: 0, queuedEventsOwned: false, responseTick: -1,
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
    // A congested stream sends on its next pacing tick, with whatever has joined the queue by then.
    if (!this.paced) this.flush();
  }

  /** The pacing tick of a congested stream: send what waits, and leave pacing once the client keeps up. */
  pacingTick(): void {
    if (this.closed || !this.paced || this.blocked) return;
    const busy = this.offered > this.hub.congestionResponsesPerTick;
    this.offered = 0;
    this.fullThisTick = false;
    this.flush();
    if (this.blocked) return; // full again: transmit restarted the quiet count
    if (busy) {
      this.quietTicks = 0;
      return;
    }
    this.quietTicks++;
    if (this.queueHead === this.queue.length && this.quietTicks >= this.hub.congestionQuietTicks) {
      this.paced = false;
      this.hub.stopPacing(this);
      this.offeredSinceMs = this.hub.now();
    }
  }

  /** Sends the queue until the transport is full; then catches up unsynced watchers. */
  private flush(): void {
    while (this.queueHead < this.queue.length && !this.blocked) {
      const next = this.queue[this.queueHead];
      this.queue[this.queueHead++] = undefined as never;
      this.queuedEvents -= next.events.length;
      this.transmit(next);
    }
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
      this.mergeFloor = 0;
    }
    if (!this.blocked) this.catchUp();
  }

  /** Whether a response must wait in the queue rather than go out now. */
  private get holding(): boolean {
    return this.blocked || this.paced;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const watcher of this.watchers.values()) this.hub.unregister(watcher);
    this.watchers.clear();
    this.queue = [];
    this.queueHead = 0;
    this.queuedEvents = 0;
    this.mergeFloor = 0;
    if (this.progressTimer !== undefined) this.hub.stopProgressTimer(this.progressTimer);
    this.progressTimer = undefined;
    if (this.paced) this.hub.stopPacing(this);
    this.paced = false;
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
    if (this.holding && this.queuedEvents + events.length > this.hub.streamQueuedEventsMax) {
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
    const shaped = watcher.prevKv ? events : eventsWithoutPrevKv(events);
    watcher.sentEventsSinceTick = true;
    this.countOffered();
    if (this.holding && !watcher.fragment && this.merge(watcher, revision, shaped)) return;
    const full = watchStreamResponse(revision, watcher.id, shaped);
    if (watcher.fragment) {
      for (const part of fragmentResponse(full, this.hub.maxRequestBytes)) this.enqueue(part);
      return;
    }
    const tick = this.hub.pacingTicks;
    if (this.paced && !this.fullThisTick && !this.blocked && this.queueHead === this.queue.length && watcher.responseTick < tick) {
      // The watcher's one response of this interval, and nothing waits that it could overtake.
      watcher.responseTick = tick;
      this.transmit(full);
      return;
    }
    this.enqueue(full);
    const index = this.queue.length - 1;
    if (this.queue[index] === full) {
      watcher.queuedResponse = full;
      watcher.queuedIndex = index;
      watcher.queuedBytes = -1; // measured at the first merge: most responses never see one
      watcher.queuedEventsOwned = false;
      // It goes out at the next tick: that interval's response.
      watcher.responseTick = tick + 1;
    }
  }

  /**
   * Counts a response offered. A stream not paced reads the clock once per congestionResponsesPerTick
   * responses: that many within one pacing interval make it congested. A paced stream's count is
   * judged at each tick (pacingTick).
   */
  private countOffered(): void {
    if (++this.offered < this.hub.congestionResponsesPerTick || this.paced || this.hub.congestedFlushIntervalMs <= 0) return;
    const now = this.hub.now();
    const congested = now - this.offeredSinceMs < this.hub.congestedFlushIntervalMs;
    this.offered = 0;
    this.offeredSinceMs = now;
    if (congested && !this.closed) {
      this.quietTicks = 0;
      this.paced = this.hub.startPacing(this);
    }
  }

  /**
   * A full stream holds a watcher's events back; etcd then hands a slow watcher its pending
   * revisions in one response. Here later revisions join the watcher's last held-back response
   * while it is still queued (nothing but other watchers' events after it) and stays under
   * --max-request-bytes, so a client that fell behind reads a few large responses instead of one
   * per revision. Revisions stay whole and in order; the header carries the newest revision.
   */
  private merge(watcher: Watcher, revision: number, events: MvccEvent[]): boolean {
    const queued = watcher.queuedResponse;
    if (queued === undefined || watcher.queuedIndex < this.mergeFloor || watcher.queuedIndex < this.queueHead ||
      this.queue[watcher.queuedIndex] !== queued) {
      watcher.queuedResponse = undefined;
      return false;
    }
    if (watcher.queuedBytes < 0) watcher.queuedBytes = watchResponseBytes(queued);
    let bytes = watcher.queuedBytes;
    for (const event of events) bytes += eventBytes(event);
    if (bytes >= this.hub.maxRequestBytes) {
      watcher.queuedResponse = undefined;
      return false;
    }
    if (!watcher.queuedEventsOwned) {
      // The list may be shared with other watchers (one notify, one list): copy before growing it.
      queued.events = queued.events.slice();
      watcher.queuedEventsOwned = true;
    }
    for (const event of events) queued.events.push(event);
    queued.revision = Math.max(queued.revision, revision);
    watcher.queuedBytes = bytes;
    this.queuedEvents += events.length;
    return true;
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
    if (!this.holding) {
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
    if (r.events.length === 0) this.mergeFloor = this.queue.length;
  }

  private transmit(r: WatchStreamResponse): void {
    let accepted: boolean;
    try {
      accepted = this.send(r);
      // Taken either way: false only says the transport is full now.
      if (r.events.length > 0) this.hub.countSentEvents(r.events.length);
    } catch (error) {
      // A transport that throws is gone; the stream must not take apply (our caller) down with it.
      this.end(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    if (accepted) return;
    this.blocked = true;
    this.fullThisTick = true;
    this.quietTicks = 0;
    if (!this.paced && !this.closed) this.paced = this.hub.startPacing(this);
  }

  private sendDeferredProgressIfSynced(): void {
    if (!this.deferredProgress || this.closed) return;
    for (const watcher of this.watchers.values()) if (!watcher.synced) return;
    this.deferredProgress = false;
    const tail = this.queue[this.queue.length - 1];
    if (this.holding && tail !== undefined && this.queue.length > this.queueHead && isProgressResponse(tail)) {
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
    // A congested stream reads one batch per pacing tick: the next waits until the queue went out.
    while (!this.closed && !this.blocked && !(this.paced && this.queueHead < this.queue.length)) {
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
    // Watchers of one range, filters and start share one list: matched once, and encoded once.
    const matchingBySelection = new Map<string, MvccEvent[]>();
    for (const watcher of this.watchers.values()) {
      // A watcher created or fallen behind during the read may start before the batch: it waits for the next round.
      if (watcher.synced || watcher.nextRevision < fromRevision || watcher.nextRevision > lastRevision) continue;
      const selection = `${watcher.nextRevision}:${watcher.selection}`;
      let matching = matchingBySelection.get(selection);
      if (matching === undefined) {
        matching = events.filter((event) => event.kv.modRevision >= watcher.nextRevision && matches(watcher, event));
        matchingBySelection.set(selection, matching);
      }
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

/** Unambiguous: the end, when there is one, is length-prefixed. */
function selectionOf(range: WatchKeyRange, filterPut: boolean, filterDelete: boolean): string {
  const end = range.end === undefined ? 's' : `r${range.end.length}:${range.end.toString('latin1')}`;
  return `${filterPut ? 1 : 0}${filterDelete ? 1 : 0}${end}:${range.key.toString('latin1')}`;
}

/** For a watcher already known to watch the event's key: only its type filters decide. */
export function passesFilters(watcher: Watcher, event: MvccEvent): boolean {
  return !(event.type === EventType.PUT ? watcher.filterPut : watcher.filterDelete);
}

function isProgressResponse(r: WatchStreamResponse): boolean {
  return r.watchId === INVALID_WATCH_ID && !r.created && !r.canceled && r.events.length === 0;
}

/**
 * The prevKv-less copy of each event, made once and shared by every watcher without prev_kv, so
 * that a transport can encode it once for all of them (events and event lists are immutable once
 * notified). A list is kept too: notify hands one list to every watcher of a one-event revision.
 */
const withoutPrevKvCopies = new WeakMap<MvccEvent, MvccEvent>();
const listsWithoutPrevKv = new WeakMap<MvccEvent[], MvccEvent[]>();

/** Without decoding a lazily decoded prevKv (stored-event.ts): it would then live in the history cache. */
function carriesPrevKv(event: MvccEvent): boolean {
  return event.hasPrevKv ?? event.prevKv !== undefined;
}

/**
 * Whether a watcher without prev_kv gets a copy: of an event with a prevKv, and of every put's
 * StoredPutEvent, so that such watchers see puts in one shape only ({ type, kv }). A key's first put
 * has no prevKv; passed on as it is, the encoder met a second shape there that it had not seen in
 * V8's first feedback, and its optimized code was thrown away (V8's --trace-deopt: "wrong map" in
 * the event encoder at the first put of a key, then a dozen recompiles down the watch path).
 */
function copiedWithoutPrevKv(event: MvccEvent): boolean {
  return event instanceof StoredPutEvent || carriesPrevKv(event);
}

function withoutPrevKv(event: MvccEvent): MvccEvent {
  if (!copiedWithoutPrevKv(event)) return event;
  let copy = withoutPrevKvCopies.get(event);
  if (copy === undefined) {
    copy = { type: event.type, kv: event.kv };
    withoutPrevKvCopies.set(event, copy);
  }
  return copy;
}

function eventsWithoutPrevKv(events: MvccEvent[]): MvccEvent[] {
  let copy = listsWithoutPrevKv.get(events);
  if (copy === undefined) {
    if (events.some(copiedWithoutPrevKv)) {
      // Pushed, not mapped: map() gives a packed array while interpreted and a holey one once
      // TurboFan has inlined it (checked with %HasHoleyElements): two hidden classes for the encoder.
      copy = emptyObjectArray<MvccEvent>();
      for (const event of events) copy.push(withoutPrevKv(event));
    } else {
      copy = events;
    }
    listsWithoutPrevKv.set(events, copy);
  }
  return copy;
}

/** A response without events (created, canceled, progress). */
function response(revision: number, watchId: number, flags: WatchResponseFlags): WatchStreamResponse {
  return watchStreamResponse(revision, watchId, emptyObjectArray<MvccEvent>(), flags);
}
