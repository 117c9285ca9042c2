// WatchHub fans committed events out to watch streams. Apply calls `notify` once per write revision;
// the hub finds the synced watchers whose range matches (single-key watchers through a key map,
// range watchers by a scan) and hands each its events. It never waits on a client: a full stream
// holds responses back up to a bound, then its watchers fall back to catching up from history.
// Imports: mvcc types only; history comes through the WatchableHistory interface.
import { EtcdError } from '../errors.js';
import type { MvccEvent } from '../mvcc/types.js';
import { LeaderWatchdog, type LeaderProbe } from './leader-watchdog.js';
import { HubWatchStream, matches, passesFilters, type WatchHubContext, type Watcher } from './watch-stream.js';
import type { WatchableHistory, WatchStream, WatchStreamOptions, WatchStreamResponse, WatchTimer } from './types.js';

export interface WatchHubOptions {
  history: WatchableHistory;
  /** --max-request-bytes: the fragment size limit. */
  maxRequestBytes?: number;
  /** --watch-progress-notify-interval. */
  progressNotifyIntervalMs?: number;
  timer?: WatchTimer;
  /** Events held back per full stream before its watchers are switched to catch-up. */
  streamQueuedEventsMax?: number;
  /**
   * How often a congested stream (its transport was full lately) sends what it held back, each
   * watcher's events in one response; 0 sends at once on every drain instead.
   */
  congestedFlushIntervalMs?: number;
  /** A congested stream whose transport stayed unfull this long sends at once again. */
  congestionQuietMs?: number;
  /**
   * A stream offered more responses than this within one pacing interval is congested too, though
   * its transport never filled (see HubWatchStream.countOffered).
   */
  congestionResponsesPerTick?: number;
  /** Events read from history per catch-up round. */
  catchUpBatchEventsMax?: number;
  /** Events of one revision read at once when a single revision outgrows a catch-up batch. */
  revisionEventsMax?: number;
  watchersPerStreamMax?: number;
  streamCountMax?: number;
  /** Whether the member has a leader: without it, streams opened with requireLeader never end for want of one. */
  leader?: LeaderProbe;
}

const defaults = {
  maxRequestBytes: 1_572_864,
  progressNotifyIntervalMs: 10 * 60 * 1000,
  streamQueuedEventsMax: 1024,
  // etcd retries its slow ("victim") watchers every 10 ms and syncs lagging ones every 100 ms.
  congestedFlushIntervalMs: 10,
  congestionQuietMs: 100,
  // etcd's watch stream queues 128 responses for its sender; the watchers it cannot queue for wait
  // as victims and get their events together later.
  congestionResponsesPerTick: 128,
  catchUpBatchEventsMax: 1000,
  revisionEventsMax: 1_000_000,
  watchersPerStreamMax: 100_000,
  streamCountMax: 100_000,
};

const globalTimer: WatchTimer = {
  setInterval: (callback, intervalMs) => {
    const handle = setInterval(callback, intervalMs);
    handle.unref();
    return handle;
  },
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
  now: () => performance.now(),
};

export class WatchHub implements WatchHubContext {
  readonly maxRequestBytes: number;
  readonly streamQueuedEventsMax: number;
  readonly watchersPerStreamMax: number;
  readonly congestionQuietTicks: number;
  readonly congestionResponsesPerTick: number;
  readonly congestedFlushIntervalMs: number;
  /** Pacing ticks so far: a congested stream gives each watcher one response per tick. */
  private pacingTickCount = 0;
  private readonly history: WatchableHistory;
  private readonly progressNotifyIntervalMs: number;
  private readonly timer: WatchTimer;
  private readonly catchUpBatchEventsMax: number;
  private readonly revisionEventsMax: number;
  private readonly streamCountMax: number;
  private lastNotifiedRevision: number;
  private sentEvents = 0;
  private readonly streams = new Set<HubWatchStream>();
  /** Single-key watchers by their key in latin1 (a lossless byte-to-char mapping). */
  private readonly singleKeyWatchers = new Map<string, Set<Watcher>>();
  private readonly rangeWatchers = new Set<Watcher>();
  /** Congested streams, ticked together by one timer that runs while there are any. */
  private readonly pacedStreams = new Set<HubWatchStream>();
  private pacingTimer: unknown = undefined;
  private readonly leaderWatchdog: LeaderWatchdog | undefined;
  private closed = false;

