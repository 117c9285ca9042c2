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

export interface WatchStream {
  create(request: WatchCreateRequest): void;
  cancel(watchId: number): void;
  /** A progress request: answered with watch_id -1 and the current revision when all watchers are synced. */
  progress(): void;
  /** The transport drained its buffer after `send` returned false: resume sending. */
  resume(): void;
  close(): void;
}
