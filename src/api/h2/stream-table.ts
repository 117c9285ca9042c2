// A connection's open streams by id. A client numbers its streams 1, 3, 5, ... and a unary call's
// stream lives for one request, so a Map keyed by stream id saw an insert and a delete per request,
// and rehashed its table as they came and went (~130 B of garbage per put at 100 conns/1000
// clients, and tables old enough to be promoted). This table is open addressing with linear
// probing on id / 2, which puts consecutive streams in consecutive slots, and deletes by shifting
// the run back (no tombstones): it allocates only when it grows.
const CAPACITY_INITIAL = 16;

export class StreamTable<V> {
  /** Stream ids; 0 (never a stream's id) marks an empty slot. */
  private ids = new Int32Array(CAPACITY_INITIAL);
  private values: Array<V | undefined> = new Array<V | undefined>(CAPACITY_INITIAL).fill(undefined);
  private mask = CAPACITY_INITIAL - 1;
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(id: number): V | undefined {
    const ids = this.ids;
    for (let slot = (id >>> 1) & this.mask; ; slot = (slot + 1) & this.mask) {
      const held = ids[slot]!;
      if (held === id) return this.values[slot];
      if (held === 0) return undefined;
    }
  }

  /** `id` is a stream id: 1 to 2^31 - 1. */
  set(id: number, value: V): void {
    if (!(id > 0 && id <= 0x7fff_ffff && Number.isInteger(id))) throw new RangeError(`stream table: bad stream id ${id}`);
    if ((this.count + 1) * 2 > this.mask + 1) this.grow();
    this.put(id, value);
  }

  delete(id: number): boolean {
    const ids = this.ids;
    const mask = this.mask;
    let slot = (id >>> 1) & mask;
    for (;;) {
      const held = ids[slot]!;
      if (held === 0) return false;
      if (held === id) break;
      slot = (slot + 1) & mask;
    }
    // Shift back every later entry of the run that may sit at `hole` (its home slot is not
    // cyclically within (hole, next]), so that a lookup never meets an empty slot before its id.
    let hole = slot;
    for (let next = (hole + 1) & mask; ids[next] !== 0; next = (next + 1) & mask) {
      const home = (ids[next]! >>> 1) & mask;
      const homeInRange = hole <= next ? home > hole && home <= next : home > hole || home <= next;
      if (homeInRange) continue;
      ids[hole] = ids[next]!;
      this.values[hole] = this.values[next];
      hole = next;
    }
    ids[hole] = 0;
    this.values[hole] = undefined;
    this.count--;
    return true;
  }

  /** The values, in no particular order; a copy, so the table may change while it is walked. */
  valuesSnapshot(): V[] {
    const out: V[] = [];
    for (let slot = 0; slot <= this.mask; slot++) if (this.ids[slot] !== 0) out.push(this.values[slot]!);
    return out;
  }

  clear(): void {
    this.ids.fill(0);
    this.values.fill(undefined);
    this.count = 0;
  }

  private put(id: number, value: V): void {
    const ids = this.ids;
    let slot = (id >>> 1) & this.mask;
    while (ids[slot] !== 0 && ids[slot] !== id) slot = (slot + 1) & this.mask;
    if (ids[slot] === 0) this.count++;
    ids[slot] = id;
    this.values[slot] = value;
  }

  private grow(): void {
    const ids = this.ids;
    const values = this.values;
    const capacity = (this.mask + 1) * 2;
    this.ids = new Int32Array(capacity);
    this.values = new Array<V | undefined>(capacity).fill(undefined);
    this.mask = capacity - 1;
    this.count = 0;
    for (let slot = 0; slot < ids.length; slot++) if (ids[slot] !== 0) this.put(ids[slot]!, values[slot]!);
  }
}
