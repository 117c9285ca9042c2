// Encodes a header list for the server as literals without indexing and without Huffman (RFC 7541
// §6.2.2): the server's decoder table then stays empty forever, so the blocks we write never depend
// on what the client's encoder did. Names in the static table are referred to by index.
import type { HeaderField } from './hpack-decoder.js';
import { hpackStaticNameIndex } from './hpack-static-table.js';

const literalWithoutIndexing = 0x00;
const literalNeverIndexed = 0x10;

export function encodeHeaderBlock(fields: readonly HeaderField[]): Buffer {
  let totalBytes = 0;
  for (const field of fields) {
    const nameIndex = hpackStaticNameIndex.get(field.name) ?? 0;
    totalBytes += integerBytes(nameIndex, 4);
    if (nameIndex === 0) totalBytes += integerBytes(field.name.length, 7) + field.name.length;
    totalBytes += integerBytes(field.value.length, 7) + field.value.length;
  }
  const block = Buffer.allocUnsafe(totalBytes);
  let offset = 0;
  for (const field of fields) {
    const nameIndex = hpackStaticNameIndex.get(field.name) ?? 0;
    offset = writeInteger(block, offset, field.neverIndexed ? literalNeverIndexed : literalWithoutIndexing, nameIndex, 4);
    if (nameIndex === 0) offset = writeRawString(block, offset, field.name);
    offset = writeRawString(block, offset, field.value);
  }
  if (offset !== totalBytes) throw new Error(`hpack encoder: wrote ${offset} of ${totalBytes} bytes`);
  return block;
}

function integerBytes(value: number, prefixBits: number): number {
  const prefixMax = (1 << prefixBits) - 1;
  if (value < prefixMax) return 1;
  let bytes = 1;
  let rest = value - prefixMax;
  while (rest >= 128) {
    rest = Math.floor(rest / 128);
    bytes++;
  }
  return bytes + 1;
}

function writeInteger(block: Buffer, offset: number, pattern: number, value: number, prefixBits: number): number {
  const prefixMax = (1 << prefixBits) - 1;
  if (value < prefixMax) {
    block[offset++] = pattern | value;
    return offset;
  }
  block[offset++] = pattern | prefixMax;
  let rest = value - prefixMax;
  while (rest >= 128) {
    block[offset++] = (rest % 128) | 0x80;
    rest = Math.floor(rest / 128);
  }
  block[offset++] = rest;
  return offset;
}

function writeRawString(block: Buffer, offset: number, text: string): number {
  offset = writeInteger(block, offset, 0x00, text.length, 7);
  return offset + block.write(text, offset, 'latin1');
}
