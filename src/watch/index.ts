// The watch layer's public surface: the hub, its stream contract and the history interface it reads.
export { WatchHub } from './watch-hub.js';
export type { WatchHubOptions } from './watch-hub.js';
export { LeaderWatchdog, leaderlessChecksMax } from './leader-watchdog.js';
export type { LeaderProbe } from './leader-watchdog.js';
export { duplicateWatchIdReason, emptyWatchRangeReason } from './watch-stream.js';
export * from './types.js';
