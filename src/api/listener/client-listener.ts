// Owns the client listening sockets: one net.Server per --listen-client-urls entry. On an https
// listener TLS is terminated first (a client that does not open with a TLS record gets Go's plain
// "HTTP request to an HTTPS server" answer); then each connection is sniffed; anything but HTTP/2
// goes to the HTTP/1 handler, HTTP/2 to our HTTP/2 connection (api/h2 through api/grpc's
// connection handler), with the CN of a verified client certificate. With `serveAfter`, the
// listener is open from the start but its connections wait, unread, until the member is ready.
import type http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import type { Server as GrpcServer } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { createGrpcConnectionHandler, type GrpcConnectionHandler } from '../grpc/lean-path.js';
import { sniffProtocol } from './protocol-sniffer.js';
import { describeTlsError, refusalReason, verifiedCommonName, type ServerTls } from '../../tls/index.js';

/** The first byte of every TLS connection: a handshake record. */
const TLS_HANDSHAKE_RECORD_TYPE = 0x16;
/** A client that has not finished its TLS handshake after this long is dropped. */
export const tlsHandshakeTimeoutMs = 10_000;
/** What Go's TLS server answers a plain HTTP client, which etcd users and tools may match on. */
export const plainRequestToTlsPortAnswer = 'HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n';
/**
 * Server preference for ALPN: a client offering HTTP/1.1 (curl, browsers) gets it, because its
 * HTTP/2 would land in grpc-js; gRPC clients offer only h2 and get h2.
 */
const alpnProtocolsByPreference = ['http/1.1', 'h2'];

/** Handles a connection that did not open with the HTTP/2 preface; `firstBytes` were already read. */
export type Http1ConnectionHandler = (socket: net.Socket, firstBytes: Buffer) => void;

/** Serves such connections with a node:http server (fastify's `app.server`) that is not listening itself. */
export function http1HandlerFor(httpServer: http.Server): Http1ConnectionHandler {
  return (socket, firstBytes) => {
    // node's HTTP parser reads what is unshifted back before it reads the socket again.
    socket.unshift(firstBytes);
    httpServer.emit('connection', socket);
    socket.resume();
  };
}

/**
 * What a listener serves: both on one port (etcd's --listen-client-urls), gRPC only (client URLs
 * once --listen-client-http-urls is set, as etcd 3.5.10+/3.6 splits them) or HTTP only (those
 * HTTP URLs, and --listen-metrics-urls). A connection of the other protocol is closed, as etcd's
 * connection multiplexer closes a connection no matcher took.
 */
export type ListenerProtocols = 'grpc-and-http' | 'grpc-only' | 'http-only';

export interface ClientListenerOptions {
  /** Needed unless the listener serves HTTP only (the v2 proxy has no gRPC server). */
  grpcServer?: GrpcServer;
  /** Where HTTP/2 connections go; default: a connection handler of grpcServer (api/grpc/lean-path.ts). */
  http2?: GrpcConnectionHandler;
  /** Default 'grpc-and-http'. */
  protocols?: ListenerProtocols;
  logger: Logger;
  /** Connections open at once per listener; beyond it new ones are refused by the kernel socket. */
  connectionsMax?: number;
  http1Handler?: Http1ConnectionHandler;
  /**
   * Connections are served only once this resolves; until then each one is accepted and held
   * unread (no TLS handshake, no protocol sniff, no request answered). etcd opens its client
   * listeners at start but serves them once the member is ready (has published itself through
   * Raft): a client meanwhile is connected and waits. If it rejects, held connections stay held
   * (the process is stopping). Default: serve at once.
   */
  serveAfter?: Promise<unknown>;
}

export const clientConnectionsMaxDefault = 16_384;

export interface BoundClientListener {
  host: string;
  port: number;
}

export class ClientListeners {
  private readonly servers: net.Server[] = [];
  /** Connections still deciding their protocol: closed on shutdown, bounded by connectionsMax. */
  private readonly sniffing = new Set<net.Socket>();
  private readonly http2: GrpcConnectionHandler | undefined;
  /** Connections accepted before serveAfter resolved, with how each is to be served; undefined once serving. */
  private held?: Map<net.Socket, () => void>;

