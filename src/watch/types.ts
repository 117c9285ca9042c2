// The watch stream contract between the API layers and WatchHub.
import type { MvccEvent } from '../mvcc/types.js';

export const WatchFilter = { NOPUT: 0, NODELETE: 1 } as const;

export interface WatchCreateRequest {
  key: Buffer;
  rangeEnd: Buffer;
  /** 0: from now on (current revision + 1). */
  startRevision: number;
  progressNotify: boolean;
  filters: number[];
  prevKv: boolean;
  /** 0: the stream assigns the next free id. */
  watchId: number;
  fragment: boolean;
}

export interface WatchStreamResponse {
  /** header.revision to report. */
  revision: number;
  watchId: number;
  created: boolean;
  canceled: boolean;
  compactRevision: number;
  cancelReason: string;
  fragment: boolean;
  events: MvccEvent[];
}

export type WatchResponseFlags = Partial<Pick<WatchStreamResponse, 'created' | 'canceled' | 'compactRevision' | 'cancelReason' | 'fragment'>>;

/**
 * Every WatchStreamResponse is made here, by one object literal: the encoders then see responses of
 * one hidden class. When created, cancel and progress responses were built with a spread and event
 * responses with a literal of their own, V8's code for the encoder, optimized on event responses,
 * was thrown away at each new watcher's created response and compiled again (--trace-deopt: "wrong
 * map"). `events` should hold objects from its start (object-array.ts), as lists of events do.
 */
export function watchStreamResponse(revision: number, watchId: number, events: MvccEvent[], flags?: WatchResponseFlags): WatchStreamResponse {
  return {
    revision, watchId, created: flags?.created ?? false, canceled: flags?.canceled ?? false,
    compactRevision: flags?.compactRevision ?? 0, cancelReason: flags?.cancelReason ?? '', fragment: flags?.fragment ?? false,
    events,
  };
}

/** How a stream's owner asks for etcd's per-stream behaviours and learns that the server ended the stream. */
export interface WatchStreamOptions {
  /**
   * etcd's `hasleader=true` metadata: the stream ends with EtcdError('NoLeader') once the member
   * has been without a leader for a few election timeouts, so the client moves to another member.
   */
  requireLeader?: boolean;
  /**
   * Called once when the server ends the stream on its own (server stop: EtcdError('Stopped'); no
   * leader: EtcdError('NoLeader'); a client that reads nothing: EtcdError('TooManyRequests'); the
   * transport's own error when `send` threw), after every response it sent. Not called when the owner
   * closes the stream itself: the owner already knows.
   */
  onClosed?: (reason: Error) => void;
}

export interface WatchStream {
  create(request: WatchCreateRequest): void;
  cancel(watchId: number): void;
  /** A progress request: answered with watch_id -1 and the current revision when all watchers are synced. */
  progress(): void;
  /**
   * The transport drained its buffer after `send` returned false: resume sending (a stream the hub
   * paces because its client reads slower than events come sends on its next pacing tick).
   */
  resume(): void;
  /** The owner is done with the stream: no responses and no onClosed notice follow. */
  close(): void;
}

/**
 * What the hub needs from mvcc: the store itself satisfies it (or a thin adapter in server/), and
 * tests drive the hub with an in-memory history.
 */
export interface WatchableHistory {
  /** The revision of the last applied write. */
  readonly currentRevision: number;
  /** History below this revision is gone; a read starting at it succeeds. */
  readonly compactRevision: number;
  /**
   * Events with fromRevision <= revision <= toRevision, in revision order, each with prevKv when
   * available; at most maxEvents of them (the last revision may be cut short: the hub refetches it).
   * May reject with EtcdError('Compacted') when fromRevision is below the compact revision.
   */
  history(fromRevision: number, toRevision: number, maxEvents: number): Promise<MvccEvent[]>;
}

/** Interval timers and a clock, injectable so that tests drive progress notifications and pacing by hand. */
export interface WatchTimer {
  setInterval(callback: () => void, intervalMs: number): unknown;
  clearInterval(handle: unknown): void;
  /** Milliseconds on a monotonic clock. */
  now(): number;
}
