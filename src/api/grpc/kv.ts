// The etcdserverpb.KV service: Range, Put, DeleteRange, Txn, Compact. Range and Put answer with
// their responses already encoded (translate/kv-encode.ts); definitions.ts passes Buffers through.
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { EtcdServerApi } from '../../server/server-api.js';
import type { PutRequest } from '../../mvcc/types.js';
import { headerToWire } from './translate/common.js';
import {
  compactionRequestFromWire, deleteRangeRequestFromWire, deleteRangeResponseToWire,
  rangeRequestFromWire, txnRequestFromWire, txnResponseToWire,
} from './translate/kv.js';
import { encodeRangeResponse, type PutAnswer } from './translate/kv-encode.js';
import { unary, unaryWith } from './calls.js';

export function kvService(server: EtcdServerApi, logger: Logger): UntypedServiceImplementation {
  return {
    Range: unary(logger, 'Range', async (request, context) => {
      const { header, result } = await server.range(rangeRequestFromWire(request), context);
      return encodeRangeResponse(header, result);
    }),
    // Through callbacks, not promises: a put is the write path under load (see RequestWaits). Its
    // request arrives decoded into a PutRequest (definitions.ts, translate/put-decode.ts), and the
    // server's answer goes to the call as it is: the method's serializer encodes it (PutAnswer), so
    // a waiting put holds no closure of this layer.
    Put: unaryWith<PutAnswer>(logger, 'Put', (request, context, done) => {
      server.putWith(request as PutRequest, context, done);
    }),
    DeleteRange: unary(logger, 'DeleteRange', async (request, context) => {
      const { header, result } = await server.deleteRange(deleteRangeRequestFromWire(request), context);
      return deleteRangeResponseToWire(headerToWire(header), result);
    }),
    Txn: unary(logger, 'Txn', async (request, context) => {
      const { header, result } = await server.txn(txnRequestFromWire(request), context);
      return txnResponseToWire(header, result);
    }),
    Compact: unary(logger, 'Compact', async (request, context) => {
      const { revision, physical } = compactionRequestFromWire(request);
      const { header } = await server.compact(revision, physical, context);
      return { header: headerToWire(header) };
    }),
  };
}