  constructor(options: WatchHubOptions) {
    this.history = options.history;
    this.maxRequestBytes = options.maxRequestBytes ?? defaults.maxRequestBytes;
    this.progressNotifyIntervalMs = options.progressNotifyIntervalMs ?? defaults.progressNotifyIntervalMs;
    this.timer = options.timer ?? globalTimer;
    this.streamQueuedEventsMax = options.streamQueuedEventsMax ?? defaults.streamQueuedEventsMax;
    this.congestedFlushIntervalMs = options.congestedFlushIntervalMs ?? defaults.congestedFlushIntervalMs;
    const congestionQuietMs = options.congestionQuietMs ?? defaults.congestionQuietMs;
    this.congestionQuietTicks = this.congestedFlushIntervalMs > 0 ? Math.max(1, Math.ceil(congestionQuietMs / this.congestedFlushIntervalMs)) : 0;
    this.congestionResponsesPerTick = options.congestionResponsesPerTick ?? defaults.congestionResponsesPerTick;
    this.catchUpBatchEventsMax = options.catchUpBatchEventsMax ?? defaults.catchUpBatchEventsMax;
    this.revisionEventsMax = options.revisionEventsMax ?? defaults.revisionEventsMax;
    this.watchersPerStreamMax = options.watchersPerStreamMax ?? defaults.watchersPerStreamMax;
    this.streamCountMax = options.streamCountMax ?? defaults.streamCountMax;
    if (this.catchUpBatchEventsMax < 1) throw new Error('WatchHub: catchUpBatchEventsMax must be >= 1');
    this.lastNotifiedRevision = this.history.currentRevision;
    this.leaderWatchdog = options.leader === undefined ? undefined
      : new LeaderWatchdog(options.leader, this.timer, () => this.endRequireLeaderStreams());
  }

  /** The last revision apply told the hub about: the store's current revision as watchers see it. */
  get notifiedRevision(): number {
    return this.lastNotifiedRevision;
  }

  get streamCount(): number {
    return this.streams.size;
  }

  /** Watchers that are catching up from history (etcd's slow_watcher_total). */
  get unsyncedWatcherCount(): number {
    let count = 0;
    for (const stream of this.streams) count += stream.unsyncedWatcherCount;
    return count;
  }

  /** Events handed to the streams' transports so far, each watcher's copy counted (etcd's events_total). */
  get eventsSent(): number {
    return this.sentEvents;
  }

  countSentEvents(count: number): void {
    this.sentEvents += count;
  }

  get watcherCount(): number {
    let count = 0;
    for (const stream of this.streams) count += stream.watcherCount;
    return count;
  }

  /** `send` returns false when the transport is full: the stream then holds back until `resume()`. */
  openStream(send: (response: WatchStreamResponse) => boolean, options: WatchStreamOptions = {}): WatchStream {
    if (this.closed) throw new EtcdError('Stopped');
    if (this.streams.size >= this.streamCountMax) throw new EtcdError('TooManyRequests');
    const stream = new HubWatchStream(this, send, options);
    this.streams.add(stream);
    return stream;
  }

  /**
   * The store was replaced by an installed snapshot at `revision` (a member that fell behind the
   * leader's log): revisions between the last notified one and `revision` were never notified, so
   * every watcher catches up from the new store's history from where it stands.
   */
  restored(revision: number): void {
    if (revision < this.lastNotifiedRevision) {
      throw new Error(`WatchHub.restored: revision ${revision} is behind ${this.lastNotifiedRevision}`);
    }
    // Synced watchers have had (or have queued) every event up to the last notified revision.
    const firstMissedRevision = this.lastNotifiedRevision + 1;
    this.lastNotifiedRevision = revision;
    for (const stream of this.streams) stream.desynchronize(firstMissedRevision);
  }

  /** Server shutdown: every stream ends and its owner is told EtcdError('Stopped'); no stream opens afterwards. */
  close(): void {
    this.closed = true;
    this.leaderWatchdog?.stop();
    for (const stream of [...this.streams]) stream.end(new EtcdError('Stopped'));
  }

  /** The member has been without a leader too long: streams that asked for one end, as etcd cancels them. */
  private endRequireLeaderStreams(): void {
    for (const stream of [...this.streams]) if (stream.requiresLeader) stream.end(new EtcdError('NoLeader'));
  }

