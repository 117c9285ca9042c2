// etcd's "request stats" log line for unary calls: at debug level for every call (etcd 3.4 and
// later), and as a warning for a call that took longer than --warning-unary-request-duration
// (--experimental-warning-unary-request-duration in 3.5; 300 ms unless set). The fields are etcd's
// (its v3rpc logUnaryRequestStats): when the call started, how long it took, the client's address,
// the method, and for Range, Put, DeleteRange and Txn the request's count and size, the response's
// count and size, and the request in protobuf text form with values as sizes (proto-text.ts);
// for every other method, and for a call that failed, -1 and "".
//
// A call is timed from its whole request having arrived to its answer being ready, as etcd's
// interceptor times the handler.
import { performance } from 'node:perf_hooks';
import type protobuf from 'protobufjs';
import type { Logger } from 'pino';
import type { PutRequest } from '../../mvcc/types.js';
import { protobufRoot } from './definitions.js';
import { compactText, loggablePut, loggablePutRequestText, loggableTxnRequestText, type LoggablePut } from './proto-text.js';

const PUT_PATH = '/etcdserverpb.KV/Put';

/** --warning-unary-request-duration's default (etcd's DefaultWarningUnaryRequestDuration). */
export const DEFAULT_WARNING_UNARY_REQUEST_MS = 300;

type WireObject = Record<string, unknown>;

/** Go's time.Duration String() of `ns` nanoseconds: "21.873µs", "1.029169ms", "1m2.5s". */
export function goDurationText(ns: number): string {
  let rest = Math.max(0, Math.round(ns));
  if (rest === 0) return '0s';
  const fraction = (value: number, digits: number): string => {
    const text = String(value).padStart(digits, '0').replace(/0+$/, '');
    return text === '' ? '' : `.${text}`;
  };
  if (rest < 1000) return `${rest}ns`;
  if (rest < 1e6) return `${Math.floor(rest / 1000)}${fraction(rest % 1000, 3)}µs`;
  if (rest < 1e9) return `${Math.floor(rest / 1e6)}${fraction(rest % 1e6, 6)}ms`;
  const seconds = `${Math.floor(rest / 1e9) % 60}${fraction(rest % 1e9, 9)}s`;
  rest = Math.floor(rest / 6e10);
  if (rest === 0) return seconds;
  const minutes = `${rest % 60}m${seconds}`;
  rest = Math.floor(rest / 60);
  return rest === 0 ? minutes : `${rest}h${minutes}`;
}

/** The count, size and text of a request and its response, by method (etcd's type switch). */
interface CallFigures {
  requestCount: number;
  requestSize: number;
  responseCount: number;
  responseSize: number;
  requestContent: string;
}

const noFigures: CallFigures = { requestCount: -1, requestSize: -1, responseCount: -1, responseSize: -1, requestContent: '' };

