// The relay of streams the lean path does not serve (api/h2/grpc-js-fallback.ts) under the client's
// flow control: a grpc-js answer larger than the client's windows arrives whole, trailers last,
// although grpc-js finished (and its relay stream closed) long before the client took the last
// bytes; a client reset reaches grpc-js.
import http2 from 'node:http2';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createGrpcConnectionHandler } from '../../../src/api/grpc/lean-path.js';
import { cleanupsAfterEach, rawUnaryMethod } from '../listener/echo-service.js';

const cleanups = cleanupsAfterEach();
const bigAnswerBytes = 300_000;
const definition = { big: rawUnaryMethod('/test.Relay/Big'), slow: rawUnaryMethod('/test.Relay/Slow') };

async function relayServer(): Promise<{ port: number; slowCancelled: Promise<void> }> {
  const grpcServer = new grpc.Server();
  let cancelled!: () => void;
  const slowCancelled = new Promise<void>((resolve) => { cancelled = resolve; });
  grpcServer.addService(definition, {
    big: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      callback(null, Buffer.alloc(bigAnswerBytes, 7));
    },
    slow: (call: grpc.ServerUnaryCall<Buffer, Buffer>) => {
      call.on('cancelled', () => cancelled());
    },
  });
  // No lean path on this server: every stream is relayed to grpc-js.
  const handler = createGrpcConnectionHandler(grpcServer, { logger: pino({ level: 'silent' }) });
  const listener = net.createServer((socket) => handler.serve(socket, Buffer.alloc(0)));
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    listener.close();
    await handler.closeAll(100);
    grpcServer.forceShutdown();
  });
  return { port: (listener.address() as net.AddressInfo).port, slowCancelled };
}

function grpcRequest(session: http2.ClientHttp2Session, path: string): http2.ClientHttp2Stream {
  const request = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
  request.end(Buffer.alloc(5));
  return request;
}

describe('the grpc-js relay', () => {
  it('delivers an answer larger than the client windows whole, with grpc-status 0 after the data', async () => {
    const { port } = await relayServer();
    // A small window: most of the answer waits in our stream after grpc-js has finished.
    const session = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 1024 } });
    cleanups.push(() => void session.destroy());
    const request = grpcRequest(session, '/test.Relay/Big');
    const events: string[] = [];
    let received = 0;
    request.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    const outcome = await new Promise<{ status?: string; rstCode?: number }>((resolve) => {
      request.on('trailers', (trailers) => {
        events.push(`trailers after ${received} bytes`);
        resolve({ status: String(trailers['grpc-status']) });
      });
      request.on('close', () => resolve({ rstCode: request.rstCode }));
    });
    expect(outcome).toEqual({ status: '0' });
    expect(events).toEqual([`trailers after ${5 + bigAnswerBytes} bytes`]);
  });

  it('passes a client reset on to grpc-js, which cancels the call', async () => {
    const { port, slowCancelled } = await relayServer();
    const session = http2.connect(`http://127.0.0.1:${port}`);
    cleanups.push(() => void session.destroy());
    const request = grpcRequest(session, '/test.Relay/Slow');
    await new Promise((resolve) => setTimeout(resolve, 100));
    request.close(http2.constants.NGHTTP2_CANCEL);
    await slowCancelled;
  });
});
