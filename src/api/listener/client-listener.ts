// Owns the client listening sockets: one net.Server per --listen-client-urls entry. Each accepted
// connection is sniffed; HTTP/2 goes through a RewritingConnection into grpc-js's connection
// injector, anything else to the HTTP/1 handler (for now a 505 answer until the gateway exists).
import type http from 'node:http';
import net from 'node:net';
import { ServerCredentials, type Server as GrpcServer } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { RewritingConnection } from './rewriting-connection.js';
import { sniffProtocol } from './protocol-sniffer.js';
import type { ClientFrameRewriterOptions } from './client-frame-rewriter.js';

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

export interface ClientListenerOptions {
  grpcServer: GrpcServer;
  logger: Logger;
  /** Connections open at once per listener; beyond it new ones are refused by the kernel socket. */
  connectionsMax?: number;
  http1Handler?: Http1ConnectionHandler;
  rewriter?: ClientFrameRewriterOptions;
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
  private readonly injector: ReturnType<GrpcServer['createConnectionInjector']>;

  constructor(private readonly options: ClientListenerOptions) {
    this.injector = options.grpcServer.createConnectionInjector(ServerCredentials.createInsecure());
  }

  /** Listens on host:port (port 0: any free port) and returns the bound address. */
  async listen(host: string, port: number): Promise<BoundClientListener> {
    const server = net.createServer({ noDelay: true, pauseOnConnect: false }, (socket) => this.accept(socket));
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
   * Stops accepting and drops connections that never chose a protocol. Open gRPC sessions are
   * left to grpcServer.tryShutdown, so this does not wait for them (net.Server's close callback
   * would, and would never come while a client keeps its connection).
   */
  async close(): Promise<void> {
    for (const socket of this.sniffing) socket.destroy();
    this.sniffing.clear();
    for (const server of this.servers) server.close();
    this.servers.length = 0;
  }

  private accept(socket: net.Socket): void {
    const logger = this.options.logger;
    socket.on('error', (error) => logger.debug({ err: error }, 'client connection error'));
    this.sniffing.add(socket);
    socket.once('close', () => this.sniffing.delete(socket));
    sniffProtocol(socket, (protocol, firstBytes) => {
      this.sniffing.delete(socket);
      if (socket.destroyed) return;
      if (protocol === 'http2') {
        this.injector.injectConnection(new RewritingConnection(socket, firstBytes, logger, this.options.rewriter));
        socket.resume();
      } else {
        (this.options.http1Handler ?? answerHttpVersionNotSupported)(socket, firstBytes);
      }
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
