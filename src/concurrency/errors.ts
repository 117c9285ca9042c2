// The errors of the lock and election services. etcd returns these as plain Go errors (not
// rpctypes), so a client sees gRPC UNKNOWN with exactly this text and matches on the text; they are
// kept apart from EtcdError, whose entries all carry an etcd status code of their own.
export const concurrencyErrors = {
  /** Proclaim by a key that is no longer the one created at the given revision. */
  NotLeader: 'election: not leader',
  /** Leader on a name with no campaigning key. */
  NoLeader: 'election: no leader',
  /** Proclaim or Resign without the `leader` message. */
  MissingLeaderKey: '"leader" field must be provided',
  /**
   * Lock waited its turn but its own key was gone by then (the lease expired or was revoked).
   * etcd 3.4 returned success here with no key held; 3.5+ report this error, which we follow.
   */
  SessionExpired: 'mutex: session is expired',
  /** The caller went away while waiting (Go's context.Canceled text). */
  Canceled: 'context canceled',
  /** The caller's deadline passed while waiting (Go's context.DeadlineExceeded text). */
  DeadlineExceeded: 'context deadline exceeded',
} as const;

export type ConcurrencyErrorName = keyof typeof concurrencyErrors;

export class ConcurrencyError extends Error {
  constructor(readonly errorName: ConcurrencyErrorName) {
    super(concurrencyErrors[errorName]);
    this.name = 'ConcurrencyError';
  }
}

/** The caller is gone (cancelled or out of time): nothing waits for the answer any more. */
export function isCallerGone(error: unknown): boolean {
  return isConcurrencyError(error, 'Canceled') || isConcurrencyError(error, 'DeadlineExceeded');
}

/** The error to report for an aborted signal: its reason when that is one of ours, else Canceled. */
export function abortError(signal: AbortSignal): ConcurrencyError {
  return signal.reason instanceof ConcurrencyError ? signal.reason : new ConcurrencyError('Canceled');
}

export function isConcurrencyError(error: unknown, name?: ConcurrencyErrorName): error is ConcurrencyError {
  return error instanceof ConcurrencyError && (name === undefined || error.errorName === name);
}
