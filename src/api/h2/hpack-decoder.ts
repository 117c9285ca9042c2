// An HPACK decoder (RFC 7541) with the client's view of the dynamic table: one per connection, fed
// every header block the client sends, in order. Names and values come out as latin1 strings, which
// keep every octet as it was sent.
import { decodeHuffman } from './hpack-huffman.js';
import { Http2ParseError } from './hpack-error.js';
import { hpackStaticTable } from './hpack-static-table.js';

export interface HeaderField {
  readonly name: string;
  readonly value: string;
  /** Sent as "never indexed" (§6.2.3): an intermediary must forward it that way. */
  readonly neverIndexed: boolean;
}

/**
 * The static table as fields. A field decoded from a table index is the table's own object, the
 * same every time: nothing is allocated for it, and a reader may remember what it found out about
 * it (h2-connection.ts remembers which fields it has validated).
 */
const staticFields: readonly HeaderField[] = hpackStaticTable.map(([name, value]) => ({ name, value, neverIndexed: false }));

/** RFC 7541 §4.1: an entry costs its octets plus this overhead. */
export const hpackEntryOverheadBytes = 32;
/** HTTP/2's initial SETTINGS_HEADER_TABLE_SIZE, the table size before any size update. */
export const hpackDefaultTableSizeBytes = 4096;
/** Integers above this cannot be a length, index or table size we would accept. */
const integerValueMax = 2 ** 31 - 1;

interface Cursor {
  offset: number;
}

export class HpackDecoder {
  /** Oldest first; the newest entry is dynamic index 1 (absolute index 62). */
  private readonly entries: HeaderField[] = [];
  private sizeBytes = 0;
  private capacityBytes = hpackDefaultTableSizeBytes;
  private changes = 0;

  /**
   * @param tableSizeMaxBytes the largest table size a size update may set: the server's
   *   SETTINGS_HEADER_TABLE_SIZE, which bounds this table's memory too.
   */
  constructor(private readonly tableSizeMaxBytes: number = hpackDefaultTableSizeBytes) {
    if (!Number.isSafeInteger(tableSizeMaxBytes) || tableSizeMaxBytes < 0) {
      throw new Error(`tableSizeMaxBytes must be a non-negative integer, got ${tableSizeMaxBytes}`);
    }
    this.capacityBytes = Math.min(hpackDefaultTableSizeBytes, tableSizeMaxBytes);
  }

  get tableSizeBytes(): number {
    return this.sizeBytes;
  }

  get tableCapacityBytes(): number {
    return this.capacityBytes;
  }

  /**
   * Counts the blocks' changes to the dynamic table (insertions, size updates). A block whose
   * decode left it unchanged decodes the same way again for as long as it stays unchanged.
   */
  get tableChanges(): number {
    return this.changes;
  }

  get tableEntryCount(): number {
    return this.entries.length;
  }

  /** A copy of the dynamic table, newest entry (dynamic index 1) first. */
  dynamicTable(): Array<[name: string, value: string]> {
    return this.entries.map(({ name, value }): [string, string] => [name, value]).reverse();
  }

  /** Decodes one complete header block; throws Http2ParseError, after which the decoder is unusable. */
  decode(block: Buffer): HeaderField[] {
    const fields: HeaderField[] = [];
    const cursor: Cursor = { offset: 0 };
    while (cursor.offset < block.length) {
      const first = block[cursor.offset]!;
      if (first & 0x80) {
        const index = readInteger(block, cursor, 7);
        fields.push(this.lookup(index));
      } else if (first & 0x40) {
        const field = this.readLiteral(block, cursor, 6, false);
        fields.push(field);
        this.insert(field);
      } else if (first & 0x20) {
        // §4.2: size updates only at the start of a block, before any field.
        if (fields.length > 0) throw new Http2ParseError('hpack: dynamic table size update after a header field');
        const sizeBytes = readInteger(block, cursor, 5);
        if (sizeBytes > this.tableSizeMaxBytes) {
          throw new Http2ParseError(`hpack: table size update to ${sizeBytes} exceeds ${this.tableSizeMaxBytes}`);
        }
        this.capacityBytes = sizeBytes;
        this.changes++;
        this.evictToFit(0);
      } else {
        fields.push(this.readLiteral(block, cursor, 4, (first & 0x10) !== 0));
      }
    }
    return fields;
  }

  private readLiteral(block: Buffer, cursor: Cursor, prefixBits: number, neverIndexed: boolean): HeaderField {
    const nameIndex = readInteger(block, cursor, prefixBits);
    const name = nameIndex === 0 ? readString(block, cursor) : this.lookup(nameIndex).name;
    const value = readString(block, cursor);
    return { name, value, neverIndexed };
  }

  private lookup(index: number): HeaderField {
    if (index === 0) throw new Http2ParseError('hpack: index 0');
    if (index <= staticFields.length) return staticFields[index - 1]!;
    const dynamicIndex = index - staticFields.length;
    if (dynamicIndex > this.entries.length) throw new Http2ParseError(`hpack: index ${index} beyond the table`);
    return this.entries[this.entries.length - dynamicIndex]!;
  }

  private insert(field: HeaderField): void {
    this.changes++;
    const entryBytes = field.name.length + field.value.length + hpackEntryOverheadBytes;
    // §4.4: an entry larger than the table empties it and is not added; that is not an error.
    this.evictToFit(entryBytes);
    if (entryBytes > this.capacityBytes) return;
    this.entries.push(field);
    this.sizeBytes += entryBytes;
  }

  private evictToFit(incomingBytes: number): void {
    let evictCount = 0;
    while (this.sizeBytes + incomingBytes > this.capacityBytes && evictCount < this.entries.length) {
      const { name, value } = this.entries[evictCount]!;
      this.sizeBytes -= name.length + value.length + hpackEntryOverheadBytes;
      evictCount++;
    }
    if (evictCount > 0) this.entries.splice(0, evictCount);
  }
}

/** §5.1: an N-bit prefix integer, continued in 7-bit groups when the prefix is all ones. */
function readInteger(block: Buffer, cursor: Cursor, prefixBits: number): number {
  if (cursor.offset >= block.length) throw new Http2ParseError('hpack: truncated integer');
  const prefixMax = (1 << prefixBits) - 1;
  let value = block[cursor.offset++]! & prefixMax;
  if (value < prefixMax) return value;
  let multiplier = 1;
  for (;;) {
    if (cursor.offset >= block.length) throw new Http2ParseError('hpack: truncated integer');
    const octet = block[cursor.offset++]!;
    value += (octet & 0x7f) * multiplier;
    if (value > integerValueMax) throw new Http2ParseError('hpack: integer too large');
    if ((octet & 0x80) === 0) return value;
    multiplier *= 128;
  }
}

/** §5.2: a length-prefixed string, Huffman-coded when the top bit is set. */
function readString(block: Buffer, cursor: Cursor): string {
  if (cursor.offset >= block.length) throw new Http2ParseError('hpack: truncated string');
  const huffman = (block[cursor.offset]! & 0x80) !== 0;
  const length = readInteger(block, cursor, 7);
  if (length > block.length - cursor.offset) throw new Http2ParseError('hpack: string longer than the block');
  const start = cursor.offset;
  cursor.offset += length;
  return huffman ? decodeHuffman(block, start, length) : block.toString('latin1', start, start + length);
}
