// LeanDuplexCall's batching of responses: what a handler writes in one tick reaches the HTTP/2
// stream as one write, before any status; write() reports a full buffer as grpc-js does, and a
// 'drain' always follows a write that returned false. Driven on a stand-in for the HTTP/2 stream.
import { EventEmitter } from 'node:events';
import type http2 from 'node:http2';
import { describe, expect, it } from 'vitest';
import { LeanDuplexCall } from '../../../src/api/grpc/lean-duplex-call.js';

class FakeStream extends EventEmitter {
  readonly writes: Buffer[] = [];
  readonly writableHighWaterMark = 100;
  writableLength = 0;
  destroyed = false;
  closed = false;
  responded = 0;
  trailers: Record<string, string> | undefined;
  ended = false;

  respond(): void {
    this.responded++;
  }

  write(chunk: Buffer): boolean {
    this.writes.push(chunk);
    this.writableLength += chunk.length;
    return this.writableLength < this.writableHighWaterMark;
  }

  end(): void {
    this.ended = true;
    this.emit('wantTrailers');
  }

  sendTrailers(trailers: Record<string, string>): void {
    this.trailers = trailers;
  }

  /** The peer read everything: the buffer empties and, as a Writable does, 'drain' follows a refused write. */
  drained(): void {
    const wasFull = this.writableLength >= this.writableHighWaterMark;
    this.writableLength = 0;
    if (wasFull) this.emit('drain');
  }
}

function callOn(stream: FakeStream): LeanDuplexCall {
  const method = { path: '/etcdserverpb.Watch/Watch', deserialize: (bytes: Buffer) => bytes, serialize: (value: unknown) => value as Buffer };
  const call = new LeanDuplexCall(stream as unknown as http2.ServerHttp2Stream, {}, method, 1 << 20);
  call.start();
  return call;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function frames(...messages: Buffer[]): Buffer {
  return Buffer.concat(messages.map((message) => {
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(message.length, 1);
    return Buffer.concat([prefix, message]);
  }));
}

describe('LeanDuplexCall batching', () => {
  it('responses written in one tick go out as one write of length-prefixed messages, headers first', async () => {
    const stream = new FakeStream();
    const call = callOn(stream);
    const messages = [Buffer.from('one'), Buffer.from('two'), Buffer.from('three')];
    for (const message of messages) expect(call.write(message)).toBe(true);
    expect(stream.writes).toHaveLength(0);
    await tick();
    expect(stream.responded).toBe(1);
    expect(stream.writes).toEqual([frames(...messages)]);
    call.write(Buffer.from('four'));
    await tick();
    expect(stream.writes).toHaveLength(2);
    expect(stream.responded).toBe(1);
  });

  it('the status goes out after the responses written before it', () => {
    const stream = new FakeStream();
    const call = callOn(stream);
    call.write(Buffer.from('last words'));
    call.end();
    expect(stream.writes).toEqual([frames(Buffer.from('last words'))]);
    expect(stream.ended).toBe(true);
    expect(stream.trailers).toMatchObject({ 'grpc-status': '0' });
  });

  it('a write that fills the buffer returns false, and a drain follows once the stream takes more', async () => {
    const stream = new FakeStream();
    const call = callOn(stream);
    let drains = 0;
    call.on('drain', () => drains++);
    expect(call.write(Buffer.alloc(40))).toBe(true);
    expect(call.write(Buffer.alloc(60))).toBe(false);
    await tick();
    expect(stream.writes).toHaveLength(1);
    expect(drains).toBe(0);
    stream.drained();
    expect(drains).toBe(1);
  });

  it('a write refused while batching gets its drain even when the stream took the batch', async () => {
    const stream = new FakeStream();
    const call = callOn(stream);
    let drains = 0;
    call.on('drain', () => drains++);
    stream.writableLength = 90; // not yet sent to the peer
    expect(call.write(Buffer.alloc(20))).toBe(false);
    stream.writableLength = 0; // the peer read it before the batch went out
    await tick();
    expect(stream.writes).toHaveLength(1);
    await tick();
    expect(drains).toBe(1);
  });
});
