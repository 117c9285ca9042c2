// Client-side HTTP/2 bytes for the listener tests: recorded etcdctl connections, hand-built frames,
// and a splitter that cuts a byte stream into chunks at given offsets.
import { readFileSync } from 'node:fs';
import { writeFrameHeader } from '../../../src/api/h2/frame-types.js';

/** A frame's 9-octet header, as RFC 9113 §4.1 lays it out. */
export interface FrameHeader {
  lengthBytes: number;
  type: number;
  flags: number;
  streamId: number;
}

const fixture = (name: string) => Buffer.from(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'latin1').replace(/\s+/g, ''), 'hex');

/** etcdctl 3.4 `endpoint status` on an http:// endpoint: its :authority is the whole URL. */
export const statusConnection = fixture('etcdctl-endpoint-status-http.client.hex');
export const lockConnection = fixture('etcdctl-lock-session.client.hex');

export function frame(header: Omit<FrameHeader, 'lengthBytes'>, payload: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.alloc(9 + payload.length);
  writeFrameHeader(out, 0, payload.length, header.type, header.flags, header.streamId);
  payload.copy(out, 9);
  return out;
}

/** `bytes` cut at each offset in `cuts` (taken modulo its length + 1, deduplicated, in order). */
export function splitAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let previous = 0;
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(previous, point));
    previous = point;
  }
  return chunks;
}