  constructor(private readonly options: ClientListenerOptions) {
    if (options.http2 === undefined && options.grpcServer === undefined && options.protocols !== 'http-only') {
      throw new Error('a client listener that serves gRPC needs a gRPC server');
    }
    this.http2 = options.http2 ?? (options.grpcServer && createGrpcConnectionHandler(options.grpcServer, { logger: options.logger }));
    if (options.serveAfter !== undefined) {
      this.held = new Map();
      options.serveAfter.then(() => this.serveHeld(), () => undefined);
    }
  }

  /** True while connections are held until serveAfter resolves. */
  get holding(): boolean {
    return this.held !== undefined;
  }

  /** Listens on host:port (port 0: any free port) and returns the bound address; with `tls`, for https. */
  async listen(host: string, port: number, options: { tls?: ServerTls } = {}): Promise<BoundClientListener> {
    const terminator = options.tls === undefined ? undefined : this.createTlsTerminator(options.tls);
    const server = net.createServer({ noDelay: true, pauseOnConnect: false }, (socket) => {
      const serve = () => {
        if (terminator === undefined) this.accept(socket, undefined);
        else this.acceptTls(socket, terminator);
      };
      if (this.held === undefined) serve();
      else this.hold(socket, serve);
    });
    server.maxConnections = this.options.connectionsMax ?? clientConnectionsMaxDefault;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    server.on('error', (error) => this.options.logger.error({ err: error }, 'client listener error'));
    this.servers.push(server);
    const address = server.address() as net.AddressInfo;
    return { host, port: address.port };
  }

  /**
   * Stops accepting, drops connections that never chose a protocol and closes the HTTP/2 ones
   * gracefully (GOAWAY; open streams get `graceMs`). HTTP/1 connections are left to their server.
   */
  async close(graceMs?: number): Promise<void> {
    for (const socket of this.held?.keys() ?? []) socket.destroy();
    this.held?.clear();
    for (const socket of this.sniffing) socket.destroy();
    this.sniffing.clear();
    for (const server of this.servers) server.close();
    this.servers.length = 0;
    await this.http2?.closeAll(graceMs);
  }

  /**
   * The TLS server of one https listener. It never listens itself: raw sockets are handed to it
   * after their first bytes were checked, and it verifies client certificates as a listening one would.
   */
  private createTlsTerminator(serverTls: ServerTls): tls.Server {
    const logger = this.options.logger;
    const terminator = tls.createServer({
      ...serverTls.contextOptions,
      requestCert: serverTls.requireClientCert,
      rejectUnauthorized: serverTls.requireClientCert,
      ALPNProtocols: alpnProtocolsByPreference,
      handshakeTimeout: tlsHandshakeTimeoutMs,
    });
    terminator.on('tlsClientError', (error: Error & { code?: string }, socket: tls.TLSSocket) => {
      logger.warn({
        'remote-addr': `${socket.remoteAddress}:${socket.remotePort}`, 'cert-file': serverTls.certFile,
        'trusted-ca-file': serverTls.trustedCaFile, reason: describeTlsError(error),
      }, 'rejected connection: TLS handshake failed');
    });
    terminator.on('secureConnection', (secure: tls.TLSSocket) => {
      secure.on('error', (error) => logger.debug({ err: error }, 'client TLS connection error'));
      this.sniffing.add(secure);
      secure.once('close', () => this.sniffing.delete(secure));
      void refusalReason(secure, serverTls).then((reason) => {
        if (reason !== undefined) {
          logger.warn({ 'remote-addr': `${secure.remoteAddress}:${secure.remotePort}`, reason }, 'rejected connection: client certificate refused');
          secure.destroy();
          return;
        }
        this.sniffing.delete(secure);
        this.accept(secure, verifiedCommonName(secure));
      });
    });
    return terminator;
  }

