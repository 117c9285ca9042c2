// A client socket whose HTTP/2 connection is being probed (first-request-probe.ts): the listener's
// own SETTINGS go out, client bytes are read into the probe until it decides, and the socket is left
// paused for the path it chose. A bound on time (a client that connects early and stays idle) or on
// bytes ends the probe on the rewritten path, which serves every connection correctly. A broken
// byte stream closes the connection, as the rewriter would.
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { FirstRequestProbe, type ClientConnectionPath, type ProbeVerdict } from './first-request-probe.js';
import { emptySettingsFrame, goawayNothingProcessedFrame } from './http2-frames.js';
import { socketLingerMs } from './rewriting-connection.js';

/** A client that has not sent its first request and the ACK by then is served on the rewritten path. */
export const firstRequestProbeTimeoutMsDefault = 1_000;
/** What a probe may hold beyond the largest header block: the frames around it (SETTINGS, WINDOW_UPDATE, DATA). */
export const probeSlackBytes = 64 * 1024;

export interface ProbeOutcome {
  path: ClientConnectionPath;
  reason: string;
  /** Every client byte read, preface first, without the ACK of our SETTINGS when it was seen. */
  bytes: Buffer;
  /** The client's ACK of our SETTINGS is still to come: the rewriter must drop it. */
  settingsAckOwed: boolean;
}

export interface ProbingSocketOptions {
  headerBlockBytesMax: number;
  hpackTableSizeMaxBytes?: number;
  timeoutMs: number;
  logger: Logger;
}

export class ProbingSocket {
  private readonly probe: FirstRequestProbe;
  private readonly bytesMax: number;
  private timer: NodeJS.Timeout | undefined;
  private settled = false;

  constructor(
    private readonly socket: Socket,
    private readonly firstBytes: Buffer,
    private readonly options: ProbingSocketOptions,
    private readonly decided: (outcome: ProbeOutcome) => void,
  ) {
    this.probe = new FirstRequestProbe({ headerBlockBytesMax: options.headerBlockBytesMax, hpackTableSizeMaxBytes: options.hpackTableSizeMaxBytes });
    this.bytesMax = options.headerBlockBytesMax + probeSlackBytes;
  }

  /** Sends the server preface and reads; `decided` may be called before this returns. */
  start(): void {
    this.socket.write(emptySettingsFrame);
    this.socket.on('data', this.onData);
    this.socket.on('close', this.onClose);
    this.timer = setTimeout(() => this.finish({ path: 'rewritten', reason: `no first request within ${this.options.timeoutMs} ms` }), this.options.timeoutMs);
    this.timer.unref();
    this.onData(this.firstBytes);
    if (!this.settled) this.socket.resume();
  }

  /**
   * Shutdown: no server session has seen this connection, so a GOAWAY that processed nothing tells
   * the client to retry its requests elsewhere; the close never waits on a client that stopped reading.
   */
  closeGracefully(): void {
    if (this.settled) return;
    this.stop();
    const socket = this.socket;
    const lingerTimer = setTimeout(() => socket.destroy(), socketLingerMs);
    lingerTimer.unref();
    socket.end(goawayNothingProcessedFrame, () => {
      clearTimeout(lingerTimer);
      socket.destroy();
    });
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.settled) return;
    let verdict: ProbeVerdict | undefined;
    try {
      verdict = this.probe.write(chunk);
    } catch (error) {
      this.options.logger.warn(
        { err: error, remote: `${this.socket.remoteAddress}:${this.socket.remotePort}` },
        'closing client connection: unreadable HTTP/2 from the client',
      );
      this.stop();
      this.socket.destroy();
      return;
    }
    if (verdict !== undefined) this.finish(verdict);
    else if (this.probe.receivedBytes > this.bytesMax) this.finish({ path: 'rewritten', reason: `no first request within ${this.bytesMax} bytes` });
  };

  private readonly onClose = (): void => this.stop();

  private finish(verdict: ProbeVerdict): void {
    if (this.settled) return;
    this.stop();
    this.socket.pause();
    this.decided({ ...verdict, bytes: this.probe.takeBytes(), settingsAckOwed: !this.probe.settingsAckSeen });
  }

  private stop(): void {
    this.settled = true;
    clearTimeout(this.timer);
    this.socket.removeListener('data', this.onData);
    this.socket.removeListener('close', this.onClose);
  }
}
