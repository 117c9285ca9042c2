// The lease layer's public surface: the Lessor, the id picker and the interfaces mvcc and server use.
export { Lessor, leaseTtlSecondsMax } from './lessor.js';
export type { LessorOptions, LeaseTimeToLive } from './lessor.js';
export { pickLeaseId, leaseIdPickAttemptsMax } from './lease-id.js';
export type { LeaseAttachments, LeaseCheckpoint, MonotonicClock } from './types.js';
