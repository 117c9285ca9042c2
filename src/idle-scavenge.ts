// Scavenges (V8's young-generation collections) while the server has nothing in flight, not in the
// middle of a request.
//
// A scavenge stops the event loop, and a member does all of its work on that one thread, so every
// answer and watch event of the member waits for it. V8 scavenges when an allocation finds the
// young generation full, which under a steady light load is in the middle of some request: traced
// with --trace-gc on three members and etcd's benchmark tool (watch-latency: 100 puts/s to 100
// watchers, ~40 KB allocated per put on each member), every member scavenged every 100-400 puts,
// each time holding back that put's events on that member by 1-4 ms (up to 8); watchers saw a put
// 4-13 ms late 5-8 times per 1,000 puts (p99.9 5-11 ms), about where the p99 of 100,000 samples
// (~30 late puts on a 33-watcher member) is decided. Between those puts the server is idle most of
// the time: a scavenge started there leaves the next puts room to run without one. With it, the
// members' scavenges inside a measured run were 9-11 idle ones and 0-1 of V8's own, and the run's
// p99.9 2.5-4.1 ms (4.6-11 before; etcd 3.4 2.0-4.0 in the same rounds). The p99 stays decided by
// scheduling on the shared cores.
//
// A rest is IDLE_MS of event loop without a socket read or a Raft cycle, with no request waiting
// for its apply, at least IDLE_SINCE_LAST_SCAVENGE_MS after the last scavenge, with the young
// generation at least a quarter full. On event-loop rest alone, under put load the loop also rests
// while an fsync runs on the thread pool, and idle scavenges ran 25 times in 30,000 puts at 100
// connections/1000 clients (V8 alone: once), each 3-6 ms over a young generation full of requests
// in flight: 18-22% more CPU per put (A/B against the build before, 2 runs of 3); gated on
// requests in flight too, still 10 of 4-8.6 ms. With all the gates: none in 60,000 puts and 30,000
// ranges at 100/1000. (Capping the semi-spaces at 4 MiB, where V8 grows them to 16, shortened each
// scavenge, but together with rest-only scavenges cost 15-25% more CPU per put at 100/1000, against
// 10-20% for those alone; it was left out.)
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';

/** How long the event loop must have had nothing to do (ms): longer than a put's own gaps on 3 members. */
export const IDLE_MS = 2;
/** How full the young generation must be for an idle scavenge to be worth its fixed cost. */
export const IDLE_FILL_AT_LEAST = 0.25;
/**
 * How long since the last scavenge (any) before an idle one: only a young generation that fills
 * slowly, under a light load, is scavenged early. Under put load it fills in tens of ms, and
 * scavenging it early copies requests that would have died a few ms later.
 */
export const IDLE_SINCE_LAST_SCAVENGE_MS = 250;

/** How full the young generation's allocation space is, 0-1. */
export function youngGenerationFill(): number {
  const space = v8.getHeapSpaceStatistics().find((entry) => entry.space_name === 'new_space');
  if (space === undefined) return 0;
  const capacity = space.space_used_size + space.space_available_size;
  return capacity === 0 ? 0 : space.space_used_size / capacity;
}

export interface IdleScavengerOptions {
  idleMs: number;
  fillAtLeast: number;
  /** Whether nothing is in flight (no request waiting, no Raft cycle): only then is the rest a real one. */
  quiet: () => boolean;
  /** The last scavenge ended at least this long ago (ms). */
  sinceLastScavengeAtLeastMs: number;
  /** When the last scavenge ended (performance.now() ms). */
  lastScavengeMs: () => number;
  nowMs: () => number;
  /** How full the young generation is, 0-1. */
  fill: () => number;
  /** Runs a scavenge now. */
  scavenge: () => void;
}

/**
 * Scavenges once the event loop has been idle for idleMs with nothing in flight and the young
 * generation at least fillAtLeast full. Work marks the loop busy (markBusy), which pushes the check
 * back; a server that never rests that long leaves every collection to V8. The timer does not keep
 * the process alive, and fires at most once per rest (the end of the work in flight marks the loop
 * busy again).
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
    const { quiet, fill, fillAtLeast, lastScavengeMs, sinceLastScavengeAtLeastMs, nowMs, scavenge } = this.options;
    if (quiet() && nowMs() - lastScavengeMs() >= sinceLastScavengeAtLeastMs && fill() >= fillAtLeast) scavenge();
  };
}

let processScavenger: IdleScavenger | undefined;

/** Starts the process's idle scavenges (main() does, for the server, with its own quiet()). */
export function startIdleScavenges(quiet: () => boolean): void {
  if (processScavenger !== undefined) return;
  // V8's gc() is the only way to ask for a scavenge from JavaScript; set at run time, the flag
  // exposes it only in contexts made afterwards: this one (the server makes no other).
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as (options: { type: 'minor' }) => void;
  let lastScavengeMs = performance.now();
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries() as Array<PerformanceEntry & { detail?: { kind?: number } }>) {
      if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) lastScavengeMs = entry.startTime + entry.duration;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  processScavenger = new IdleScavenger({
    idleMs: IDLE_MS,
    fillAtLeast: IDLE_FILL_AT_LEAST,
    sinceLastScavengeAtLeastMs: IDLE_SINCE_LAST_SCAVENGE_MS,
    lastScavengeMs: () => lastScavengeMs,
    nowMs: () => performance.now(),
    quiet,
    fill: youngGenerationFill,
    scavenge: () => gc({ type: 'minor' }),
  });
}

/** The event loop has work: called where requests and Raft messages are handled. */
export function markEventLoopBusy(): void {
  processScavenger?.markBusy();
}