  /**
   * Reads the first bytes of the raw socket: a TLS record goes back (unconsumed) to the TLS
   * server, whose TLSSocket takes bytes already read before reading the socket itself; anything
   * else gets Go's answer and is closed.
   */
  private acceptTls(socket: net.Socket, terminator: tls.Server): void {
    const logger = this.options.logger;
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.on('error', (error) => logger.debug({ err: error, 'remote-addr': remote }, 'client connection error'));
    this.sniffing.add(socket);
    socket.once('close', () => this.sniffing.delete(socket));
    const timer = setTimeout(() => socket.destroy(), tlsHandshakeTimeoutMs);
    timer.unref();
    socket.once('data', (firstBytes: Buffer) => {
      clearTimeout(timer);
      socket.pause();
      if (firstBytes[0] !== TLS_HANDSHAKE_RECORD_TYPE) {
        logger.warn({ 'remote-addr': remote }, 'rejected connection: the client spoke plain text to a TLS (https) client port');
        socket.end(plainRequestToTlsPortAnswer);
        return;
      }
      socket.unshift(firstBytes);
      // From here the TLS server's handshake timeout bounds it, and its TLSSocket is what is tracked.
      this.sniffing.delete(socket);
      terminator.emit('connection', socket);
    });
  }

  /**
   * Keeps a connection that arrived before the member is ready. Nothing consumes its bytes: the
   * socket buffers what the client sends (up to its high-water mark, then stops reading) and the
   * protocol sniff or TLS handshake later starts from the first byte.
   */
  private hold(socket: net.Socket, serve: () => void): void {
    const held = this.held!;
    const onError = (error: Error) => this.options.logger.debug({ err: error }, 'held client connection error');
    const forget = () => held.delete(socket);
    socket.on('error', onError);
    socket.once('close', forget);
    held.set(socket, () => {
      socket.removeListener('error', onError);
      socket.removeListener('close', forget);
      serve();
    });
  }

  /** The member is ready: serve the held connections, in the order they came, and every later one. */
  private serveHeld(): void {
    const held = this.held;
    if (held === undefined) return;
    this.held = undefined;
    if (held.size > 0) this.options.logger.debug({ connections: held.size }, 'serving client connections held until ready');
    for (const [socket, serve] of held) {
      if (!socket.destroyed) serve();
    }
  }

  private accept(socket: net.Socket, commonName: string | undefined): void {
    const logger = this.options.logger;
    socket.on('error', (error) => logger.debug({ err: error }, 'client connection error'));
    this.sniffing.add(socket);
    socket.once('close', () => this.sniffing.delete(socket));
    sniffProtocol(socket, (protocol, firstBytes) => {
      this.sniffing.delete(socket);
      if (socket.destroyed) return;
      const serves = this.options.protocols ?? 'grpc-and-http';
      if ((protocol === 'http2' && serves === 'http-only') || (protocol !== 'http2' && serves === 'grpc-only')) {
        logger.debug({ 'remote-addr': `${socket.remoteAddress}:${socket.remotePort}`, protocol, serves }, 'closed a connection this listener does not serve');
        socket.destroy();
        return;
      }
      if (protocol !== 'http2') {
        (this.options.http1Handler ?? answerHttpVersionNotSupported)(socket, firstBytes);
        return;
      }
      logger.debug({ 'remote-addr': `${socket.remoteAddress}:${socket.remotePort}`, 'verified-cn': commonName }, 'serving client HTTP/2 connection');
      this.http2!.serve(socket, firstBytes, { verifiedCommonName: commonName });
    });
  }
}

/** Until the HTTP gateway shares the port, an HTTP/1 client gets a plain answer instead of silence. */
export const answerHttpVersionNotSupported: Http1ConnectionHandler = (socket) => {
  const body = 'etcd-ts: this port serves gRPC over HTTP/2 only for now\n';
  socket.end(
    'HTTP/1.1 505 HTTP Version Not Supported\r\nContent-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
};
