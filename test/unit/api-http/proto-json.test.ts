// The gateway's JSON codec: the number-preserving parser and the proto-driven conversion both ways,
// checked against what etcd 3.4's gateway was seen to accept, refuse and write.
import { describe, expect, it } from 'vitest';
import { loadProtobufRoot } from '../../../src/api/grpc/definitions.js';
import { JsonNumber, JsonSyntaxError, jsonNestingDepthMax, parseJsonText } from '../../../src/api/http/json-text.js';
import { JsonFormatError, jsonNameOf, messageFromJson, messageToJson } from '../../../src/api/http/proto-json.js';

const root = loadProtobufRoot();
const type = (name: string) => root.lookupType(name);
const fromJson = (name: string, text: string) => messageFromJson(type(name), parseJsonText(text));

describe('parseJsonText', () => {
  it('keeps the digits of numbers beyond 2^53', () => {
    const parsed = parseJsonText('{"lease": 18446744073709551615, "n": -12.5e3}') as Record<string, JsonNumber>;
    expect(parsed.lease).toEqual(new JsonNumber('18446744073709551615'));
    expect(parsed.n!.text).toBe('-12.5e3');
  });

  it('parses strings with escapes and keeps plain ones as they are', () => {
    expect(parseJsonText('["a\\"b\\u00e9", "Zm9v"]')).toEqual(['a"bé', 'Zm9v']);
  });

  it("answers Go's messages for bad documents", () => {
    expect(() => parseJsonText('not json')).toThrow("invalid character 'o' in literal null (expecting 'u')");
    expect(() => parseJsonText('garbage')).toThrow("invalid character 'g' looking for beginning of value");
    expect(() => parseJsonText('{"a":1')).toThrow('unexpected end of JSON input');
    expect(() => parseJsonText('{"a":1} x')).toThrow(JsonSyntaxError);
    expect(() => parseJsonText('')).toThrow('unexpected end of JSON input');
  });

  it('refuses nesting deeper than its maximum instead of exhausting the stack', () => {
    const deep = '['.repeat(jsonNestingDepthMax + 2) + ']'.repeat(jsonNestingDepthMax + 2);
    expect(() => parseJsonText(deep)).toThrow(JsonSyntaxError);
    const allowed = '['.repeat(100) + ']'.repeat(100);
    expect(() => parseJsonText(allowed)).not.toThrow();
  });
});

