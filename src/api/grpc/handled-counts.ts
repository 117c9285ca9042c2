// gRPC calls by method, for /metrics' grpc-prometheus series: calls started, messages received and
// sent, and calls completed by status code (grpc_server_handled_total). A call adds one to a slot of
// its method's arrays: prom-client's labelled inc hashes a label set and allocates on every call, on
// a path where a whole put costs ~20 us of CPU. The metrics registry reads the arrays when it is
// scraped. Every method of a registered service is listed from the start, with every count at 0,
// as etcd's grpc-prometheus lists them.
//
// Calls answered on our HTTP/2 path are counted there (lean-path.ts, lean-duplex-call.ts); those it
// relays to grpc-js (server streams such as Snapshot and Election's Observe) by a grpc-js server
// interceptor (counting-interceptor.ts). Counted as grpc-prometheus counts: a unary call receives one
// message and sends one only when it succeeds; a stream counts each message read and written.
// The same arrays hold the messages' bytes (etcd_network_client_grpc_{received,sent}_bytes_total,
// which etcd counts in its codec: the protobuf message, without gRPC's 5-byte prefix).
export type GrpcMethodType = 'unary' | 'client_stream' | 'server_stream' | 'bidi_stream';

/** gRPC status codes 0 (OK) .. 16 (UNAUTHENTICATED). */
export const grpcStatusCodeCount = 17;

export interface MethodHandledCounts {
  readonly service: string;
  readonly method: string;
  readonly type: GrpcMethodType;
  /** Calls ended with each status code, by code. */
  readonly byCode: Float64Array;
  /** Calls started, messages received and sent, their bytes (see flowSlot). */
  readonly flow: Float64Array;
}

/** The slots of MethodHandledCounts.flow. */
export const flowSlot = { started: 0, received: 1, sent: 2, receivedBytes: 3, sentBytes: 4 } as const;
const flowSlots = 5;

export class GrpcHandledCounts {
  private readonly byPath = new Map<string, MethodHandledCounts>();

  /** The counts of `path` (/package.Service/Method), made on first use. */
  method(path: string, type: GrpcMethodType): MethodHandledCounts {
    let counts = this.byPath.get(path);
    if (counts === undefined) {
      const slash = path.lastIndexOf('/');
      counts = {
        service: path.slice(1, slash), method: path.slice(slash + 1), type,
        byCode: new Float64Array(grpcStatusCodeCount), flow: new Float64Array(flowSlots),
      };
      this.byPath.set(path, counts);
    }
    return counts;
  }

  methods(): Iterable<MethodHandledCounts> {
    return this.byPath.values();
  }
}

/** Counts a call's end; codes outside gRPC's range (none are sent) are not counted. */
export function countHandled(counts: MethodHandledCounts | undefined, code: number): void {
  if (counts !== undefined && code >= 0 && code < grpcStatusCodeCount) counts.byCode[code]! += 1;
}

export function countStarted(counts: MethodHandledCounts | undefined): void {
  if (counts !== undefined) counts.flow[flowSlot.started]! += 1;
}

export function countReceived(counts: MethodHandledCounts | undefined): void {
  if (counts !== undefined) counts.flow[flowSlot.received]! += 1;
}

export function countSent(counts: MethodHandledCounts | undefined): void {
  if (counts !== undefined) counts.flow[flowSlot.sent]! += 1;
}

/** A message of `bytes` (protobuf, no prefix) was decoded from the client. */
export function countReceivedBytes(counts: MethodHandledCounts | undefined, bytes: number): void {
  if (counts !== undefined) counts.flow[flowSlot.receivedBytes]! += bytes;
}

/** A message of `bytes` (protobuf, no prefix) was encoded for the client. */
export function countSentBytes(counts: MethodHandledCounts | undefined, bytes: number): void {
  if (counts !== undefined) counts.flow[flowSlot.sentBytes]! += bytes;
}

export function methodType(requestStream: boolean, responseStream: boolean): GrpcMethodType {
  if (requestStream) return responseStream ? 'bidi_stream' : 'client_stream';
  return responseStream ? 'server_stream' : 'unary';
}
