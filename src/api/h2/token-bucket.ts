// A token bucket: `burst` tokens to start with and at most, `ratePerSecond` added back over time.
// The clock is passed in so that tests can drive it.

export class TokenBucket {
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly burst: number,
    private readonly ratePerSecond: number,
    private readonly nowMs: () => number,
  ) {
    this.tokens = burst;
    this.refilledAt = nowMs();
  }

  /** Takes one token; false when none is left. */
  take(): boolean {
    const now = this.nowMs();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) * this.ratePerSecond) / 1000);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
