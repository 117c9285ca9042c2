// HPACK decoder against the RFC 7541 Appendix C examples (plain and Huffman, with eviction), the
// decoder's error cases, and the never-indexing encoder read back through the decoder.
import { describe, expect, it } from 'vitest';
import { HpackDecoder, type HeaderField } from '../../../src/api/h2/hpack-decoder.js';
import { encodeHeaderBlock } from '../../../src/api/h2/hpack-encoder.js';
import { decodeHuffman } from '../../../src/api/h2/hpack-huffman.js';
import { Http2ParseError } from '../../../src/api/h2/hpack-error.js';

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const pairs = (fields: HeaderField[]) => fields.map((f) => [f.name, f.value]);

interface Step {
  block: string;
  fields: Array<[string, string]>;
  table: Array<[string, string]>;
  tableSizeBytes: number;
}

function runSeries(tableSizeMaxBytes: number, steps: Step[]): void {
  const decoder = new HpackDecoder(tableSizeMaxBytes);
  for (const step of steps) {
    expect(pairs(decoder.decode(hex(step.block)))).toEqual(step.fields);
    expect(decoder.dynamicTable()).toEqual(step.table);
    expect(decoder.tableSizeBytes).toBe(step.tableSizeBytes);
  }
}

const requestFields: Array<Array<[string, string]>> = [
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']],
  [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']],
];
const requestTables: Array<Array<[string, string]>> = [
  [[':authority', 'www.example.com']],
  [['cache-control', 'no-cache'], [':authority', 'www.example.com']],
  [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']],
];
const date21 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const date22 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const cookie = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const location = 'https://www.example.com';
const responseFields: Array<Array<[string, string]>> = [
  [[':status', '302'], ['cache-control', 'private'], ['date', date21], ['location', location]],
  [[':status', '307'], ['cache-control', 'private'], ['date', date21], ['location', location]],
  [[':status', '200'], ['cache-control', 'private'], ['date', date22], ['location', location], ['content-encoding', 'gzip'], ['set-cookie', cookie]],
];
const responseTables: Array<Array<[string, string]>> = [
  [['location', location], ['date', date21], ['cache-control', 'private'], [':status', '302']],
  // Adding :status 307 evicted :status 302 (the 256-octet table is full).
  [[':status', '307'], ['location', location], ['date', date21], ['cache-control', 'private']],
  [['set-cookie', cookie], ['content-encoding', 'gzip'], ['date', date22]],
];

describe('HPACK decoder: RFC 7541 Appendix C', () => {
  it('C.2 single representations', () => {
    const cases: Array<[string, HeaderField, Array<[string, string]>]> = [
      ['400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572', { name: 'custom-key', value: 'custom-header', neverIndexed: false }, [['custom-key', 'custom-header']]],
      ['040c 2f73 616d 706c 652f 7061 7468', { name: ':path', value: '/sample/path', neverIndexed: false }, []],
      ['1008 7061 7373 776f 7264 0673 6563 7265 74', { name: 'password', value: 'secret', neverIndexed: true }, []],
      ['82', { name: ':method', value: 'GET', neverIndexed: false }, []],
    ];
    for (const [block, field, table] of cases) {
      const decoder = new HpackDecoder();
      expect(decoder.decode(hex(block))).toEqual([field]);
      expect(decoder.dynamicTable()).toEqual(table);
    }
  });

  it('C.3 requests without Huffman', () => {
    runSeries(4096, [
      { block: '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', fields: requestFields[0]!, table: requestTables[0]!, tableSizeBytes: 57 },
      { block: '8286 84be 5808 6e6f 2d63 6163 6865', fields: requestFields[1]!, table: requestTables[1]!, tableSizeBytes: 110 },
      { block: '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65', fields: requestFields[2]!, table: requestTables[2]!, tableSizeBytes: 164 },
    ]);
  });

  it('C.4 requests with Huffman', () => {
    runSeries(4096, [
      { block: '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', fields: requestFields[0]!, table: requestTables[0]!, tableSizeBytes: 57 },
      { block: '8286 84be 5886 a8eb 1064 9cbf', fields: requestFields[1]!, table: requestTables[1]!, tableSizeBytes: 110 },
      { block: '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf', fields: requestFields[2]!, table: requestTables[2]!, tableSizeBytes: 164 },
    ]);
  });

  it('C.5 responses without Huffman, 256-octet table with eviction', () => {
    runSeries(256, [
      {
        block: `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
                2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`,
        fields: responseFields[0]!, table: responseTables[0]!, tableSizeBytes: 222,
      },
      { block: '4803 3330 37c1 c0bf', fields: responseFields[1]!, table: responseTables[1]!, tableSizeBytes: 222 },
      {
        block: `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
                54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
                5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31`,
        fields: responseFields[2]!, table: responseTables[2]!, tableSizeBytes: 215,
      },
    ]);
  });

  it('C.6 responses with Huffman, 256-octet table with eviction', () => {
    runSeries(256, [
      {
        block: `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
                2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
        fields: responseFields[0]!, table: responseTables[0]!, tableSizeBytes: 222,
      },
      { block: '4883 640e ffc1 c0bf', fields: responseFields[1]!, table: responseTables[1]!, tableSizeBytes: 222 },
      {
        block: `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
                77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
                9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
        fields: responseFields[2]!, table: responseTables[2]!, tableSizeBytes: 215,
      },
    ]);
  });
});

describe('HPACK decoder: table size updates and errors', () => {
  it('a size update evicts down to the new size, and zero empties the table', () => {
    const decoder = new HpackDecoder();
    decoder.decode(hex('8286 84be 5808 6e6f 2d63 6163 6865'.replace('84be', '8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d be')));
    expect(decoder.tableEntryCount).toBe(2);
    // 0x3f 0x1b = size update to 31 + 27 = 58 octets: only the newest entry (53 octets) fits.
    expect(pairs(decoder.decode(hex('3f1b 82')))).toEqual([[':method', 'GET']]);
    expect(decoder.dynamicTable()).toEqual([['cache-control', 'no-cache']]);
    expect(decoder.tableCapacityBytes).toBe(58);
    decoder.decode(hex('20'));
    expect(decoder.tableEntryCount).toBe(0);
    expect(decoder.tableSizeBytes).toBe(0);
    // With capacity 0 a literal with indexing is decoded but not stored.
    expect(pairs(decoder.decode(hex('4003 6162 6301 78')))).toEqual([['abc', 'x']]);
    expect(decoder.tableEntryCount).toBe(0);
  });

  it('an entry larger than the table empties it and is not added', () => {
    const decoder = new HpackDecoder(64);
    decoder.decode(hex('4003 6162 6301 78')); // 36 octets
    expect(decoder.tableEntryCount).toBe(1);
    const bigValue = 'v'.repeat(40);
    decoder.decode(Buffer.concat([hex('4003 6465 6628'), Buffer.from(bigValue)]));
    expect(decoder.tableEntryCount).toBe(0);
  });

  it('rejects malformed blocks', () => {
    const bad = [
      '80', // index 0
      'be', // dynamic index beyond an empty table
      '82 3f1b', // size update after a field
      '3fe21f', // size update to 4097, beyond the 4096 maximum
      '0403 6162', // string longer than the block
      '04', // missing value
      '1f', // truncated integer
      '04 ff ff ff ff ff ff 0f', // integer overflow
      '04 81 00', // Huffman: 8 zero bits are not EOS padding
      '04 84 ff ff ff ff', // Huffman: EOS inside the string
      '04 82 1f ff', // Huffman: 'a'(00011) then 11 ones of padding
    ];
    for (const block of bad) {
      expect(() => new HpackDecoder().decode(hex(block)), block).toThrow(Http2ParseError);
    }
  });

  it('decodes every octet through Huffman codes of the RFC table', () => {
    // "no-cache" from C.4.2, and "custom-key" from C.4.3, at exact offsets.
    expect(decodeHuffman(hex('a8eb 1064 9cbf'), 0, 6)).toBe('no-cache');
    expect(decodeHuffman(hex('00 25a8 49e9 5ba9 7d7f'), 1, 8)).toBe('custom-key');
  });
});

describe('HPACK encoder', () => {
  it('writes literals without indexing that decode back unchanged and leave the table empty', () => {
    const fields: HeaderField[] = [
      { name: ':authority', value: '127.0.0.1:2379', neverIndexed: false },
      { name: ':path', value: '/etcdserverpb.KV/Put', neverIndexed: false },
      { name: 'x-long-name-'.padEnd(200, 'n'), value: 'v'.repeat(1337), neverIndexed: false },
      { name: 'authorization', value: 'token', neverIndexed: true },
      { name: 'binary', value: '\u0000\u00ff\u0080', neverIndexed: false },
    ];
    const block = encodeHeaderBlock(fields);
    const decoder = new HpackDecoder();
    expect(decoder.decode(block)).toEqual(fields);
    expect(decoder.tableEntryCount).toBe(0);
    // :authority is static index 1: a literal without indexing with indexed name is 0x01.
    expect(block[0]).toBe(0x01);
    // "authorization" is static index 23 and never indexed: 0x1f then 23 - 15 = 8.
    const authorizationAt = block.indexOf(Buffer.from([0x1f, 0x08]));
    expect(authorizationAt).toBeGreaterThan(0);
  });
});
