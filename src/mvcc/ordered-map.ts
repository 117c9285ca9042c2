// Owns an ordered map from byte-string keys to values: a B+tree with linked leaves.
//
// Keys are "binary strings": a Buffer's bytes as a latin1 string (`buffer.toString('latin1')`),
// one char per byte, so JS string order is exactly byte order. Comparing strings is an inline
// V8 operation; Buffer.compare is a native call costing ~10x more, and a lookup does ~20 of them.
//
// Why a B+tree: the key index must insert and look up in O(log n) and scan [start, end) in key
// order on a million keys. A sorted array is O(n) per insert; a skip list allocates a node per key
// with several pointers and chases them across the heap on every scan. A B+tree keeps up to
// NODE_ENTRIES_MAX keys per node in plain arrays, so a lookup is ~4 levels of binary search on
// 1M keys and a range scan walks contiguous arrays leaf by leaf.
//
// Removal unlinks a node once it becomes empty but does not merge underfull siblings: the height
// never exceeds what the largest size reached needed, and the key index only removes keys during
// compaction, after which inserts refill the sparse leaves. Simplicity wins over tight packing here.

const NODE_ENTRIES_MAX = 64;

interface Leaf<V> {
  leaf: true;
  keys: string[];
  values: V[];
  prev: Leaf<V> | null;
  next: Leaf<V> | null;
}

interface Branch<V> {
  leaf: false;
  /** separators[i] is the smallest key under children[i + 1]. */
  separators: string[];
  children: Array<Node<V>>;
}

type Node<V> = Leaf<V> | Branch<V>;

