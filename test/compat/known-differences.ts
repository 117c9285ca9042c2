// Owns the list of intended differences between etcd-ts and etcd 3.4 in the differential sessions.
// Each entry names one field of one step and the exact normalised text each side must print; the
// comparison accepts exactly that difference and nothing else. Every entry needs its reason.

export interface KnownDifference {
  session: string;
  /** The step label as printed in the transcript (e.g. `07 etcdctl endpoint status`). */
  step: string;
  field: 'stdout' | 'stderr' | 'exitCode';
  /** What real etcd prints there (normalised). */
  etcd: string | number | null;
  /** What etcd-ts prints there instead (normalised). */
  etcdTs: string | number | null;
  reason: string;
}

/** None yet: every session must match etcd 3.4 after normalisation. */
export const knownDifferences: readonly KnownDifference[] = [];
