// Owns the small stream helpers the transport's HTTP exchanges share: reading a body with a byte
// limit, and writing with backpressure so a slow peer holds our memory at the socket's high-water
// mark instead of growing it.
import type { Readable, Writable } from 'node:stream';

export class BodyTooLargeError extends Error {
  constructor(readonly bytesMax: number) {
    super(`body exceeds ${bytesMax} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

export async function readBody(stream: Readable, bytesMax: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buffer = chunk as Buffer;
    total += buffer.length;
    if (total > bytesMax) throw new BodyTooLargeError(bytesMax);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks, total);
}

/** Resolves once `chunk` is accepted and, when the stream's buffer is full, once it has drained. */
export function writeWithBackpressure(stream: Writable, chunk: Buffer): Promise<void> {
  if (stream.destroyed) return Promise.reject(new Error('stream closed'));
  if (stream.write(chunk)) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const done = (error?: Error) => {
      stream.off('drain', onDrain);
      stream.off('close', onClose);
      stream.off('error', onError);
      if (error) reject(error);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new Error('stream closed'));
    const onError = (error: Error) => done(error);
    stream.on('drain', onDrain);
    stream.on('close', onClose);
    stream.on('error', onError);
  });
}
