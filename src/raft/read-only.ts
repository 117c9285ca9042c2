// The leader's queue of ReadIndex requests waiting for a heartbeat round to confirm it is still leader
// (etcd's ReadOnlySafe). A later round's quorum confirms every request queued before it, so many
// requests share one round. Bounded by `readIndexPendingMax`.

import { type NodeId } from './types.js';

/** Requests waiting for confirmation; past this, new ones are dropped and the caller retries. */
export const readIndexPendingMax = 4096;

export interface ReadIndexRequest {
  /** The commit index when the request arrived: the index the read must wait for. */
  index: number;
  /** Who asked: the leader itself (None is not used; the leader's id) or a follower that forwarded it. */
  from: NodeId;
  requestContext: Uint8Array;
  acks: Set<NodeId>;
}

/** A Map key for a request context: one char per byte, so distinct byte strings give distinct keys. */
export function contextKey(context: Uint8Array): string {
  let key = '';
  for (let i = 0; i < context.length; i++) key += String.fromCharCode(context[i]!);
  return key;
}

export class ReadOnlyQueue {
  private readonly pending = new Map<string, ReadIndexRequest>();
  private readonly queue: string[] = [];

  /** Returns false when the request is a duplicate of a waiting one or the queue is full. */
  add(index: number, from: NodeId, requestContext: Uint8Array): boolean {
    const key = contextKey(requestContext);
    if (this.pending.has(key) || this.queue.length >= readIndexPendingMax) return false;
    this.pending.set(key, { index, from, requestContext, acks: new Set() });
    this.queue.push(key);
    return true;
  }

  /** Records a heartbeat ack carrying `context`; returns the acks so far, or undefined for an unknown context. */
  recvAck(id: NodeId, context: Uint8Array): Set<NodeId> | undefined {
    const request = this.pending.get(contextKey(context));
    if (!request) return undefined;
    request.acks.add(id);
    return request.acks;
  }

  /** Removes and returns, in order, every request up to and including the one with `context`. */
  advance(context: Uint8Array): ReadIndexRequest[] {
    const key = contextKey(context);
    const position = this.queue.indexOf(key);
    if (position < 0) return [];
    const released = this.queue.splice(0, position + 1).map((k) => {
      const request = this.pending.get(k)!;
      this.pending.delete(k);
      return request;
    });
    return released;
  }

  lastPendingContext(): Uint8Array | undefined {
    const key = this.queue[this.queue.length - 1];
    return key === undefined ? undefined : this.pending.get(key)!.requestContext;
  }

  size(): number {
    return this.queue.length;
  }

  clear(): void {
    this.pending.clear();
    this.queue.length = 0;
  }
}
