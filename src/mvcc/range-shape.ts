// Owns the post-processing of a range read, identical for latest and historical reads: min/max
// revision filters, sort, limit with `more`, keys_only. etcd's order of operations is kept: the
// limit is pushed down to the fetch (limit + 1, to learn `more`) only when the request's own
// sort_order is NONE and no filter is set; a non-KEY sort target with order NONE then sorts
// ascending what was fetched.
import { SortOrder, SortTarget, type KeyValue, type RangeRequest, type RangeResult } from './types.js';

const EMPTY = Buffer.alloc(0);

/** How many key-values the fetch must produce (0: all of them). */
export function fetchLimit(request: RangeRequest): number {
  const filtered = request.minModRevision !== 0 || request.maxModRevision !== 0
    || request.minCreateRevision !== 0 || request.maxCreateRevision !== 0;
  if (request.sortOrder !== SortOrder.NONE || filtered) return 0;
  return request.limit > 0 ? request.limit + 1 : 0;
}

function compareBy(target: number): (a: KeyValue, b: KeyValue) => number {
  switch (target) {
    case SortTarget.VERSION: return (a, b) => a.version - b.version;
    case SortTarget.CREATE: return (a, b) => a.createRevision - b.createRevision;
    case SortTarget.MOD: return (a, b) => a.modRevision - b.modRevision;
    case SortTarget.VALUE: return (a, b) => Buffer.compare(a.value, b.value);
    default: return (a, b) => Buffer.compare(a.key, b.key);
  }
}

/**
 * Shapes fetched key-values (in key order, at most fetchLimit(request) of them) into the result.
 * `count` is the number of keys in range at the read revision, before limit and filters.
 */
export function shapeRange(request: RangeRequest, fetched: KeyValue[], count: number, revision: number): RangeResult {
  if (request.countOnly) return { kvs: [], more: false, count, revision };
  let kvs = fetched;
  const { minModRevision, maxModRevision, minCreateRevision, maxCreateRevision } = request;
  if (minModRevision !== 0 || maxModRevision !== 0 || minCreateRevision !== 0 || maxCreateRevision !== 0) {
    kvs = kvs.filter((kv) => !(maxModRevision !== 0 && kv.modRevision > maxModRevision)
      && !(minModRevision !== 0 && kv.modRevision < minModRevision)
      && !(maxCreateRevision !== 0 && kv.createRevision > maxCreateRevision)
      && !(minCreateRevision !== 0 && kv.createRevision < minCreateRevision));
  }
  let order = request.sortOrder;
  if (request.sortTarget !== SortTarget.KEY && order === SortOrder.NONE) order = SortOrder.ASCEND;
  // Fetches come in ascending key order already, so ASCEND by KEY needs no work.
  if (order === SortOrder.ASCEND && request.sortTarget !== SortTarget.KEY) {
    kvs = [...kvs].sort(compareBy(request.sortTarget));
  } else if (order === SortOrder.DESCEND) {
    const ascending = compareBy(request.sortTarget);
    kvs = [...kvs].sort((a, b) => ascending(b, a));
  }
  let more = false;
  if (request.limit > 0 && kvs.length > request.limit) {
    kvs = kvs.slice(0, request.limit);
    more = true;
  }
  if (request.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: EMPTY }));
  return { kvs, more, count, revision };
}
