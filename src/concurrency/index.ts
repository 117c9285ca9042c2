// Server-side locks and elections (etcd's v3lock and v3election), built only on the public server
// API (txn, range, deleteRange, leaseGrant, watch streams) with etcd's key layout, so that they
// interoperate with client-side implementations of the same recipes. Imports server/server-api,
// mvcc/types, watch/types and errors; the API layers import this folder, never the reverse.
export { ServerLocks, type LockResult } from './mutex.js';
export { ServerElections, type LeaderKey, type LeaderObservation } from './election.js';
export { ConcurrencyError, concurrencyErrors, isConcurrencyError, isCallerGone, type ConcurrencyErrorName } from './errors.js';
export { waiterKey, waiterPrefix, leaseHex } from './keys.js';
export { sessionTtlSeconds, type ConcurrencyServer } from './session.js';
export { keyWatchResponsesQueuedMax } from './key-watch.js';
