// Properties of the HPACK decoder against a small reference encoder written here: every octet
// through Huffman, incremental indexing with eviction and size updates, and random input that
// must fail only with Http2ParseError (the connection's one signal to drop a client); and of our
// HTTP/2 server connection under random input: it never throws, and a header block the decoder
// refuses ends the connection with GOAWAY COMPRESSION_ERROR (RFC 9113 §4.3).
import fc from 'fast-check';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { HpackDecoder, type HeaderField } from '../../../src/api/h2/hpack-decoder.js';
import { Http2ParseError } from '../../../src/api/h2/hpack-error.js';
import { huffmanCodes } from '../../../src/api/h2/hpack-huffman-table.js';
import { decodeHuffman } from '../../../src/api/h2/hpack-huffman.js';
import {
  clientPreface, errorCompression, flagEndHeaders, flagEndStream, frame, frameGoaway, frameHeaders,
} from '../../../src/api/h2/frame-types.js';
import { H2Connection } from '../../../src/api/h2/h2-connection.js';
import { grpcResponseHeaderBlock } from '../../../src/api/grpc/lean-duplex-call.js';
import { splitAt } from './h2-test-peer.js';
import { goawayOf, MemorySocket, settingsFrame } from './server-frames.js';

function huffmanEncode(text: string): Buffer {
  const bits: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const [code, bitLength] = huffmanCodes[text.charCodeAt(i)]!;
    for (let bit = bitLength - 1; bit >= 0; bit--) bits.push((code >>> bit) & 1);
  }
  while (bits.length % 8 !== 0) bits.push(1); // EOS prefix padding
  const out = Buffer.alloc(bits.length / 8);
  bits.forEach((bit, i) => { out[i >> 3]! |= bit << (7 - (i % 8)); });
  return out;
}

