// A follower's lease keep-alives go to the leader, the only member that tracks expiry. Sending each
// one as its own peer request would cost one connection per concurrent client (a thousand clients
// on a follower overran the peer RPC limits); instead, like group commit, every keep-alive that
// arrives while earlier batches are in flight joins the next batch, and one peer request renews
// them all.

interface Pending {
  id: bigint;
  resolve(ttlSeconds: number): void;
  reject(error: unknown): void;
}

/** Batches in flight to the leader at once. */
const BATCHES_IN_FLIGHT_MAX = 4;
/** Keep-alives per batch; more wait for the next. */
export const KEEP_ALIVES_PER_BATCH_MAX = 4096;
/** Keep-alives waiting for a batch; beyond this, a keep-alive is refused at once. */
const KEEP_ALIVES_WAITING_MAX = 65_536;

export class KeepAliveForwarder {
  private waiting: Pending[] = [];
  private batchesInFlight = 0;
  private flushScheduled = false;

  /** `renewAtLeader(ids)` answers one TTL per id, in order (0: unknown or expired lease). */
  constructor(
    private readonly renewAtLeader: (ids: bigint[]) => Promise<number[]>,
    private readonly overloaded: () => Error,
  ) {}

  renew(id: bigint): Promise<number> {
    if (this.waiting.length >= KEEP_ALIVES_WAITING_MAX) return Promise.reject(this.overloaded());
    return new Promise((resolve, reject) => {
      this.waiting.push({ id, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // Keep-alives arriving in the same turn of the event loop share the batch.
        setImmediate(() => {
          this.flushScheduled = false;
          this.flush();
        });
      }
    });
  }

  private flush(): void {
    while (this.batchesInFlight < BATCHES_IN_FLIGHT_MAX && this.waiting.length > 0) {
      const batch = this.waiting.splice(0, KEEP_ALIVES_PER_BATCH_MAX);
      this.batchesInFlight++;
      this.renewAtLeader(batch.map((pending) => pending.id)).then(
        (ttls) => {
          if (ttls.length !== batch.length) throw new Error(`leader answered ${ttls.length} TTLs for ${batch.length} keep-alives`);
          batch.forEach((pending, i) => pending.resolve(ttls[i]));
        },
      ).catch((error: unknown) => {
        for (const pending of batch) pending.reject(error);
      }).finally(() => {
        this.batchesInFlight--;
        this.flush();
      });
    }
  }
}