describe('messageFromJson', () => {
  it('takes proto names and lowerCamel names, ignores unknown fields', () => {
    const wire = fromJson('etcdserverpb.RangeRequest', '{"key":"Zm9v","rangeEnd":"Zm9w","keys_only":true,"countOnly":true,"bogus":1}');
    expect(wire).toEqual({ key: Buffer.from('foo'), range_end: Buffer.from('fop'), keys_only: true, count_only: true });
  });

  it('matches names exactly as etcd does (ID, not id)', () => {
    expect(fromJson('etcdserverpb.LeaseRevokeRequest', '{"id":79}')).toEqual({});
    expect(fromJson('etcdserverpb.LeaseRevokeRequest', '{"ID":79}')).toEqual({ ID: '79' });
  });

  it('reads 64-bit integers from strings and numbers without rounding', () => {
    expect(fromJson('etcdserverpb.PutRequest', '{"lease":18446744073709551615}').lease).toBe('18446744073709551615');
    expect(fromJson('etcdserverpb.PutRequest', '{"lease":"7587867539435395073"}').lease).toBe('7587867539435395073');
    expect(() => fromJson('etcdserverpb.PutRequest', '{"lease":"abc"}')).toThrow(JsonFormatError);
    expect(() => fromJson('etcdserverpb.PutRequest', '{"lease":1.5}')).toThrow(JsonFormatError);
  });

  it('reads enums by name or number and names the Go enum type on an unknown name', () => {
    expect(fromJson('etcdserverpb.RangeRequest', '{"sort_order":"DESCEND","sortTarget":2}')).toEqual({ sort_order: 2, sort_target: 2 });
    expect(() => fromJson('etcdserverpb.RangeRequest', '{"sort_order":"BOGUS"}'))
      .toThrow('unknown value "BOGUS" for enum etcdserverpb.RangeRequest_SortOrder');
  });

  it('decodes padded standard base64 only, with Go-style errors', () => {
    expect(() => fromJson('etcdserverpb.PutRequest', '{"key":123}')).toThrow('json: cannot unmarshal number into Go value of type []uint8');
    expect(() => fromJson('etcdserverpb.PutRequest', '{"key":"Zm9v-"}')).toThrow('illegal base64 data at input byte 4');
    expect(() => fromJson('etcdserverpb.PutRequest', '{"key":"Zm9"}')).toThrow(/illegal base64 data/);
  });

  it('checks scalar kinds and treats null as unset', () => {
    expect(() => fromJson('etcdserverpb.PutRequest', '{"prev_kv":"true"}')).toThrow('json: cannot unmarshal string into Go value of type bool');
    expect(fromJson('etcdserverpb.PutRequest', '{"key":null,"prev_kv":null}')).toEqual({});
    expect(fromJson('etcdserverpb.PutRequest', 'null')).toEqual({});
    expect(() => fromJson('etcdserverpb.RangeRequest', '[]')).toThrow('json: cannot unmarshal array into Go value of type map[string]json.RawMessage');
  });

  it('decodes nested messages and repeated fields (a txn with camelCase ops)', () => {
    const wire = fromJson('etcdserverpb.TxnRequest',
      '{"compare":[{"key":"Zm9v","target":"MOD","result":"LESS","mod_revision":"10"}],"success":[{"requestPut":{"key":"Zm9v","value":"eg=="}}]}');
    expect(wire).toEqual({
      compare: [{ key: Buffer.from('foo'), target: 2, result: 2, mod_revision: '10' }],
      success: [{ request_put: { key: Buffer.from('foo'), value: Buffer.from('z') } }],
    });
  });

  it('derives json names as protoc does', () => {
    expect(jsonNameOf('range_end')).toBe('rangeEnd');
    expect(jsonNameOf('ID')).toBe('ID');
    expect(jsonNameOf('peerURLs')).toBe('peerURLs');
    expect(jsonNameOf('request_delete_range')).toBe('requestDeleteRange');
  });
});

describe('messageToJson', () => {
  it('omits defaults, writes 64-bit integers as strings, bytes as base64, enums by name', () => {
    const json = messageToJson(type('etcdserverpb.WatchResponse'), {
      header: { cluster_id: '18364758544493064720', member_id: 0, revision: 9, raft_term: 2 },
      watch_id: 0, created: false, canceled: false, compact_revision: 0, cancel_reason: '', fragment: false,
      events: [
        { type: 0, kv: { key: Buffer.from('foo'), create_revision: 6, mod_revision: 8, version: 2, value: Buffer.from('bar'), lease: 0 } },
        { type: 1, kv: { key: Buffer.from('foo'), create_revision: 0, mod_revision: 9, version: 0, value: Buffer.alloc(0), lease: 0 } },
      ],
    });
    expect(json).toEqual({
      header: { cluster_id: '18364758544493064720', revision: '9', raft_term: '2' },
      events: [
        { kv: { key: 'Zm9v', create_revision: '6', mod_revision: '8', version: '2', value: 'YmFy' } },
        { type: 'DELETE', kv: { key: 'Zm9v', mod_revision: '9' } },
      ],
    });
  });

  it('writes a set but empty message as {} and keeps 32-bit integers as numbers', () => {
    expect(messageToJson(type('etcdserverpb.TxnResponse'), {
      header: { revision: 4 }, succeeded: false, responses: [{ response_txn: { header: {}, succeeded: true, responses: [] } }],
    })).toEqual({ header: { revision: '4' }, responses: [{ response_txn: { header: {}, succeeded: true } }] });
    expect(messageToJson(type('etcdserverpb.HashResponse'), { hash: 4294967295 })).toEqual({ hash: 4294967295 });
  });

  it('writes fields in declaration order, as jsonpb does', () => {
    const text = JSON.stringify(messageToJson(type('etcdserverpb.RangeResponse'), { count: 1, kvs: [], more: true, header: { revision: 1 } }));
    expect(text).toBe('{"header":{"revision":"1"},"more":true,"count":"1"}');
  });
});
