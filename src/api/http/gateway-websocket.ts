// WebSocket on the gateway paths, as etcd serves /v3/* through tmc/grpc-websocket-proxy: every
// method is taken as POST; each text (or binary) message from the client is one request message;
// each response line goes out as one text message, `{"result":{…}}` for streams, the plain JSON
// answer for a unary call, and the error body as the gateway writes it. When the call ends the
// connection is dropped without a close frame (etcd's proxy closes the TCP connection), after
// what was sent is flushed. The client closing its socket ends the call (a watch stream closes).
// Headers: like the proxy, only `Sec-WebSocket-Protocol: Bearer, <token>` (as
// `Authorization: Bearer <token>`) and a `token` cookie reach the call; other headers do not.
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { ConcurrencyError } from '../../concurrency/index.js';
import type { RequestContext } from '../../server/server-api.js';
import { dnsRebindingRefusal, type AccessControl } from './access-control.js';
import { gatewayPathOf, type GatewayCalls } from './gateway.js';
import type { StreamSink } from './gateway-streams.js';

/** Bytes handed to a socket and not yet written out before a stream is told to wait. */
export const webSocketBufferedBytesMax = 1024 * 1024;
/** Client messages received before the stream took them (it takes them at once once started). */
export const webSocketMessagesQueuedMax = 1024;

export interface GatewayWebSocketOptions {
  calls: GatewayCalls;
  logger: Logger;
  /** The largest message accepted, the same bound as a gateway request body. */
  maxPayloadBytes: number;
  /** --host-whitelist holds for upgrades too (etcd checks before its WebSocket proxy sees them). */
  access?: AccessControl;
}

/** The proxy's rewrite of the sub-protocol header: "Bearer, <token>" ⇒ "Bearer <token>". */
function authorizationFromSubProtocol(header: string): string {
  const at = header.indexOf('Bearer,');
  if (at < 0) return '';
  return `Bearer ${header.slice(at + 'Bearer,'.length).trim()}`;
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function requestContextOf(request: http.IncomingMessage): RequestContext {
  let token: string | undefined;
  const subProtocol = request.headers['sec-websocket-protocol'];
  if (subProtocol) token = authorizationFromSubProtocol(subProtocol);
  const cookie = cookieValue(request.headers.cookie, 'token');
  if (cookie !== undefined) token = `Bearer ${cookie}`;
  return token ? { token } : {};
}

/** Sends lines as text messages; counts what the socket has not written yet for backpressure. */
class WebSocketSink implements StreamSink {
  private readonly events = new EventEmitter();
  private unsentBytes = 0;
  private ended = false;
  private dropWhenFlushed = false;

  constructor(private readonly socket: WebSocket) {
    socket.once('close', () => this.events.emit('close'));
  }

  get gone(): boolean {
    return this.ended || this.socket.readyState !== WebSocket.OPEN;
  }

  start(): void {
    // A WebSocket has no status line: the proxy drops the gateway's status and headers.
  }

  writeLine(line: string): boolean {
    if (this.gone) return false;
    this.send(line);
    return this.unsentBytes < webSocketBufferedBytesMax;
  }

  end(lastChunk?: string): void {
    if (this.ended) return;
    if (lastChunk !== undefined && this.socket.readyState === WebSocket.OPEN) this.send(lastChunk);
    this.ended = true;
    this.dropWhenFlushed = true;
    this.dropIfFlushed();
  }

  onClose(listener: () => void): () => void {
    this.events.on('close', listener);
    return () => this.events.off('close', listener);
  }

  onDrain(listener: () => void): () => void {
    this.events.on('drain', listener);
    return () => this.events.off('drain', listener);
  }

  private send(text: string): void {
    const bytes = Buffer.byteLength(text);
    this.unsentBytes += bytes;
    this.socket.send(text, (error) => {
      this.unsentBytes -= bytes;
      if (error) return;
      if (this.unsentBytes < webSocketBufferedBytesMax && this.unsentBytes + bytes >= webSocketBufferedBytesMax) this.events.emit('drain');
      this.dropIfFlushed();
    });
  }

  private dropIfFlushed(): void {
    if (this.dropWhenFlushed && this.unsentBytes === 0) this.socket.terminate();
  }
}

/** The text of a message; empty messages are skipped as the proxy's line scanner skips empty lines. */
function messageText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data as ArrayBuffer).toString('utf8');
}

