// One watch (a key or a range, from a revision) on its own server watch stream, read one response
// at a time by an async waiter. The queue between the stream and the reader is bounded: when it is
// full, `send` says so and the watch stream holds further events back until the reader catches up.
// A cancelled watch (compaction, server refusal), a stream the server ended (stop: "etcdserver: server
// stopped", lost leader) or an aborted caller ends the watch with an error.
import { EtcdError } from '../errors.js';
import type { RequestContext, EtcdServerApi } from '../server/server-api.js';
import type { WatchStream, WatchStreamResponse } from '../watch/types.js';
import { abortError } from './errors.js';

/** Event responses held for a slow reader before the watch stream is asked to hold back. */
export const keyWatchResponsesQueuedMax = 64;

export interface KeyWatchOptions {
  key: Buffer;
  /** Empty: the key alone. */
  rangeEnd: Buffer;
  startRevision: number;
  signal: AbortSignal;
  ctx?: RequestContext;
}

type Waiter = { resolve: (response: WatchStreamResponse) => void; reject: (error: Error) => void };

export class KeyWatch {
  private readonly stream: WatchStream;
  private readonly queue: WatchStreamResponse[] = [];
  private waiter: Waiter | undefined;
  private failure: Error | undefined;
  private heldBack = false;
  private closed = false;
  private readonly onAbort = (): void => this.fail(abortError(this.options.signal), true);

  constructor(server: Pick<EtcdServerApi, 'openWatchStream'>, private readonly options: KeyWatchOptions) {
    if (options.signal.aborted) throw abortError(options.signal);
    this.stream = server.openWatchStream((response) => this.receive(response), options.ctx, (reason) => this.fail(reason, false));
    options.signal.addEventListener('abort', this.onAbort, { once: true });
    this.stream.create({
      key: options.key, rangeEnd: options.rangeEnd, startRevision: options.startRevision,
      progressNotify: false, filters: [], prevKv: false, watchId: 0, fragment: false,
    });
  }

  /** The next response that carries events, in revision order. */
  next(): Promise<WatchStreamResponse> {
    const queued = this.queue.shift();
    if (queued !== undefined) {
      if (this.heldBack && this.queue.length <= keyWatchResponsesQueuedMax / 2) {
        this.heldBack = false;
        this.stream.resume();
      }
      return Promise.resolve(queued);
    }
    if (this.failure) return Promise.reject(this.failure);
    if (this.waiter) throw new Error('KeyWatch.next: one reader at a time');
    return new Promise((resolve, reject) => { this.waiter = { resolve, reject }; });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.options.signal.removeEventListener('abort', this.onAbort);
    this.stream.close();
  }

  private receive(response: WatchStreamResponse): boolean {
    if (this.closed || this.failure) return false;
    if (response.canceled) {
      this.fail(response.compactRevision > 0 ? new EtcdError('Compacted')
        : new Error(response.cancelReason === '' ? 'etcdserver: watch canceled' : response.cancelReason), false);
      return false;
    }
    if (response.events.length === 0) return true; // created or progress: nothing to wait on
    if (this.waiter) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter.resolve(response);
      return true;
    }
    this.queue.push(response);
    if (this.queue.length >= keyWatchResponsesQueuedMax) {
      this.heldBack = true;
      return false;
    }
    return true;
  }

  /** Events received before a cancellation are still read; an aborted caller reads nothing more. */
  private fail(error: Error, dropQueued: boolean): void {
    if (this.failure) return;
    this.failure = error;
    if (dropQueued) this.queue.length = 0;
    this.close();
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(error);
  }
}
