// Decodes HPACK Huffman-coded string literals (RFC 7541 §5.2) with a binary tree built once from
// the Appendix B code. Header blocks are small and most fields after the first request are indexed,
// so a bit-at-a-time walk is cheap enough; validity rules for padding are checked exactly.
import { huffmanCodes } from './hpack-huffman-table.js';
import { Http2ParseError } from './hpack-error.js';

/** Node n's children are at tree[2n] (bit 0) and tree[2n+1] (bit 1); a value < 0 is leaf ~symbol. */
const unassigned = 0;
const tree = buildTree();

function buildTree(): Int32Array {
  // 256 symbols in a prefix code need 255 internal nodes; the EOS branch adds at most 30 more.
  const nodesMax = 256 + 32;
  const children = new Int32Array(nodesMax * 2);
  let nodeCount = 1;
  huffmanCodes.forEach(([code, bitLength], symbol) => {
    let node = 0;
    for (let bit = bitLength - 1; bit >= 0; bit--) {
      const slot = node * 2 + ((code >>> bit) & 1);
      if (bit === 0) {
        if (children[slot] !== unassigned) throw new Error(`huffman table: code of ${symbol} is not prefix-free`);
        children[slot] = ~symbol;
      } else {
        if (children[slot] < 0) throw new Error(`huffman table: code of ${symbol} extends another code`);
        if (children[slot] === unassigned) children[slot] = nodeCount++;
        node = children[slot];
      }
    }
  });
  if (nodeCount > nodesMax) throw new Error('huffman table: too many nodes');
  return children;
}

/** Decodes `length` octets at `offset` into a latin1 string (one char per decoded octet). */
export function decodeHuffman(source: Buffer, offset: number, length: number): string {
  // Every code is at least 5 bits, so the output is at most 8/5 of the input.
  const out = Buffer.allocUnsafe(Math.ceil((length * 8) / 5));
  let outLength = 0;
  let node = 0;
  let bitsSinceSymbol = 0;
  let allOnesSinceSymbol = true;
  const end = offset + length;
  for (let i = offset; i < end; i++) {
    const octet = source[i]!;
    for (let shift = 7; shift >= 0; shift--) {
      const bit = (octet >>> shift) & 1;
      const next = tree[node * 2 + bit]!;
      if (next < 0) {
        out[outLength++] = ~next;
        node = 0;
        bitsSinceSymbol = 0;
        allOnesSinceSymbol = true;
      } else if (next === unassigned) {
        // Only the 30-ones EOS path leads here: EOS inside a string is an error (§5.2).
        throw new Http2ParseError('hpack: huffman string contains EOS');
      } else {
        node = next;
        bitsSinceSymbol++;
        if (bit === 0) allOnesSinceSymbol = false;
      }
    }
  }
  if (bitsSinceSymbol > 7) throw new Http2ParseError('hpack: huffman padding longer than 7 bits');
  if (!allOnesSinceSymbol) throw new Http2ParseError('hpack: huffman padding is not the EOS prefix');
  return out.toString('latin1', 0, outLength);
}
