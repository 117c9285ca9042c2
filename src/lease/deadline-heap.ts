// A min-heap of (lease id, deadline) pairs: the leader's expiry queue. Entries are never updated in
// place; a renewal pushes a new entry and the old one goes stale. The Lessor recognises stale entries
// by comparing with the lease's current deadline, and rebuilds the heap when stale entries pile up.

export interface DeadlineEntry {
  id: bigint;
  deadlineMs: number;
}

export class DeadlineHeap {
  private entries: DeadlineEntry[] = [];

  get size(): number {
    return this.entries.length;
  }

  push(entry: DeadlineEntry): void {
    const entries = this.entries;
    entries.push(entry);
    let index = entries.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (entries[parent].deadlineMs <= entry.deadlineMs) break;
      entries[index] = entries[parent];
      index = parent;
    }
    entries[index] = entry;
  }

  peek(): DeadlineEntry | undefined {
    return this.entries[0];
  }

  pop(): DeadlineEntry | undefined {
    const entries = this.entries;
    const top = entries[0];
    const last = entries.pop();
    if (top === undefined || last === undefined || entries.length === 0) return top;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= entries.length) break;
      const right = left + 1;
      const child = right < entries.length && entries[right].deadlineMs < entries[left].deadlineMs ? right : left;
      if (entries[child].deadlineMs >= last.deadlineMs) break;
      entries[index] = entries[child];
      index = child;
    }
    entries[index] = last;
    return top;
  }

  clear(): void {
    this.entries = [];
  }

  /** Replaces the contents; O(n) heapify. */
  rebuild(entries: DeadlineEntry[]): void {
    this.entries = [];
    for (const entry of entries) this.push(entry);
  }
}
