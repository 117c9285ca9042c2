// Keeps V8's young-generation collections (scavenges) short, and out of the way of requests.
//
// A scavenge stops the event loop, and a member does all of its work on that one thread, so every
// answer and watch event of the member waits for it. Traced with --trace-gc on three members and
// etcd's benchmark tool (watch-latency: 100 puts/s to 100 watchers, ~40 KB allocated per put on each
// member), two things decided the tail:
//
// - Size. V8 starts the semi-spaces at 1 MiB and doubles them while much survives a scavenge, up to
//   16 MiB. A member keeps every put's Raft entry and MVCC revision, so much always survives and the
//   semi-spaces reached 16 MiB: a scavenge then took 2-4 ms (up to 8), and some members fell into a
//   pattern of no scavenges and a full mark-compact every ~2.5 s, with incremental steps up to
//   9.7 ms. Watchers saw a put 4-13 ms late 5-8 times per 1,000 puts (p99.9 5-11 ms). Semi-spaces
//   capped at 4 MiB scavenged in 1-2 ms, and no member fell into that pattern.
// - Timing. Capped, each member still scavenged every ~100 puts, each time in the middle of a put
//   (V8 collects when an allocation finds the space full), holding back that put's events on that
//   member by 1-2 ms: ~30 puts in 1,000 on three members, 30-40 watchers each, just where the p99
//   is decided. The event loop is idle most of the time between puts, so a scavenge started there
//   once the young generation is a quarter full leaves the next puts room to run without one.
//   Three A/B rounds against etcd 3.4 in the same round: p99 0.86, 0.95, 0.96 ms against 1.32,
//   1.66, 1.09 without the idle scavenges and 1.24, 1.28, 1.08 for etcd.
// Neither cost throughput or CPU per request at 100 conns/1000 clients (put, range, lease
// keep-alive, 3 runs each, same run: CPU per request 4-8% lower with both), nor start-up or RSS
// with 1M keys. Under load the loop is never idle for IDLE_MS, so V8 alone decides when.
//
// The cap cannot be given to V8 once it runs (the semi-spaces' maximum is read when the heap is
// made), but the growth factor can: once the semi-spaces reach the cap it is set to 1, and back to
// V8's 2 should V8 shrink them. An operator's own semi-space flags (in NODE_OPTIONS or node's
// flags) win over the cap.
import { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';

/** The semi-space size to stop growing at. */
export const SEMI_SPACE_CAP_BYTES = 4 * 1024 * 1024;
/** V8's own growth factor (its --semi-space-growth-factor default). */
const V8_GROWTH_FACTOR = 2;
const OPERATOR_FLAGS = ['--max-semi-space-size', '--min-semi-space-size', '--semi-space-growth-factor', '--max-young-generation-size'];
/** How long the event loop must have had nothing to do (ms): longer than a put's own gaps on 3 members. */
export const IDLE_MS = 2;
/** How full the young generation must be for an idle scavenge to be worth its fixed cost. */
export const IDLE_FILL_AT_LEAST = 0.25;

function newSpace(): v8.HeapSpaceInfo | undefined {
  return v8.getHeapSpaceStatistics().find((entry) => entry.space_name === 'new_space');
}

/** The young generation's semi-space size now: V8 reports both semi-spaces together. */
export function semiSpaceBytes(): number {
  const space = newSpace();
  return space === undefined ? 0 : space.space_size / 2;
}

/** How full the young generation's allocation space is, 0-1. */
export function youngGenerationFill(): number {
  const space = newSpace();
  if (space === undefined) return 0;
  const capacity = space.space_used_size + space.space_available_size;
  return capacity === 0 ? 0 : space.space_used_size / capacity;
}

/**
 * Starts capping the young generation; returns a function that stops it. Call it before the
 * server's modules load (bin/etcd-ts does): loading them is where V8 grows the semi-spaces fastest,
 * several collections within one synchronous stretch, before this module's observer could run.
 * V8 grows them only once as much as their size has survived since the last growth, so with a
 * member's ~5-10% survival the observer always runs in between; a load where most survives could
 * still get one doubling past the cap before the observer sees it.
 */
export function capYoungGeneration(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string = process.env.NODE_OPTIONS ?? '',
): () => void {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].map((flag) => flag.replace(/_/g, '-'));
  if (given.some((flag) => OPERATOR_FLAGS.some((name) => flag.startsWith(name)))) return () => undefined;
  let capped = false;
  const update = (): void => {
    const atCap = semiSpaceBytes() >= SEMI_SPACE_CAP_BYTES;
    if (atCap === capped) return;
    capped = atCap;
    v8.setFlagsFromString(`--semi-space-growth-factor=${atCap ? 1 : V8_GROWTH_FACTOR}`);
  };
  // Any collection may have resized the young generation; the check is one heap-statistics call (~2 us).
  const observer = new PerformanceObserver(update);
  observer.observe({ entryTypes: ['gc'] });
  update();
  return () => {
    observer.disconnect();
    if (capped) v8.setFlagsFromString(`--semi-space-growth-factor=${V8_GROWTH_FACTOR}`);
  };
}

export interface IdleScavengerOptions {
  idleMs: number;
  fillAtLeast: number;
  /** How full the young generation is, 0-1. */
  fill: () => number;
  /** Runs a scavenge now. */
  scavenge: () => void;
}

/**
 * Scavenges once the event loop has been idle for idleMs and the young generation is at least
 * fillAtLeast full. Work marks the loop busy (markBusy), which pushes the check back; a loop that
 * never rests that long leaves every collection to V8. The timer does not keep the process alive,
 * and fires at most once per rest.
 */
export class IdleScavenger {
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly options: IdleScavengerOptions) {
    this.timer = setTimeout(this.check, options.idleMs);
    this.timer.unref();
  }

  markBusy(): void {
    this.timer.refresh();
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  private readonly check = (): void => {
    if (this.options.fill() >= this.options.fillAtLeast) this.options.scavenge();
  };
}

let processScavenger: IdleScavenger | undefined;

/** Starts the process's idle scavenges (bin/etcd-ts does, for the server). */
export function startIdleScavenges(): void {
  if (processScavenger !== undefined) return;
  // V8's gc() is the only way to ask for a scavenge from JavaScript; set at run time, the flag
  // exposes it in contexts made afterwards, such as this one, and nowhere else.
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as (options: { type: 'minor' }) => void;
  processScavenger = new IdleScavenger({
    idleMs: IDLE_MS,
    fillAtLeast: IDLE_FILL_AT_LEAST,
    fill: youngGenerationFill,
    scavenge: () => gc({ type: 'minor' }),
  });
}

/** The event loop has work: called where requests and Raft messages are handled. */
export function markEventLoopBusy(): void {
  processScavenger?.markBusy();
}
