// Decides from a connection's first bytes what it speaks: the HTTP/2 client preface means gRPC;
// anything else is HTTP/1.x (the JSON gateway and /health later share the port, as etcd's cmux does).
import type { Socket } from 'node:net';
import { clientPreface } from '../h2/frame-types.js';

export type ConnectionProtocol = 'http2' | 'other';

/** A connection that has not shown its protocol after this long is closed. */
export const protocolSniffTimeoutMs = 10_000;

/**
 * Reads until the protocol is known, then calls `decided` once with the bytes read so far; the
 * socket is left paused with no data listener. Closes the socket if it says nothing in time.
 */
export function sniffProtocol(socket: Socket, decided: (protocol: ConnectionProtocol, firstBytes: Buffer) => void): void {
  let seen: Buffer = Buffer.alloc(0);
  const timer = setTimeout(() => socket.destroy(), protocolSniffTimeoutMs);
  timer.unref();
  const finish = (protocol: ConnectionProtocol) => {
    clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.removeListener('close', onClose);
    socket.pause();
    decided(protocol, seen);
  };
  const onData = (chunk: Buffer) => {
    seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const compared = Math.min(seen.length, clientPreface.length);
    if (seen.compare(clientPreface, 0, compared, 0, compared) !== 0) finish('other');
    else if (compared === clientPreface.length) finish('http2');
  };
  const onClose = () => clearTimeout(timer);
  socket.on('data', onData);
  socket.on('close', onClose);
}
