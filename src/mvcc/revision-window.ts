// The values of a window of consecutive revisions, [low, high): it grows at the top, one revision
// per write, and shrinks at the bottom. A ring indexed by revision: the Map keyed by revision it
// replaces rehashed its table as entries came and went, ~75 B of garbage per put.
const CAPACITY_INITIAL = 1024;

export class RevisionWindow<T> {
  private slots: Array<T | undefined> = new Array<T | undefined>(CAPACITY_INITIAL).fill(undefined);
  private mask = CAPACITY_INITIAL - 1;
  private lowRevision: number;
  private highRevision: number;

  /** An empty window whose first revision will be `low`. */
  constructor(low: number) {
    this.lowRevision = low;
    this.highRevision = low;
  }

  /** The lowest revision held (or the next one pushed, when empty). */
  get low(): number {
    return this.lowRevision;
  }

  get size(): number {
    return this.highRevision - this.lowRevision;
  }

  get(revision: number): T | undefined {
    if (revision < this.lowRevision || revision >= this.highRevision) return undefined;
    // For non-negative integers below 2^53, `& mask` is the revision modulo the capacity (a power
    // of two that divides 2^32).
    return this.slots[revision & this.mask];
  }

  /** Adds the revision just above the window. */
  push(revision: number, value: T): void {
    if (revision !== this.highRevision) throw new Error(`revision window: pushed ${revision}, expected ${this.highRevision}`);
    if (this.size > this.mask) this.grow();
    this.slots[revision & this.mask] = value;
    this.highRevision++;
  }

  /** Drops the lowest revision; nothing when empty. */
  shift(): void {
    if (this.size === 0) return;
    this.slots[this.lowRevision & this.mask] = undefined;
    this.lowRevision++;
  }

  /** Empties the window; its next revision is `low`. */
  reset(low: number): void {
    this.slots.fill(undefined);
    this.lowRevision = low;
    this.highRevision = low;
  }

  private grow(): void {
    const capacity = (this.mask + 1) * 2;
    const slots = new Array<T | undefined>(capacity).fill(undefined);
    for (let revision = this.lowRevision; revision < this.highRevision; revision++) {
      slots[revision & (capacity - 1)] = this.slots[revision & this.mask];
    }
    this.slots = slots;
    this.mask = capacity - 1;
  }
}
