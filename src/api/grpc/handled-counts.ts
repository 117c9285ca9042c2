// Completed gRPC calls by method and status code, for /metrics' grpc_server_handled_total. A call
// adds one to a slot of its method's array: prom-client's labelled inc hashes a label set and
// allocates on every call, on a path where a whole put costs ~20 us of CPU. The metrics registry
// reads the arrays when it is scraped. Every method of a registered service is listed from the start,
// with every code at 0, as etcd's grpc-prometheus lists them.
export type GrpcMethodType = 'unary' | 'client_stream' | 'server_stream' | 'bidi_stream';

/** gRPC status codes 0 (OK) .. 16 (UNAUTHENTICATED). */
export const grpcStatusCodeCount = 17;

export interface MethodHandledCounts {
  readonly service: string;
  readonly method: string;
  readonly type: GrpcMethodType;
  /** Calls ended with each status code, by code. */
  readonly byCode: Float64Array;
}

export class GrpcHandledCounts {
  private readonly byPath = new Map<string, MethodHandledCounts>();

  /** The counts of `path` (/package.Service/Method), made on first use. */
  method(path: string, type: GrpcMethodType): MethodHandledCounts {
    let counts = this.byPath.get(path);
    if (counts === undefined) {
      const slash = path.lastIndexOf('/');
      counts = { service: path.slice(1, slash), method: path.slice(slash + 1), type, byCode: new Float64Array(grpcStatusCodeCount) };
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
