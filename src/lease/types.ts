// The small interface mvcc needs from the lease layer: it is declared here (and may be re-declared
// structurally by mvcc) so that neither layer imports the other's implementation.

export interface LeaseAttachments {
  exists(id: bigint): boolean;
  /** Throws EtcdError('LeaseNotFound') for an unknown lease. */
  attach(id: bigint, key: Buffer): void;
  /** A no-op for an unknown lease: a revoke removes the lease before mvcc deletes its keys. */
  detach(id: bigint, key: Buffer): void;
}

export interface MonotonicClock {
  /** Milliseconds from an arbitrary origin; never decreases. */
  nowMs(): number;
}

export interface LeaseCheckpoint {
  id: bigint;
  /** 0 clears an earlier checkpoint: the full TTL applies again. */
  remainingTtlSeconds: number;
}