/** Index of the first element >= key. */
function lowerBound(keys: string[], key: string): number {
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (keys[mid] < key) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** Index of the first element > key. */
function upperBound(keys: string[], key: string): number {
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (keys[mid] <= key) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** [from, to) ranges that split `count` items into the fewest nodes, as evenly as possible. */
function evenChunks(count: number): Array<[number, number]> {
  const chunks = Math.ceil(count / NODE_ENTRIES_MAX);
  const out: Array<[number, number]> = [];
  for (let chunk = 0; chunk < chunks; chunk++) {
    out.push([Math.floor((chunk * count) / chunks), Math.floor(((chunk + 1) * count) / chunks)]);
  }
  return out;
}

function newLeaf<V>(): Leaf<V> {
  return { leaf: true, keys: [], values: [], prev: null, next: null };
}

export class BinaryStringOrderedMap<V> {
  private root: Node<V> = newLeaf<V>();
  private entryCount = 0;

  /**
   * A map of the given entries, `keys` strictly increasing: built bottom-up, leaf after leaf, in
   * O(n) (inserting a million keys one by one costs about a microsecond each in tree descents).
   */
  static fromSorted<V>(keys: string[], values: V[]): BinaryStringOrderedMap<V> {
    const map = new BinaryStringOrderedMap<V>();
    const count = keys.length;
    if (count === 0) return map;
    for (let i = 1; i < count; i++) {
      if (!(keys[i - 1] < keys[i])) throw new Error('BinaryStringOrderedMap.fromSorted: keys not strictly increasing');
    }
    let nodes: Array<Node<V>> = [];
    let lowest: string[] = [];
    let previous: Leaf<V> | null = null;
    for (const [from, to] of evenChunks(count)) {
      const leaf: Leaf<V> = { leaf: true, keys: keys.slice(from, to), values: values.slice(from, to), prev: previous, next: null };
      if (previous) previous.next = leaf;
      previous = leaf;
      nodes.push(leaf);
      lowest.push(keys[from]);
    }
    while (nodes.length > 1) {
      const parents: Array<Node<V>> = [];
      const parentLowest: string[] = [];
      for (const [from, to] of evenChunks(nodes.length)) {
        parents.push({ leaf: false, separators: lowest.slice(from + 1, to), children: nodes.slice(from, to) });
        parentLowest.push(lowest[from]);
      }
      nodes = parents;
      lowest = parentLowest;
    }
    map.root = nodes[0];
    map.entryCount = count;
    return map;
  }

  get size(): number {
    return this.entryCount;
  }

  get(key: string): V | undefined {
    const leaf = this.findLeaf(key);
    const index = lowerBound(leaf.keys, key);
    if (index < leaf.keys.length && leaf.keys[index] === key) return leaf.values[index];
    return undefined;
  }

  /** Inserts or replaces. */
  set(key: string, value: V): void {
    const split = this.insertInto(this.root, key, value);
    if (split) {
      this.root = { leaf: false, separators: [split.separator], children: [this.root, split.right] };
    }
  }

  /** Removes key; returns whether it was present. */
  delete(key: string): boolean {
    const path: Array<{ branch: Branch<V>; childIndex: number }> = [];
    let node = this.root;
    while (!node.leaf) {
      const childIndex = upperBound(node.separators, key);
      path.push({ branch: node, childIndex });
      node = node.children[childIndex];
    }
    const index = lowerBound(node.keys, key);
    if (index >= node.keys.length || node.keys[index] !== key) return false;
    node.keys.splice(index, 1);
    node.values.splice(index, 1);
    this.entryCount--;
    if (node.keys.length === 0 && path.length > 0) this.unlinkEmpty(node, path);
    return true;
  }

  /**
   * Calls visit for every entry with start <= key < end (end undefined: no upper bound), in key
   * order, until visit returns false. The map must not be modified during the walk.
   */
  forEachInRange(start: string, end: string | undefined, visit: (key: string, value: V) => boolean | void): void {
    let leaf: Leaf<V> | null = this.findLeaf(start);
    let index = lowerBound(leaf.keys, start);
    while (leaf) {
      for (; index < leaf.keys.length; index++) {
        const key = leaf.keys[index];
        if (end !== undefined && key >= end) return;
        if (visit(key, leaf.values[index]) === false) return;
      }
      leaf = leaf.next;
      index = 0;
    }
  }

  forEach(visit: (key: string, value: V) => boolean | void): void {
    let leaf: Leaf<V> | null = this.firstLeaf();
    while (leaf) {
      for (let index = 0; index < leaf.keys.length; index++) {
        if (visit(leaf.keys[index], leaf.values[index]) === false) return;
      }
      leaf = leaf.next;
    }
  }

  /** Tree height, for tests of the O(log n) shape. */
  get height(): number {
    let height = 1;
    for (let node = this.root; !node.leaf; node = node.children[0]) height++;
    return height;
  }

  private firstLeaf(): Leaf<V> {
    let node = this.root;
    while (!node.leaf) node = node.children[0];
    return node;
  }

  private findLeaf(key: string): Leaf<V> {
    let node = this.root;
    while (!node.leaf) node = node.children[upperBound(node.separators, key)];
    return node;
  }

  private insertInto(node: Node<V>, key: string, value: V): { separator: string; right: Node<V> } | undefined {
    if (node.leaf) {
      const index = lowerBound(node.keys, key);
      if (index < node.keys.length && node.keys[index] === key) {
        node.values[index] = value;
        return undefined;
      }
      node.keys.splice(index, 0, key);
      node.values.splice(index, 0, value);
      this.entryCount++;
      if (node.keys.length <= NODE_ENTRIES_MAX) return undefined;
      const half = node.keys.length >>> 1;
      const right: Leaf<V> = {
        leaf: true, keys: node.keys.splice(half), values: node.values.splice(half), prev: node, next: node.next,
      };
      if (node.next) node.next.prev = right;
      node.next = right;
      return { separator: right.keys[0], right };
    }
    const childIndex = upperBound(node.separators, key);
    const split = this.insertInto(node.children[childIndex], key, value);
    if (!split) return undefined;
    node.separators.splice(childIndex, 0, split.separator);
    node.children.splice(childIndex + 1, 0, split.right);
    if (node.children.length <= NODE_ENTRIES_MAX) return undefined;
    const half = node.children.length >>> 1;
    // The separator between the halves moves up; the right half keeps the ones after it.
    const rightChildren = node.children.splice(half);
    const rightSeparators = node.separators.splice(half - 1);
    const separator = rightSeparators.shift() as string;
    return { separator, right: { leaf: false, separators: rightSeparators, children: rightChildren } };
  }

  private unlinkEmpty(leaf: Leaf<V>, path: Array<{ branch: Branch<V>; childIndex: number }>): void {
    if (leaf.prev) leaf.prev.next = leaf.next;
    if (leaf.next) leaf.next.prev = leaf.prev;
    for (let level = path.length - 1; level >= 0; level--) {
      const { branch, childIndex } = path[level];
      branch.children.splice(childIndex, 1);
      // Removing child i drops the separator that bounds it on the left (or the first one for i = 0).
      branch.separators.splice(childIndex === 0 ? 0 : childIndex - 1, 1);
      if (branch.children.length > 0) break;
    }
    for (let root = this.root; !root.leaf; root = this.root) {
      if (root.children.length === 1) this.root = root.children[0];
      else if (root.children.length === 0) this.root = newLeaf<V>();
      else break;
    }
  }
}
