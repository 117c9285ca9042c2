// --auto-compaction-mode / --auto-compaction-retention, run on the leader only; each compaction is
// an ordinary proposed Compact request, so it goes through the log like a client's.
//  periodic: keep `periodMs` of history. Samples the revision every period/10 (at most hourly,
//            as etcd does) and compacts to the newest sample that is at least one period old.
//  revision: keep the last N revisions; checked every 5 minutes (etcd's interval).
import type { Logger } from 'pino';
import { isEtcdError } from '../errors.js';

export type AutoCompactionRetention =
  | { mode: 'periodic'; periodMs: number }
  | { mode: 'revision'; revisions: number };

const REVISION_MODE_CHECK_INTERVAL_MS = 5 * 60 * 1000;
const PERIODIC_SAMPLE_INTERVAL_MAX_MS = 60 * 60 * 1000;
const SAMPLES_MAX = 64;

export interface CompactionTarget {
  isLeader(): boolean;
  currentRevision(): number;
  compactRevision(): number;
  compact(revision: number): Promise<void>;
}

export class AutoCompactor {
  private timer?: NodeJS.Timeout;
  private samples: Array<{ atMs: number; revision: number }> = [];

  constructor(
    private readonly retention: AutoCompactionRetention,
    private readonly target: CompactionTarget,
    private readonly logger: Logger,
    private readonly nowMs: () => number = () => performance.now(),
  ) {}

  start(): void {
    if (this.retention.mode === 'periodic' && this.retention.periodMs <= 0) return;
    if (this.retention.mode === 'revision' && this.retention.revisions <= 0) return;
    const intervalMs = this.retention.mode === 'periodic'
      ? Math.max(1000, Math.min(PERIODIC_SAMPLE_INTERVAL_MAX_MS, Math.floor(this.retention.periodMs / 10)))
      : REVISION_MODE_CHECK_INTERVAL_MS;
    this.timer = setInterval(() => void this.run(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One check; exported for tests. */
  async run(): Promise<void> {
    if (!this.target.isLeader()) {
      this.samples = [];
      return;
    }
    const now = this.nowMs();
    let revision: number | undefined;
    if (this.retention.mode === 'periodic') {
      this.samples.push({ atMs: now, revision: this.target.currentRevision() });
      if (this.samples.length > SAMPLES_MAX) this.samples.shift();
      const periodMs = this.retention.periodMs;
      const old = this.samples.filter((s) => now - s.atMs >= periodMs);
      if (old.length > 0) {
        revision = old[old.length - 1].revision;
        this.samples = this.samples.filter((s) => s.atMs > old[old.length - 1].atMs);
      }
    } else {
      revision = this.target.currentRevision() - this.retention.revisions;
    }
    if (revision === undefined || revision <= this.target.compactRevision()) return;
    try {
      await this.target.compact(revision);
      this.logger.info({ revision }, 'auto compaction finished');
    } catch (error) {
      if (isEtcdError(error, 'Compacted')) return;
      this.logger.warn({ err: error, revision }, 'auto compaction failed');
    }
  }
}