  /**
   * Apply calls this after each write revision is applied, with that revision's events (carrying
   * prevKv). The list and its events are handed on to watchers as they are: never change them afterwards.
   */
  notify(revision: number, events: MvccEvent[]): void {
    if (!(revision > this.lastNotifiedRevision)) {
      throw new Error(`WatchHub.notify: revision ${revision} after ${this.lastNotifiedRevision}: revisions must grow`);
    }
    this.lastNotifiedRevision = revision;
    // Before the events are read: mvcc decodes an event's key-value when it is first read (see
    // StoredPutEvent), and with nobody watching nothing needs it.
    if (this.singleKeyWatchers.size === 0 && this.rangeWatchers.size === 0) return;
    for (const event of events) {
      if (event.kv.modRevision !== revision) {
        throw new Error(`WatchHub.notify: event at revision ${event.kv.modRevision} notified as revision ${revision}`);
      }
    }

    if (events.length === 1) {
      // The common case, one event per revision: every matching watcher gets the same list, with no
      // per-watcher collection (a watcher created by a send during the loop starts after `revision`).
      const event = events[0]!;
      const exact = this.singleKeyWatchers.get(event.kv.key.toString('latin1'));
      if (exact !== undefined) {
        for (const watcher of exact) {
          if (watcher.synced && revision >= watcher.nextRevision && passesFilters(watcher, event)) watcher.stream.deliverLive(watcher, revision, events);
        }
      }
      for (const watcher of this.rangeWatchers) {
        if (watcher.synced && revision >= watcher.nextRevision && matches(watcher, event)) watcher.stream.deliverLive(watcher, revision, events);
      }
      return;
    }
    const eventsByWatcher = new Map<Watcher, MvccEvent[]>();
    const offer = (watcher: Watcher, event: MvccEvent) => {
      if (!watcher.synced || revision < watcher.nextRevision || !matches(watcher, event)) return;
      const list = eventsByWatcher.get(watcher);
      if (list === undefined) eventsByWatcher.set(watcher, [event]);
      else list.push(event);
    };
    for (const event of events) {
      const exact = this.singleKeyWatchers.get(event.kv.key.toString('latin1'));
      if (exact !== undefined) for (const watcher of exact) offer(watcher, event);
      for (const watcher of this.rangeWatchers) offer(watcher, event);
    }
    for (const [watcher, watcherEvents] of eventsByWatcher) watcher.stream.deliverLive(watcher, revision, watcherEvents);
  }

  // ---- WatchHubContext: used by the streams ----

  get compactRevision(): number {
    return this.history.compactRevision;
  }

  async readComplete(fromRevision: number, toRevision: number): Promise<{ events: MvccEvent[]; lastRevision: number }> {
    const events = await this.history.history(fromRevision, toRevision, this.catchUpBatchEventsMax);
    checkHistory(events, fromRevision, toRevision);
    if (events.length < this.catchUpBatchEventsMax) return { events, lastRevision: toRevision };
    // The batch may end inside a revision: keep only whole revisions, the rest comes next round.
    const lastRevision = events[events.length - 1].kv.modRevision;
    let end = events.length;
    while (end > 0 && events[end - 1].kv.modRevision === lastRevision) end--;
    if (end > 0) return { events: events.slice(0, end), lastRevision: lastRevision - 1 };
    const whole = await this.history.history(lastRevision, lastRevision, this.revisionEventsMax);
    checkHistory(whole, lastRevision, lastRevision);
    if (whole.length >= this.revisionEventsMax) {
      throw new Error(`WatchHub: revision ${lastRevision} holds more than ${this.revisionEventsMax} events`);
    }
    return { events: whole, lastRevision };
  }

  register(watcher: Watcher): void {
    if (watcher.range.end !== undefined) {
      this.rangeWatchers.add(watcher);
      return;
    }
    const key = watcher.range.key.toString('latin1');
    let set = this.singleKeyWatchers.get(key);
    if (set === undefined) this.singleKeyWatchers.set(key, (set = new Set()));
    set.add(watcher);
  }

  unregister(watcher: Watcher): void {
    if (watcher.range.end !== undefined) {
      this.rangeWatchers.delete(watcher);
      return;
    }
    const key = watcher.range.key.toString('latin1');
    const set = this.singleKeyWatchers.get(key);
    set?.delete(watcher);
    if (set?.size === 0) this.singleKeyWatchers.delete(key);
  }

  startProgressTimer(stream: HubWatchStream): unknown {
    return this.timer.setInterval(() => stream.progressTick(), this.progressNotifyIntervalMs);
  }

  stopProgressTimer(handle: unknown): void {
    this.timer.clearInterval(handle);
  }

  get pacingTicks(): number {
    return this.pacingTickCount;
  }

  now(): number {
    return this.timer.now();
  }

  startPacing(stream: HubWatchStream): boolean {
    if (this.congestedFlushIntervalMs <= 0) return false;
    this.pacedStreams.add(stream);
    if (this.pacingTimer === undefined) {
      // A new interval: what watchers got before the timer stopped does not count against it.
      this.pacingTickCount++;
      this.pacingTimer = this.timer.setInterval(() => {
        this.pacingTickCount++;
        for (const paced of [...this.pacedStreams]) paced.pacingTick();
      }, this.congestedFlushIntervalMs);
    }
    return true;
  }

  stopPacing(stream: HubWatchStream): void {
    this.pacedStreams.delete(stream);
    if (this.pacedStreams.size > 0 || this.pacingTimer === undefined) return;
    this.timer.clearInterval(this.pacingTimer);
    this.pacingTimer = undefined;
  }

  streamClosed(stream: HubWatchStream): void {
    this.streams.delete(stream);
  }
}

/** History is trusted only after this check: a wrong order here would break the watch guarantees silently. */
function checkHistory(events: MvccEvent[], fromRevision: number, toRevision: number): void {
  let previous = fromRevision;
  for (const event of events) {
    const revision = event.kv.modRevision;
    if (revision < previous || revision > toRevision) {
      throw new Error(`WatchHub: history(${fromRevision}, ${toRevision}) returned revision ${revision} out of order`);
    }
    previous = revision;
  }
}
