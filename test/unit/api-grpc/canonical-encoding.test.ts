// Answers encoded by protobufjs write no field at its zero value, as proto3 (and etcd) do:
// protobufjs writes every field the object has, so the translators leave zeros out. The bytes
// below are what etcd 3.4 answered for the same txn (compared by hand with a raw gRPC client;
// only the header's ids differ there).
import { describe, expect, it } from 'vitest';
import { loadServiceDefinitions } from '../../../src/api/grpc/definitions.js';
import { deleteRangeResponseToWire, rangeResponseToWire, txnResponseToWire } from '../../../src/api/grpc/translate/kv.js';
import { headerToWire } from '../../../src/api/grpc/translate/common.js';

const kv = loadServiceDefinitions()['etcdserverpb.KV'];
const header = { clusterId: 1n, memberId: 2n, revision: 3, raftTerm: 4 };
const encode = (method: 'Txn' | 'Range' | 'DeleteRange', value: unknown) => (kv[method]!.responseSerialize(value) as Buffer).toString('hex');

describe('canonical encoding of answers built as objects', () => {
  it('a txn that failed, with a range and a delete that found nothing: only the revision in their headers', () => {
    const result = {
      succeeded: false,
      responses: [
        { range: { kvs: [], more: false, count: 0, revision: 3 } },
        { deleteRange: { deleted: 0, prevKvs: [], revision: 3 } },
      ],
    };
    // header {1, 2, 3, 4}; responses: {response_range {header {revision 3}}}, {response_delete_range {header {revision 3}}}
    expect(encode('Txn', txnResponseToWire(header, result))).toBe('0a0808011002180320041a060a040a0218031a061a040a021803');
  });

  it('zero counts, more=false and deleted=0 are not written; set ones are', () => {
    expect(encode('Range', rangeResponseToWire(headerToWire(header), { kvs: [], more: false, count: 0, revision: 3 }))).toBe('0a080801100218032004');
    expect(encode('Range', rangeResponseToWire(headerToWire(header), { kvs: [], more: true, count: 5, revision: 3 }))).toBe('0a08080110021803200418012005');
    expect(encode('DeleteRange', deleteRangeResponseToWire(headerToWire(header), { deleted: 0, prevKvs: [] }))).toBe('0a080801100218032004');
    expect(encode('DeleteRange', deleteRangeResponseToWire(headerToWire(header), { deleted: 2, prevKvs: [] }))).toBe('0a0808011002180320041002');
  });
});
