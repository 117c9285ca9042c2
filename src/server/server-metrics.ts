// What the server reports to metrics (etcd's etcd_server_* and etcd_disk_* series). Declared here,
// on the server's side, so the server does not import the HTTP layer that exports the metrics.
export interface ServerMetricsRecorder {
  /** A new leader was observed (the first election counts, as in etcd). */
  leaderChanged(): void;
  /** A proposal entered raft. */
  proposalStarted(): void;
  /** That proposal was applied or failed. */
  proposalFinished(failed: boolean): void;
  /** One synced write of raft entries + hard state (our WAL fsync). */
  walFsyncObserved(durationSeconds: number): void;
  /** One batch LevelDB wrote (held apply batches handed over together, or a synced write). */
  backendCommitObserved(durationSeconds: number): void;
  /** A request took longer to apply than --warning-apply-duration. */
  slowApplyObserved(): void;
}
