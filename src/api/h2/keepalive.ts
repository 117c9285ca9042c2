// gRPC keep-alive on a client connection, as etcd configures grpc-go's server from its
// --grpc-keepalive-* flags:
//
// - ServerPinger (--grpc-keepalive-interval, --grpc-keepalive-timeout): after `idleMs` in which
//   nothing was read from the client, the server sends a PING; when nothing is read for `timeoutMs`
//   after it, the client is gone and the connection is closed. A long-lived Watch of a client whose
//   machine died is so released.
// - ClientPingPolicy (--grpc-keepalive-min-time): a client that pings more often than it may gets
//   a strike per such ping, and after more than two the connection ends with GOAWAY
//   ENHANCE_YOUR_CALM "too_many_pings". A ping may come every `minIntervalMs` while a stream is
//   open, and every two hours without one. A response written by the server (HEADERS or DATA) lets
//   the next ping pass and clears the strikes: clients ping to measure bandwidth (BDP) as data
//   arrives, and those pings are not keep-alives.
//
// Both take the clock as a function so that tests can drive it.

/** More strikes than this end the connection. */
export const pingStrikesMax = 2;
/** How often a client with no open stream may ping. */
export const idleClientPingIntervalMs = 2 * 60 * 60 * 1000;
/** The GOAWAY debug data that grpc clients recognise (and back off from). */
export const tooManyPingsDebugData = 'too_many_pings';

export class ClientPingPolicy {
  private lastPingAtMs = Number.NEGATIVE_INFINITY;
  private strikes = 0;
  private responseWritten = false;

  constructor(
    private readonly minIntervalMs: number,
    private readonly nowMs: () => number,
  ) {}

  /** The server wrote HEADERS or DATA. */
  noteResponseWritten(): void {
    this.responseWritten = true;
  }

  /** Judges a client PING; false once the client has pinged too often. */
  allowPing(openStreams: number): boolean {
    const now = this.nowMs();
    const lastPingAtMs = this.lastPingAtMs;
    this.lastPingAtMs = now;
    if (this.responseWritten) {
      this.responseWritten = false;
      this.strikes = 0;
      return true;
    }
    const minIntervalMs = openStreams === 0 ? idleClientPingIntervalMs : this.minIntervalMs;
    if (lastPingAtMs + minIntervalMs > now) this.strikes += 1;
    return this.strikes <= pingStrikesMax;
  }
}

export interface ServerPingerOptions {
  /** Ping after this long without reading anything. */
  idleMs: number;
  /** Close when nothing is read for this long after a ping. */
  timeoutMs: number;
  sendPing: () => void;
  onUnresponsive: () => void;
  nowMs: () => number;
}

export class ServerPinger {
  private lastReadMs: number;
  /** When our unanswered ping went out; undefined when none is outstanding. */
  private pingSentAtMs?: number;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly options: ServerPingerOptions) {
    this.lastReadMs = options.nowMs();
    this.schedule(options.idleMs);
  }

  /** Something was read from the client. */
  noteRead(): void {
    this.lastReadMs = this.options.nowMs();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.check(), Math.max(0, delayMs));
    // The connection, not this timer, keeps the process alive.
    this.timer.unref();
  }

  private check(): void {
    const { idleMs, timeoutMs, nowMs } = this.options;
    const now = nowMs();
    if (this.pingSentAtMs !== undefined) {
      if (this.lastReadMs >= this.pingSentAtMs) {
        this.pingSentAtMs = undefined;
      } else if (now - this.pingSentAtMs >= timeoutMs) {
        this.stopped = true;
        this.options.onUnresponsive();
        return;
      } else {
        this.schedule(this.pingSentAtMs + timeoutMs - now);
        return;
      }
    }
    const idleFor = now - this.lastReadMs;
    if (idleFor < idleMs) {
      this.schedule(idleMs - idleFor);
      return;
    }
    this.pingSentAtMs = now;
    this.options.sendPing();
    this.schedule(Math.min(idleMs, timeoutMs));
  }
}
