// The etcdserverpb.Watch service: one bidi call ⇔ one WatchStream of the server.
// Requests are read only once the stream is open (until then they wait in grpc-js's buffer, under
// HTTP/2 flow control). `send` reports a full transport buffer by returning false; the WatchStream
// then holds events back until 'drain' calls resume(). The call ending in any way closes the stream;
// the server ending the stream (stop, no leader for a `hasleader` call) ends the call with its error,
// as etcd does (a require-leader stream ends with Unavailable "etcdserver: no leader").
// Each response's header comes from server.responseHeader at send time, so the raft term is
// current even on a long-lived stream. Responses are written already encoded (watch-encode.ts):
// each event's bytes are shared by every watcher it goes to.
import type { ServerDuplexStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { EtcdServerApi } from '../../server/server-api.js';
import type { WatchStream, WatchStreamResponse } from '../../watch/types.js';
import { watchRequestFromWire } from './translate/watch.js';
import { encodeWatchResponse, encodeWatchResponseInto, watchResponseMessageBytes, WatchHeaderEncoder } from './translate/watch-encode.js';
import { failStream, malformedError } from './calls.js';
import { contextOfCall } from './context.js';
import { MalformedRequest } from './definitions.js';
import { toGrpcError } from './errors.js';
import { LeanDuplexCall } from './lean-duplex-call.js';

const encodeIntoFrame = (response: unknown, headerField: unknown, frame: Buffer, offset: number): number =>
  encodeWatchResponseInto(response as WatchStreamResponse, headerField as Buffer, frame, offset);

function watch(server: EtcdServerApi, logger: Logger) {
  return (call: ServerDuplexStream<unknown, unknown>): void => {
    const context = contextOfCall(call);
    let stream: WatchStream | undefined;
    let done = false;

    const finish = (error?: unknown): void => {
      if (done) return;
      done = true;
      stream?.close();
      if (error === undefined) call.end();
      else failStream(call, error instanceof MalformedRequest ? malformedError(error) : toGrpcError(error, logger, 'Watch'));
    };
    const abandon = (): void => {
      done = true;
      stream?.close();
    };
    call.on('cancelled', abandon);
    call.on('error', abandon);

    const onRequest = (request: unknown): void => {
      if (done || !stream) return;
      if (request instanceof MalformedRequest) { finish(request); return; }
      try {
        const command = watchRequestFromWire(request);
        if ('create' in command) stream.create(command.create);
        else if ('cancel' in command) stream.cancel(command.cancel.watchId);
        else stream.progress();
      } catch (error) {
        finish(error);
      }
    };

    const open = (): void => {
      if (done) return;
      const header = new WatchHeaderEncoder();
      let send: (response: WatchStreamResponse) => boolean;
      if (call instanceof LeanDuplexCall) {
        // On our HTTP/2 path a response is encoded straight into the frame that carries it, at the
        // flush: no Buffer of its own per watcher and no second copy (watch fan-out writes one per
        // watcher and event). Its header is taken now, as the other path does.
        call.setFrameEncoder(encodeIntoFrame);
        send = (response) => {
          if (done) return false;
          const headerField = header.encode(server.responseHeader(response.revision));
          return call.writeEncoded(response, headerField, watchResponseMessageBytes(response, headerField));
        };
      } else {
        send = (response) => {
          if (done) return false;
          return call.write(encodeWatchResponse(response, header.encode(server.responseHeader(response.revision))));
        };
      }
      try {
        stream = server.openWatchStream(send, context, (reason) => finish(reason));
      } catch (error) {
        finish(error);
        return;
      }
      call.on('drain', () => { if (!done) stream?.resume(); });
      call.on('data', onRequest);
      call.on('end', () => finish());
    };

    open();
  };
}

export function watchService(server: EtcdServerApi, logger: Logger): UntypedServiceImplementation {
  return { Watch: watch(server, logger) };
}
