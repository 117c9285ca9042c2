// The rewritten path (see client-listener.ts): the Duplex grpc-js's HTTP/2 server reads from instead
// of the raw socket. Client bytes go through a ClientFrameRewriter, server bytes go to the socket
// untouched. Backpressure follows the consumer: when the HTTP/2 session stops reading, the socket is
// paused.
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { ClientFrameRewriter, type ClientFrameRewriterOptions } from './client-frame-rewriter.js';

/** Pieces of one socket chunk up to this size are copied into one buffer before the session sees them. */
export const coalesceBytesMax = 16 * 1024;

/** How long a closed connection may take to flush its last bytes before the socket is destroyed. */
export const socketLingerMs = 1_000;

export class RewritingConnection extends Duplex {
  private readonly rewriter: ClientFrameRewriter;

  constructor(private readonly socket: Socket, firstBytes: Buffer, logger: Logger, options: ClientFrameRewriterOptions = {}) {
    super({ allowHalfOpen: false });
    // Pieces of one socket chunk: a rewritten HEADERS frame splits a chunk into several.
    const pieces: Buffer[] = [];
    this.rewriter = new ClientFrameRewriter((piece) => pieces.push(piece), options);
    const onData = (chunk: Buffer) => {
      try {
        this.rewriter.write(chunk);
        if (!this.pushPieces(pieces)) socket.pause();
        pieces.length = 0;
      } catch (error) {
        // One bad connection ends alone; the rewriter refuses further input, so this logs once.
        logger.warn({ err: error, remote: `${socket.remoteAddress}:${socket.remotePort}` }, 'closing client connection: unreadable HTTP/2 from the client');
        socket.destroy();
        this.destroy();
      }
    };
    socket.on('data', onData);
    socket.on('end', () => this.push(null));
    socket.on('close', () => {
      if (!this.destroyed) this.destroy();
    });
    socket.on('error', (error) => logger.debug({ err: error }, 'client socket error'));
    if (firstBytes.length > 0) onData(firstBytes);
  }

  /**
   * Every push costs the HTTP/2 session one crossing into nghttp2, so small pieces go as one buffer;
   * large ones (big DATA frames) are not worth copying.
   */
  private pushPieces(pieces: Buffer[]): boolean {
    if (pieces.length === 0) return true;
    if (pieces.length === 1) return this.push(pieces[0]);
    let totalBytes = 0;
    for (const piece of pieces) totalBytes += piece.length;
    if (totalBytes <= coalesceBytesMax) return this.push(Buffer.concat(pieces, totalBytes));
    let flowing = true;
    for (const piece of pieces) flowing = this.push(piece);
    return flowing;
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.socket.remotePort;
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.socket.write(chunk)) callback();
    else this.socket.once('drain', () => callback());
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this.socket.cork();
    let flushed = true;
    for (const { chunk } of chunks) flushed = this.socket.write(chunk);
    this.socket.uncork();
    if (flushed) callback();
    else this.socket.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.socket.end(() => callback());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const socket = this.socket;
    if (error !== null || socket.destroyed) {
      socket.destroy();
    } else {
      // The session ends a graceful close with a GOAWAY it has just written: let it reach the
      // client, but never wait on a client that stopped reading.
      const lingerTimer = setTimeout(() => socket.destroy(), socketLingerMs);
      lingerTimer.unref();
      socket.end(() => {
        clearTimeout(lingerTimer);
        socket.destroy();
      });
    }
    callback(error);
  }
}
