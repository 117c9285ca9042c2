// The pieces of the "request stats" line (request-stats.ts, proto-text.ts): Go's compact protobuf
// text of requests with values as sizes, Go's duration text, and the count read from an encoded
// Range response. The expected texts are etcd 3.4's for the same requests (its debug log); the
// integration test (test/integration/request-stats.test.ts) checks whole lines against a server.
import { describe, expect, it } from 'vitest';
import { loadProtobufRoot } from '../../../src/api/grpc/definitions.js';
import { compactText, goQuoted, loggablePut, loggablePutRequestText, loggableTxnRequestText } from '../../../src/api/grpc/proto-text.js';
import { goDurationText, remoteAddressText, varintField } from '../../../src/api/grpc/request-stats.js';
import { encodeRangeResponse } from '../../../src/api/grpc/translate/kv-encode.js';

const root = loadProtobufRoot();
const rangeType = root.lookupType('etcdserverpb.RangeRequest');
const txnType = root.lookupType('etcdserverpb.TxnRequest');
const b = (text: string) => Buffer.from(text, 'latin1');

describe('Go protobuf text of requests', () => {
  it('quotes bytes as Go does: escapes, octal outside printable ASCII, bytes not runes', () => {
    expect(goQuoted(b('plain'))).toBe('"plain"');
    expect(goQuoted(b('we"ird\\key\n\r\t'))).toBe('"we\\"ird\\\\key\\n\\r\\t"');
    expect(goQuoted(Buffer.from([0x01, 0x62, 0x7f, 0xff]))).toBe('"\\001b\\177\\377"');
    expect(goQuoted(Buffer.from('é', 'utf8'))).toBe('"\\303\\251"');
    expect(goQuoted(b("it's"))).toBe('"it\'s"');
  });

  it('writes set fields in field order, enums by name, zero values left out', () => {
    expect(compactText(rangeType, { key: b('foo'), range_end: b('fop'), limit: '5', sort_order: 2, sort_target: 3 }))
      .toBe('key:"foo" range_end:"fop" limit:5 sort_order:DESCEND sort_target:MOD ');
    expect(compactText(rangeType, { sort_target: 3, key: b('k'), revision: '0', serializable: false, keys_only: true }))
      .toBe('key:"k" sort_target:MOD keys_only:true ');
    expect(compactText(rangeType, {})).toBe('');
  });

  it('writes a put with its value as value_size (etcd\'s loggable put)', () => {
    expect(loggablePutRequestText(loggablePut({ key: b('foo'), value: b('bar'), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false })))
      .toBe('key:"foo" value_size:3 ');
    expect(loggablePutRequestText(loggablePut({ key: b('k'), value: b(''), lease: 7587n, prevKv: true, ignoreValue: true, ignoreLease: true })))
      .toBe('key:"k" lease:7587 prev_kv:true ignore_value:true ignore_lease:true ');
  });

  it('keeps of a put only a copy of its key and sizes, not the views of the socket read', () => {
    const read = b('....foo-bar....');
    const kept = loggablePut({ key: read.subarray(4, 7), value: read.subarray(8, 11), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false });
    read.write('XXX', 4, 'latin1');
    expect(kept.key.toString()).toBe('foo');
    expect(kept.key.buffer === read.buffer && kept.key.byteOffset === read.byteOffset + 4).toBe(false);
    expect(kept).not.toHaveProperty('value');
  });

  it('writes a txn in etcd\'s layout: value compares and puts as sizes, a set oneof member even at zero, nested txns', () => {
    const txn = {
      compare: [
        { target: 2, key: b('foo'), mod_revision: '0' },
        { target: 3, key: b('x'), value: b('y') },
        { result: 1, target: 1, key: b('c'), create_revision: '2' },
      ],
      success: [
        { request_put: { key: b('foo'), value: b('bar2') } },
        { request_range: { key: b('a'), range_end: b('b') } },
        { request_delete_range: { key: b('zz') } },
      ],
      failure: [
        { request_put: { key: b('foo'), value: b('bar3') } },
        { request_txn: { compare: [], success: [{ request_put: { key: b('n'), value: b('12345'), lease: '9' } }] } },
      ],
    };
    expect(loggableTxnRequestText(txnType, txn)).toBe(
      'compare:<target:MOD key:"foo" mod_revision:0  target:VALUE key:"x" value_size:1  result:GREATER target:CREATE key:"c" create_revision:2 > '
      + 'success:<request_put:<key:"foo" value_size:4 > request_range:<key:"a" range_end:"b" >  request_delete_range:<key:"zz" > > '
      + 'failure:<request_put:<key:"foo" value_size:4 > request_txn:<compare:<> success:<request_put:<key:"n" value_size:5 lease:9 >> failure:<>>>',
    );
    expect(loggableTxnRequestText(txnType, {})).toBe('compare:<> success:<> failure:<>');
  });
});

describe('request stats figures', () => {
  it('prints durations as Go\'s time.Duration does', () => {
    expect(goDurationText(0)).toBe('0s');
    expect(goDurationText(999)).toBe('999ns');
    expect(goDurationText(21_873)).toBe('21.873µs');
    expect(goDurationText(21_000)).toBe('21µs');
    expect(goDurationText(728_602)).toBe('728.602µs');
    expect(goDurationText(1_029_169)).toBe('1.029169ms');
    expect(goDurationText(300_000_000)).toBe('300ms');
    expect(goDurationText(1_500_000_000)).toBe('1.5s');
    expect(goDurationText(62_500_000_000)).toBe('1m2.5s');
    expect(goDurationText(3_723_000_000_000)).toBe('1h2m3s');
  });

  it('reads a range response\'s count from its encoding, past the header and kvs', () => {
    const header = { clusterId: 0xf00dn ** 4n % 2n ** 64n, memberId: 2n ** 63n + 5n, revision: 300, raftTerm: 2 };
    const kv = { key: b('k'), value: b('v'.repeat(200)), createRevision: 1, modRevision: 2, version: 1, lease: 0n };
    expect(varintField(encodeRangeResponse(header, { kvs: [], more: false, count: 0, revision: 300 }), 4)).toBe(0);
    expect(varintField(encodeRangeResponse(header, { kvs: [kv, kv], more: true, count: 1234567, revision: 300 }), 4)).toBe(1234567);
    // A truncated message ends the scan instead of running past the end.
    const cut = encodeRangeResponse(header, { kvs: [kv], more: false, count: 3, revision: 300 });
    expect(varintField(cut.subarray(0, cut.length - 3), 4)).toBe(0);
  });

  it('names the client as Go\'s net.Addr does', () => {
    expect(remoteAddressText({ remoteAddress: '127.0.0.1', remotePort: 40000 })).toBe('127.0.0.1:40000');
    expect(remoteAddressText({ remoteAddress: '::1', remotePort: 40000 })).toBe('[::1]:40000');
    expect(remoteAddressText({})).toBe('No remote client info.');
  });
});
