// gRPC calls with bytes as they are: the request is sent exactly as given and the answer comes back
// undecoded, so a test controls (or inspects) the wire itself. Bound to 127.0.0.1, 10 s deadline.
import * as grpc from '@grpc/grpc-js';

function identity(buffer: Buffer): Buffer {
  return buffer;
}

function rawClient(clientPort: number, path: string, streams: boolean): { client: grpc.Client; call: unknown } {
  const Client = grpc.makeGenericClientConstructor({
    Call: {
      path, requestStream: streams, responseStream: streams,
      requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity,
    },
  }, 'Raw');
  const client = new Client(`127.0.0.1:${clientPort}`, grpc.credentials.createInsecure());
  return { client, call: (client as unknown as Record<string, unknown>).Call };
}

/** One unary call of `path` (`/package.Service/Method`) with `body` as its message. */
export function rawUnary(clientPort: number, path: string, body: Buffer): Promise<{ code: number; details: string } | { ok: Buffer }> {
  const { client, call } = rawClient(clientPort, path, false);
  const unary = call as (b: Buffer, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Buffer) => void) => void;
  return new Promise((resolve) => {
    unary.call(client, body, { deadline: Date.now() + 10_000 }, (error, response) => {
      client.close();
      resolve(error ? { code: error.code, details: error.details } : { ok: response ?? Buffer.alloc(0) });
    });
  });
}

/** Sends `body` on a new bidi stream of `path` and resolves with the first message back (then cancels). */
export function rawFirstStreamAnswer(clientPort: number, path: string, body: Buffer): Promise<Buffer> {
  const { client, call } = rawClient(clientPort, path, true);
  const stream = (call as (o: grpc.CallOptions) => grpc.ClientDuplexStream<Buffer, Buffer>).call(client, { deadline: Date.now() + 10_000 });
  return new Promise((resolve, reject) => {
    stream.on('data', (bytes: Buffer) => {
      stream.cancel();
      client.close();
      resolve(bytes);
    });
    stream.on('error', (error: grpc.ServiceError) => { if (error.code !== grpc.status.CANCELLED) reject(error); });
    stream.write(body);
  });
}
