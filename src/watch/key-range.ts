// The key range of one watcher, normalised the way etcd's watch server does it, and the test of
// whether a key falls in it.

export interface WatchKeyRange {
  key: Buffer;
  /** undefined: the single key `key`. Empty buffer: every key >= key. Otherwise [key, end). */
  end: Buffer | undefined;
}

/**
 * Empty key means "\0" (the smallest key); rangeEnd "\0" means every key >= key; a non-empty range
 * whose key is not below its end returns undefined (etcd: "mvcc: watcher range is empty").
 */
export function normalizeWatchRange(key: Buffer, rangeEnd: Buffer): WatchKeyRange | undefined {
  const start = key.length === 0 ? Buffer.from([0]) : key;
  if (rangeEnd.length === 0) return { key: start, end: undefined };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { key: start, end: Buffer.alloc(0) };
  if (Buffer.compare(start, rangeEnd) >= 0) return undefined;
  return { key: start, end: rangeEnd };
}

export function watchRangeContains(range: WatchKeyRange, key: Buffer): boolean {
  if (range.end === undefined) return range.key.equals(key);
  if (Buffer.compare(key, range.key) < 0) return false;
  return range.end.length === 0 || Buffer.compare(key, range.end) < 0;
}
