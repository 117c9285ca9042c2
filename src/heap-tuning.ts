// Sets how far V8 lets the heap grow past the live data before its next full collection, once the
// live heap is large.
//
// V8 picks that factor itself, up to 4x on a machine with memory to spare; loaded with 1M keys
// under 1000 concurrent clients, etcd-ts then held ~2x its live heap. etcd's Go runtime grows to
// 2x (GOGC=100). A factor of 1.5 costs more full collections: with a small heap at 100 conns/1000
// clients that was ~10% more CPU per put (4 A/B pairs), so it applies only while the live heap
// (measured after each full collection) is over LARGE_HEAP_BYTES, and V8 decides again below half
// of that. 1M keys loaded at 100/1000: RSS 827 MiB with the threshold at 128 MiB, 773 at 64 MiB,
// 752 with the factor always on; at 30k keys (put 100/1000) CPU per put as with V8 deciding.
//
// An operator's own `--heap-growing-percent` (in NODE_OPTIONS or node's flags) wins.
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import v8 from 'node:v8';

const HEAP_GROWING_PERCENT = 50;
const LARGE_HEAP_BYTES = 64 * 1024 * 1024;

/** Starts watching full collections; returns a function that stops it. */
export function tuneHeapGrowth(): () => void {
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  if (given.some((flag) => flag.replace(/_/g, '-').startsWith('--heap-growing-percent'))) return () => undefined;
  let tuned = false;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries() as Array<PerformanceEntry & { detail?: { kind?: number } }>) {
      if (entry.detail?.kind !== constants.NODE_PERFORMANCE_GC_MAJOR) continue;
      const live = v8.getHeapStatistics().used_heap_size;
      const large = tuned ? live > LARGE_HEAP_BYTES / 2 : live > LARGE_HEAP_BYTES;
      if (large === tuned) continue;
      tuned = large;
      // 0 is V8's default: its own heuristics.
      v8.setFlagsFromString(`--heap-growing-percent=${large ? HEAP_GROWING_PERCENT : 0}`);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}
