// Asks Linux for a short scheduling slice for the thread that runs the event loop.
//
// etcd-ts does a request's work on one thread, where etcd spreads it over goroutines on many
// threads. When the cores are shared (other members, clients, the rest of the machine), that one
// thread has used more CPU than any of the others, so under Linux's EEVDF scheduler (6.6+) it was
// the one left waiting when a socket woke it: traced on a 2-core machine with three members and
// etcd's benchmark tool, a follower's thread waited ~1 ms for a core in the slow cases of
// watch-latency. Linux 6.12+ lets a thread ask for a shorter slice (sched_setattr's sched_runtime
// for SCHED_OTHER, 0.1-100 ms): it gets no more CPU over time, but it runs sooner after a wake-up
// and in shorter turns. Measured there against the kernel's default: watch-latency p99 on 3 members
// ~15% lower, put at 1 client on 3 members 5-7% and put at 100/1000 on one member 2-11% more
// requests/s (3-4 pairs each); the full bench of 2026-11-27 19:57 is the first with it (README).
//
// The call needs a native addon (native/sched-slice, an optional dependency built by node-gyp at
// install); without it, or on older kernels, the thread keeps the kernel's default slice.
// ETCD_TS_SCHED_SLICE_US sets the slice (0 leaves the default alone).
import type { Logger } from 'pino';
import { ConfigError } from './config/config-error.js';
import { loadOptionalAddon } from './optional-addon.js';

const SCHED_SLICE_ENV = 'ETCD_TS_SCHED_SLICE_US';
const SCHED_SLICE_DEFAULT_US = 100;
/** The range Linux takes (shorter or longer values are clamped by the kernel). */
const SLICE_MIN_US = 100;
const SLICE_MAX_US = 100_000;

interface SchedSliceAddon {
  /** Returns the slice the kernel reports afterwards (ns, 0 when it has none), -1 for a non-fair policy. */
  setSlice(ns: number): number;
}

/** The slice to ask for, in µs (0: none), from the environment; throws on a value Linux cannot take. */
export function schedulerSliceUs(env: NodeJS.ProcessEnv = process.env): number {
  const text = env[SCHED_SLICE_ENV];
  if (text === undefined || text === '') return SCHED_SLICE_DEFAULT_US;
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (value === 0 || (value >= SLICE_MIN_US && value <= SLICE_MAX_US)) return value;
  throw new ConfigError(`${SCHED_SLICE_ENV}=${text}: expected a slice in microseconds from ${SLICE_MIN_US} to ${SLICE_MAX_US}, or 0 for the kernel's default`);
}

/**
 * Sets the calling thread's slice (call it on the event loop's thread). Never throws for a missing
 * addon or a refusing kernel: the server runs the same without it, only with the default slice.
 */
export function requestSchedulerSlice(sliceUs: number, logger: Logger): void {
  if (sliceUs === 0 || process.platform !== 'linux') return;
  const addon = loadOptionalAddon<SchedSliceAddon>('etcd-ts-sched-slice');
  if (addon instanceof Error) {
    logger.info({ err: addon.message }, 'the sched-slice addon is not built; the event loop keeps the kernel\'s default scheduling slice');
    return;
  }
  const sliceNs = sliceUs * 1000;
  let reported: number;
  try {
    reported = addon.setSlice(sliceNs);
  } catch (error) {
    logger.warn({ err: error }, 'could not set the event loop\'s scheduling slice');
    return;
  }
  if (reported === -1) {
    logger.info('the event loop runs under a real-time or idle policy; its scheduling slice is left alone');
  } else if (reported !== sliceNs) {
    // Linux before 6.12 takes the call and keeps no custom slice for SCHED_OTHER.
    logger.info({ 'requested-us': sliceUs, 'reported-ns': reported }, 'the kernel keeps no custom scheduling slice (Linux 6.12+ does)');
  } else {
    logger.info({ 'slice-us': sliceUs }, 'event loop scheduling slice set');
  }
}