/** A top-level varint field of an encoded message (Range's count), 0 when absent. */
export function varintField(bytes: Buffer, fieldNumber: number): number {
  let offset = 0;
  let found = 0;
  const varint = (): number => {
    let value = 0;
    let scale = 1;
    while (offset < bytes.length) {
      const byte = bytes[offset++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
    return value;
  };
  while (offset < bytes.length) {
    const tag = varint();
    const wireType = tag & 7;
    // Each length is read before offset is: `offset += varint()` would add it to the stale offset.
    let skip = 0;
    if (wireType === 0) {
      const value = varint();
      if (Math.floor(tag / 8) === fieldNumber) found = value;
    } else if (wireType === 2) skip = varint();
    else if (wireType === 1) skip = 8;
    else if (wireType === 5) skip = 4;
    else break;
    offset += skip;
  }
  return found;
}

export class RequestStatsLog {
  readonly debug: boolean;
  private types: { range: protobuf.Type; deleteRange: protobuf.Type; txn: protobuf.Type; requestOp: protobuf.Type } | undefined;

  constructor(private readonly logger: Logger, readonly warnMs: number) {
    this.debug = logger.isLevelEnabled('debug');
  }

  /**
   * What a call keeps of its request until it is answered, for report(): a Put only its key and
   * sizes (loggablePut); any other request as it is (their handlers hold it until then anyway).
   */
  keptRequest(path: string, request: unknown): unknown {
    return path === PUT_PATH ? loggablePut(request as PutRequest) : request;
  }

  /** Whether a call that took `tookMs` is logged. */
  logs(tookMs: number): boolean {
    return this.debug || tookMs > this.warnMs;
  }

  /**
   * Logs one answered call that logs() admits (`tookMs`). `response` is what the handler answered
   * (undefined for an error), and `responseBytes` its encoded length.
   */
  report(call: {
    startedMs: number; tookMs: number; path: string; remote: string; request: unknown; requestBytes: number; response: unknown; responseBytes: number;
  }): void {
    const { tookMs } = call;
    const figures = call.response === undefined ? noFigures : this.figures(call.path, call.request, call.requestBytes, call.response, call.responseBytes);
    const fields = {
      'start time': new Date(performance.timeOrigin + call.startedMs).toISOString(),
      'time spent': goDurationText(tookMs * 1e6),
      remote: call.remote,
      'response type': call.path,
      'request count': figures.requestCount,
      'request size': figures.requestSize,
      'response count': figures.responseCount,
      'response size': figures.responseSize,
      'request content': figures.requestContent,
    };
    if (tookMs > this.warnMs) this.logger.warn(fields, 'request stats');
    else this.logger.debug(fields, 'request stats');
  }

  private figures(path: string, request: unknown, requestBytes: number, response: unknown, responseBytes: number): CallFigures {
    const types = this.loadTypes();
    switch (path) {
      case '/etcdserverpb.KV/Range': {
        const count = Buffer.isBuffer(response) ? varintField(response, 4) : Number((response as WireObject).count ?? 0);
        return { requestCount: 0, requestSize: requestBytes, responseCount: count, responseSize: responseBytes, requestContent: compactText(types.range, request as WireObject) };
      }
      case PUT_PATH:
        return { requestCount: 1, requestSize: requestBytes, responseCount: 0, responseSize: responseBytes, requestContent: loggablePutRequestText(request as LoggablePut) };
      case '/etcdserverpb.KV/DeleteRange':
        return {
          requestCount: 0, requestSize: requestBytes, responseCount: Number((response as WireObject).deleted ?? 0), responseSize: responseBytes,
          requestContent: compactText(types.deleteRange, request as WireObject),
        };
      case '/etcdserverpb.KV/Txn': {
        // The branch that ran is the request: its operations' count and encoded size.
        const txn = request as WireObject;
        const ops = ((response as WireObject).succeeded === true ? txn.success : txn.failure) as WireObject[] | undefined ?? [];
        let size = 0;
        for (const op of ops) size += types.requestOp.encode(types.requestOp.fromObject(op)).finish().length;
        return { requestCount: ops.length, requestSize: size, responseCount: 0, responseSize: responseBytes, requestContent: loggableTxnRequestText(types.txn, txn) };
      }
      default:
        return noFigures;
    }
  }

  private loadTypes(): NonNullable<RequestStatsLog['types']> {
    if (this.types === undefined) {
      const root = protobufRoot();
      this.types = {
        range: root.lookupType('etcdserverpb.RangeRequest'),
        deleteRange: root.lookupType('etcdserverpb.DeleteRangeRequest'),
        txn: root.lookupType('etcdserverpb.TxnRequest'),
        requestOp: root.lookupType('etcdserverpb.RequestOp'),
      };
    }
    return this.types;
  }
}

/** Go's net.Addr String() of a socket's peer: "127.0.0.1:40000", "[::1]:40000". */
export function remoteAddressText(socket: { remoteAddress?: string; remotePort?: number }): string {
  const { remoteAddress, remotePort } = socket;
  if (remoteAddress === undefined) return 'No remote client info.';
  const host = remoteAddress.includes(':') ? `[${remoteAddress}]` : remoteAddress;
  return `${host}:${remotePort ?? 0}`;
}
