// The size of the member's database on disk (what etcd reports as dbSize and checks against
// --quota-backend-bytes): the bytes of the LevelDB files. Measuring walks the directory, so it is
// cached and refreshed at most every `refreshIntervalMs`.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

export class DbSizeMeter {
  private sizeBytes = 0;
  private measuredAtMs = 0;
  private measuring?: Promise<number>;

  constructor(private readonly dir: string, private readonly refreshIntervalMs: number) {}

  /** The last measured size, refreshed in the background when stale. */
  get cachedBytes(): number {
    // Not while a measure runs: calling measure() then made a promise per call (per put).
    if (this.measuring === undefined && Date.now() - this.measuredAtMs > this.refreshIntervalMs) void this.measure();
    return this.sizeBytes;
  }

  async measure(): Promise<number> {
    if (this.measuring) return this.measuring;
    this.measuring = (async () => {
      let total = 0;
      for (const name of await readdir(this.dir)) {
        try {
          total += (await stat(join(this.dir, name))).size;
        } catch {
          // A file LevelDB removed between readdir and stat (compaction) is simply gone.
        }
      }
      this.sizeBytes = total;
      this.measuredAtMs = Date.now();
      return total;
    })().finally(() => {
      this.measuring = undefined;
    });
    return this.measuring;
  }
}