function integer(pattern: number, value: number, prefixBits: number): number[] {
  const prefixMax = (1 << prefixBits) - 1;
  if (value < prefixMax) return [pattern | value];
  const out = [pattern | prefixMax];
  let rest = value - prefixMax;
  while (rest >= 128) {
    out.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

function stringLiteral(text: string, huffman: boolean): Buffer {
  const body = huffman ? huffmanEncode(text) : Buffer.from(text, 'latin1');
  return Buffer.concat([Buffer.from(integer(huffman ? 0x80 : 0, body.length, 7)), body]);
}

/** A reference encoder: indexes everything it can, and models the table to refer back to it. */
class ReferenceEncoder {
  private table: Array<[string, string]> = []; // newest first
  private capacityBytes = 4096;

  encode(fields: Array<[string, string]>, huffman: boolean, sizeUpdate: number | null): Buffer {
    const parts: Buffer[] = [];
    if (sizeUpdate !== null) {
      parts.push(Buffer.from(integer(0x20, sizeUpdate, 5)));
      this.capacityBytes = sizeUpdate;
      this.evict(0);
    }
    for (const [name, value] of fields) {
      const found = this.table.findIndex(([n, v]) => n === name && v === value);
      if (found >= 0) {
        parts.push(Buffer.from(integer(0x80, 62 + found, 7)));
        continue;
      }
      const nameFound = this.table.findIndex(([n]) => n === name);
      parts.push(Buffer.from(integer(0x40, nameFound >= 0 ? 62 + nameFound : 0, 6)));
      if (nameFound < 0) parts.push(stringLiteral(name, huffman));
      parts.push(stringLiteral(value, huffman));
      const entryBytes = name.length + value.length + 32;
      this.evict(entryBytes);
      if (entryBytes <= this.capacityBytes) this.table.unshift([name, value]);
    }
    return Buffer.concat(parts);
  }

  private evict(incomingBytes: number): void {
    const size = () => this.table.reduce((sum, [n, v]) => sum + n.length + v.length + 32, 0);
    while (this.table.length > 0 && size() + incomingBytes > this.capacityBytes) this.table.pop();
  }

  entries(): Array<[string, string]> {
    return this.table;
  }
}

const logger = pino({ level: 'silent' });

/** A server connection on an in-memory socket, its client preface read; request streams answered once the client ends them. */
function openConnection(): { connection: H2Connection; socket: MemorySocket } {
  const socket = new MemorySocket();
  const connection = new H2Connection(socket, {
    logger,
    onStream: (stream) => stream.attach(() => {}, () => {
      stream.respond(grpcResponseHeaderBlock);
      stream.write(Buffer.alloc(5));
      stream.end(null);
    }),
  });
  connection.start(clientPreface);
  return { connection, socket };
}

const latin1 = (maxLength: number) => fc.array(fc.integer({ min: 0, max: 255 }), { maxLength }).map((codes) => String.fromCharCode(...codes));

describe('HPACK properties', () => {
  it('Huffman decoding inverts the RFC code for every octet', () => {
    const everyOctet = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));
    const encoded = huffmanEncode(everyOctet);
    expect(decodeHuffman(encoded, 0, encoded.length)).toBe(everyOctet);
    fc.assert(fc.property(latin1(64), (text) => {
      const bytes = huffmanEncode(text);
      expect(decodeHuffman(bytes, 0, bytes.length)).toBe(text);
    }), { numRuns: 300 });
  });

  it('decodes what an indexing encoder writes, with the same table, across blocks and size updates', () => {
    const field = fc.tuple(fc.constantFrom('a', 'b', 'c', ':authority', 'x-long'), fc.oneof(latin1(3), latin1(120)));
    const block = fc.record({
      fields: fc.array(field, { maxLength: 8 }),
      huffman: fc.boolean(),
      sizeUpdate: fc.option(fc.integer({ min: 0, max: 4096 }), { freq: 4 }),
    });
    fc.assert(fc.property(fc.array(block, { minLength: 1, maxLength: 10 }), (blocks) => {
      const encoder = new ReferenceEncoder();
      const decoder = new HpackDecoder();
      for (const { fields, huffman, sizeUpdate } of blocks) {
        const decoded = decoder.decode(encoder.encode(fields, huffman, sizeUpdate));
        expect(decoded.map((f: HeaderField) => [f.name, f.value])).toEqual(fields);
        expect(decoder.dynamicTable()).toEqual(encoder.entries());
        expect(decoder.tableSizeBytes).toBeLessThanOrEqual(decoder.tableCapacityBytes);
      }
    }), { numRuns: 300 });
  });

  it('fails on random blocks only with Http2ParseError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      try {
        new HpackDecoder().decode(Buffer.from(bytes));
      } catch (error) {
        expect(error).toBeInstanceOf(Http2ParseError);
      }
    }), { numRuns: 2000 });
  });

  it('a connection takes random frames after its preface without throwing, whatever their split', () => {
    const frameBytes = fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 3 }), fc.uint8Array({ maxLength: 40 }))
      .map(([length, type, flags, streamId, payload]) => {
        const out = Buffer.alloc(9 + payload.length);
        out.writeUIntBE(Math.min(length, payload.length), 0, 3);
        out[3] = type;
        out[4] = flags;
        out.writeUInt32BE(streamId, 5);
        Buffer.from(payload).copy(out, 9);
        return out.subarray(0, 9 + Math.min(length, payload.length));
      });
    fc.assert(fc.property(fc.array(frameBytes, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 4 }), (frames, cuts) => {
      const { connection, socket } = openConnection();
      try {
        // Streams that open are answered when the client ends them, so the writing side runs too.
        for (const chunk of splitAt(Buffer.concat([settingsFrame(), ...frames]), cuts)) socket.receive(chunk);
        // Whatever the server wrote is whole frames; a connection error is its last frame.
        const written = socket.frames();
        const goaway = written.findIndex((received) => received.type === frameGoaway);
        if (goaway >= 0) {
          expect(goaway).toBe(written.length - 1);
          expect(socket.writableEnded).toBe(true);
        }
      } finally {
        connection.destroy();
      }
    }), { numRuns: 2000 });
  });

  it('a header block the decoder refuses ends the connection with GOAWAY COMPRESSION_ERROR; one it takes does not', () => {
    let refused = 0;
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const block = Buffer.from(bytes);
      let decodable = true;
      try {
        new HpackDecoder().decode(block);
      } catch {
        decodable = false;
      }
      const { connection, socket } = openConnection();
      try {
        socket.receive(Buffer.concat([settingsFrame(), frame(frameHeaders, flagEndHeaders | flagEndStream, 1, block)]));
        const goaways = socket.frames().filter((received) => received.type === frameGoaway).map(goawayOf);
        if (decodable) {
          expect(goaways).toEqual([]);
          expect(socket.writableEnded).toBe(false);
        } else {
          refused++;
          expect(goaways).toEqual([{ lastStreamId: 0, code: errorCompression }]);
          expect(socket.writableEnded).toBe(true);
        }
      } finally {
        connection.destroy();
      }
    }), { numRuns: 2000 });
    // The property saw both kinds of block.
    expect(refused).toBeGreaterThan(100);
    expect(refused).toBeLessThan(2000);
  });
});
