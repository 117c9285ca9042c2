// Owns the TCP proxy behind `etcd-ts gateway start` (etcd's L4 gateway): every accepted connection
// is joined byte for byte to one endpoint. The endpoint is chosen as an SRV record is (the lowest
// priority class among the active endpoints; by weight within it, an unweighted one rarely; plain
// endpoints round robin); one that refuses a dial is set aside and redialled every retry delay
// until it answers again.
import net from 'node:net';
import type { Logger } from 'pino';

export interface ProxyEndpoint {
  host: string;
  port: number;
  /** SRV priority: the lowest class with an active endpoint is used. Plain endpoints: 0. */
  priority: number;
  /** SRV weight within a priority class; 0 for plain endpoints. */
  weight: number;
}

export interface TcpProxyOptions {
  endpoints: readonly ProxyEndpoint[];
  /** How long a failed endpoint stays set aside before it is dialled again (--retry-delay). */
  retryDelayMs: number;
  logger: Logger;
  /** A dial that has not connected in this long fails (etcd's has no limit: a black hole hung the client). */
  dialTimeoutMs?: number;
  /** In [0, 1): chooses by weight. */
  random?: () => number;
}

interface Remote {
  endpoint: ProxyEndpoint;
  address: string;
  active: boolean;
}

const dialTimeoutMsDefault = 5_000;

/** A TCP connection to host:port, or the reason there is none within `timeoutMs`. */
export function dial(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => socket.destroy(new Error(`no connection within ${timeoutMs} ms`)), timeoutMs);
    const failed = (error: Error): void => {
      clearTimeout(timer);
      reject(error);
    };
    socket.once('error', failed);
    socket.once('connect', () => {
      clearTimeout(timer);
      // The caller's listeners come in the microtask that resolves this, before any other I/O event.
      socket.off('error', failed);
      resolve(socket);
    });
  });
}

export class TcpProxy {
  private readonly remotes: Remote[];
  private pickCount = 0;
  private server?: net.Server;
  private monitor?: NodeJS.Timeout;
  private readonly sockets = new Set<net.Socket>();
  private readonly random: () => number;
  private readonly dialTimeoutMs: number;

  constructor(private readonly options: TcpProxyOptions) {
    this.remotes = options.endpoints.map((endpoint) => ({ endpoint, address: joinHostPort(endpoint.host, endpoint.port), active: true }));
    this.random = options.random ?? Math.random;
    this.dialTimeoutMs = options.dialTimeoutMs ?? dialTimeoutMsDefault;
  }

  get addresses(): string[] {
    return this.remotes.map((remote) => remote.address);
  }

  async listen(host: string, port: number): Promise<net.AddressInfo> {
    const server = net.createServer((socket) => this.serve(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.options.logger.info({ endpoints: this.addresses }, 'ready to proxy client requests');
    this.monitor = setInterval(() => this.retryInactive(), this.options.retryDelayMs);
    this.monitor.unref();
    return server.address() as net.AddressInfo;
  }

  async close(): Promise<void> {
    clearInterval(this.monitor);
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** The next endpoint to dial, or undefined when none is active. */
  pick(): ProxyEndpoint | undefined {
    let bestPriority = Infinity;
    let weighted: Remote[] = [];
    let unweighted: Remote[] = [];
    let totalWeight = 0;
    for (const remote of this.remotes) {
      if (!remote.active || remote.endpoint.priority > bestPriority) continue;
      if (remote.endpoint.priority < bestPriority) {
        bestPriority = remote.endpoint.priority;
        weighted = [];
        unweighted = [];
        totalWeight = 0;
      }
      if (remote.endpoint.weight > 0) {
        weighted.push(remote);
        totalWeight += remote.endpoint.weight;
      } else {
        unweighted.push(remote);
      }
    }
    if (weighted.length > 0) {
      // RFC 2782: a weight-0 record is chosen rarely when others have weight (etcd: 1 in 100).
      if (unweighted.length > 0 && Math.floor(this.random() * 100) === 1) return unweighted[this.pickCount++ % unweighted.length]!.endpoint;
      let choose = Math.floor(this.random() * totalWeight);
      for (const remote of weighted) {
        choose -= remote.endpoint.weight;
        if (choose <= 0) return remote.endpoint;
      }
      return weighted.at(-1)!.endpoint;
    }
    if (unweighted.length === 0) return undefined;
    // Round robin over every endpoint, skipping the inactive ones.
    for (let tried = 0; tried < this.remotes.length; tried++) {
      const remote = this.remotes[this.pickCount++ % this.remotes.length]!;
      if (remote.active) return remote.endpoint;
    }
    return undefined;
  }

  private remoteOf(endpoint: ProxyEndpoint): Remote {
    return this.remotes.find((remote) => remote.endpoint === endpoint)!;
  }

  private serve(client: net.Socket): void {
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => client.destroy());
    // Whatever the client sends before its endpoint answers waits in the socket.
    client.pause();
    const dialNext = (): void => {
      const endpoint = this.pick();
      if (endpoint === undefined) {
        client.destroy();
        return;
      }
      dial(endpoint.host, endpoint.port, this.dialTimeoutMs).then((upstream) => {
        if (client.destroyed) {
          upstream.destroy();
          return;
        }
        this.join(client, upstream);
      }, (error: Error) => {
        const remote = this.remoteOf(endpoint);
        remote.active = false;
        this.options.logger.warn({ address: remote.address, interval: `${this.options.retryDelayMs}ms`, error: error.message }, 'deactivated endpoint');
        if (!client.destroyed) dialNext();
      });
    };
    dialNext();
  }

  /** Copies each way until either side ends; then both close, as etcd's io.Copy pair does. */
  private join(client: net.Socket, upstream: net.Socket): void {
    this.sockets.add(upstream);
    upstream.on('close', () => {
      this.sockets.delete(upstream);
      client.destroy();
    });
    client.on('close', () => upstream.destroy());
    upstream.on('error', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  }

  private retryInactive(): void {
    for (const remote of this.remotes) {
      if (remote.active) continue;
      dial(remote.endpoint.host, remote.endpoint.port, this.dialTimeoutMs).then((probe) => {
        probe.destroy();
        remote.active = true;
        this.options.logger.info({ address: remote.address }, 'activated');
      }, (error: Error) => {
        this.options.logger.warn({ address: remote.address, interval: `${this.options.retryDelayMs}ms`, error: error.message },
          'failed to activate endpoint (stay inactive for another interval)');
      });
    }
  }
}

/** host:port, with an IPv6 literal in brackets. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