/**
 * Serves one upgraded connection: waits for the first message (the request, as the gateway's
 * decoder waits for the body), then runs the route.
 */
function serveConnection(socket: WebSocket, request: http.IncomingMessage, path: string, options: GatewayWebSocketOptions): void {
  const { calls, logger } = options;
  socket.on('error', (error) => logger.debug({ err: error }, 'gateway websocket error'));
  const route = calls.routeFor(path);
  if (!route) {
    // The gateway's mux answers at once, before any message.
    const sink = new WebSocketSink(socket);
    sink.end('Not Found');
    return;
  }
  const requestContext = requestContextOf(request);
  const queued: string[] = [];
  let deliver: ((text: string) => void) | undefined;
  let overflowed = false;
  socket.on('message', (data: RawData) => {
    const text = messageText(data);
    if (deliver) { deliver(text); return; }
    if (queued.length >= webSocketMessagesQueuedMax) {
      if (!overflowed) logger.warn({ path }, 'gateway websocket client sent too many messages before its stream started; dropping the connection');
      overflowed = true;
      socket.terminate();
      return;
    }
    queued.push(text);
  });
  const takeFrom = (handle: (text: string) => void): void => {
    deliver = handle;
    while (queued.length > 0 && deliver === handle) handle(queued.shift()!);
  };

  takeFrom((first) => {
    // Only a bidi stream reads further messages; for the others they go unread, as into the body
    // pipe nobody reads behind etcd's proxy.
    deliver = () => undefined;
    if ('unary' in route) {
      const abort = new AbortController();
      const onClose = (): void => abort.abort(new ConcurrencyError('Canceled'));
      socket.once('close', onClose);
      void calls.callUnary(route.unary, first, requestContext, abort.signal).then((text) => {
        socket.off('close', onClose);
        new WebSocketSink(socket).end(text);
      });
      return;
    }
    const sink = new WebSocketSink(socket);
    const streamRoute = route.stream;
    const laterRequests = streamRoute.type === 'bidi_stream'
      ? (handle: (request: Record<string, unknown> | undefined) => void): void => {
        let sending = true;
        const onText = (text: string): void => {
          if (!sending || text.trim() === '') return;
          try {
            handle(calls.decodeStreamRequest(streamRoute, text));
          } catch {
            // grpc-gateway's sender stops at the first message it cannot decode and half-closes.
            sending = false;
            handle(undefined);
          }
        };
        socket.once('close', () => { if (sending) { sending = false; handle(undefined); } });
        takeFrom(onText);
      }
      : undefined;
    void calls.serveStream(streamRoute, first, requestContext, sink, laterRequests).then((refusal) => {
      if (refusal !== undefined) sink.end(refusal);
    }).catch((error: unknown) => {
      logger.warn({ err: error, path }, 'gateway websocket stream failed');
      socket.terminate();
    });
  });
}

/**
 * Answers WebSocket upgrades on the gateway paths of `httpServer`. Other upgrade requests get a
 * plain 400, as nothing else on the client port speaks WebSocket.
 */
export function attachGatewayWebSocket(httpServer: http.Server, options: GatewayWebSocketOptions): WebSocketServer {
  const webSockets = new WebSocketServer({
    noServer: true,
    maxPayload: options.maxPayloadBytes,
    // The proxy answers a Bearer sub-protocol with "Bearer" and accepts any origin.
    handleProtocols: (protocols) => (protocols.has('Bearer') ? 'Bearer' : false),
  });
  httpServer.on('upgrade', (request: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const refusedHost = options.access?.refusedHost(request);
    if (refusedHost !== undefined) {
      options.logger.warn({ host: refusedHost }, 'rejecting HTTP request to prevent DNS rebinding attacks');
      const body = Buffer.from(dnsRebindingRefusal(refusedHost));
      socket.end(`HTTP/1.1 421 Misdirected Request\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n` +
        `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.toString()}`);
      return;
    }
    const url = new URL(request.url ?? '/', 'http://localhost');
    const path = gatewayPathOf(url.pathname);
    if (path === undefined || (request.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      socket.end('HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nBad Request\n');
      return;
    }
    webSockets.handleUpgrade(request, socket, head, (webSocket) => serveConnection(webSocket, request, path, options));
  });
  return webSockets;
}
