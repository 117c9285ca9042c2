// Owns the network between cluster members in fault tests: one TCP listener per member on
// 127.0.0.1 that members advertise as that member's peer URL, forwarding to the member's real
// peer port. Every accepted connection is attributed to the member process that opened it (its
// socket inode found in /proc/net/tcp and in the member's /proc/<pid>/fd), so the test can cut a
// link in one direction (its bytes stop flowing, as if the packets were black-holed; TCP delivers
// them intact if the link heals before the sender gives up), cut a member off from everyone
// (connections dropped and new ones refused, or black-holed), and heal.
import { readdir, readFile, readlink } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** Peer connections between a handful of members; more means a reconnect storm or a leak. */
const connectionsMax = 512;
const targetsMax = 16;

export type CutMode = 'refuse' | 'blackhole';

interface Target {
  name: string;
  port: number;
  listenPort: number;
  server: Server;
}

interface Connection {
  /** The member whose process opened the connection, or undefined when it could not be told. */
  source: string | undefined;
  target: string;
  client: Socket;
  upstream: Socket;
  /** Per direction: paused because the receiving side is slow (not because of a cut). */
  forwardDrainWait: boolean;
  backwardDrainWait: boolean;
}

export interface PeerProxyStats {
  accepted: number;
  refused: number;
  unattributed: number;
  closed: number;
}

function hexPort(port: number): string {
  return port.toString(16).toUpperCase().padStart(4, '0');
}

/** The inode of the socket bound to 127.0.0.1:localPort and connected to 127.0.0.1:remotePort. */
async function socketInode(localPort: number, remotePort: number): Promise<string | undefined> {
  const table = await readFile('/proc/net/tcp', 'utf8');
  const local = `0100007F:${hexPort(localPort)}`;
  const remote = `0100007F:${hexPort(remotePort)}`;
  for (const line of table.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] === local && fields[2] === remote) return fields[9];
  }
  return undefined;
}

async function pidOwnsSocket(pid: number, inode: string): Promise<boolean> {
  let fds: string[];
  try {
    fds = await readdir(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  const wanted = `socket:[${inode}]`;
  for (const fd of fds) {
    try {
      if (await readlink(`/proc/${pid}/fd/${fd}`) === wanted) return true;
    } catch { /* the fd closed meanwhile */ }
  }
  return false;
}

export class PeerProxy {
  private readonly targets = new Map<string, Target>();
  private readonly pids = new Map<string, number>();
  private readonly connections = new Set<Connection>();
  /** Directed cuts `from>to`; a member in `isolated` is cut from and to everyone. */
  private readonly cuts = new Map<string, CutMode>();
  private readonly isolated = new Map<string, CutMode>();
  private readonly counters: PeerProxyStats = { accepted: 0, refused: 0, unattributed: 0, closed: 0 };

  /** Starts forwarding a new listener on 127.0.0.1 to `port`; returns the listener's port. */
  async addTarget(name: string, port: number): Promise<number> {
    if (this.targets.has(name)) throw new Error(`peer proxy: target ${name} exists`);
    if (this.targets.size >= targetsMax) throw new Error(`peer proxy: more than ${targetsMax} targets`);
    const server = createServer((client) => { void this.accept(name, client); });
    const listenPort = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: 0 }, () => {
        const address = server.address();
        if (address === null || typeof address === 'string') reject(new Error('peer proxy: no TCP address'));
        else resolve(address.port);
      });
    });
    this.targets.set(name, { name, port, listenPort, server });
    return listenPort;
  }

  async removeTarget(name: string): Promise<void> {
    const target = this.targets.get(name);
    if (!target) return;
    this.targets.delete(name);
    for (const connection of this.connections) if (connection.target === name) this.drop(connection);
    await new Promise<void>((resolve) => target.server.close(() => resolve()));
  }

  /** The pid of a member's current process, so connections it opens are attributed to it. */
  setPid(name: string, pid: number): void {
    this.pids.set(name, pid);
  }

  /** Stops bytes from `from` to `to` (one direction only). */
  cut(from: string, to: string, mode: CutMode = 'blackhole'): void {
    this.cuts.set(`${from}>${to}`, mode);
    this.reevaluate();
  }

  /** Cuts `name` off from every other member in both directions. */
  isolate(name: string, mode: CutMode = 'refuse'): void {
    this.isolated.set(name, mode);
    this.reevaluate();
  }

  /** Removes every cut; black-holed connections resume, refused members may connect again. */
  heal(): void {
    this.cuts.clear();
    this.isolated.clear();
    this.reevaluate();
  }

  stats(): PeerProxyStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    for (const connection of this.connections) this.drop(connection);
    await Promise.all([...this.targets.values()].map((target) => new Promise<void>((resolve) => target.server.close(() => resolve()))));
    this.targets.clear();
  }

  /** How bytes from `from` to `to` are treated; an unknown sender is cut when its target is isolated. */
  private cutMode(from: string | undefined, to: string | undefined): CutMode | undefined {
    if (from !== undefined && this.isolated.has(from)) return this.isolated.get(from);
    if (to !== undefined && this.isolated.has(to)) return this.isolated.get(to);
    if (from === undefined || to === undefined) return undefined;
    return this.cuts.get(`${from}>${to}`);
  }

  private async attribute(client: Socket, listenPort: number): Promise<string | undefined> {
    const remotePort = client.remotePort;
    if (remotePort === undefined) return undefined;
    const inode = await socketInode(remotePort, listenPort);
    if (inode === undefined) return undefined;
    for (const [name, pid] of this.pids) {
      if (await pidOwnsSocket(pid, inode)) return name;
    }
    return undefined;
  }

  private async accept(targetName: string, client: Socket): Promise<void> {
    const target = this.targets.get(targetName);
    client.on('error', () => { /* the peer vanished; drop() cleans up */ });
    if (!target || this.connections.size >= connectionsMax) {
      this.counters.refused++;
      client.destroy();
      return;
    }
    client.pause();
    const source = await this.attribute(client, target.listenPort).catch(() => undefined);
    if (source === undefined) this.counters.unattributed++;
    const forward = this.cutMode(source, targetName);
    const backward = this.cutMode(targetName, source);
    // A connection we cannot attribute might come from an isolated member: refuse it while any
    // member is isolated rather than let it cross the cut.
    const unknownDuringIsolation = source === undefined && this.isolated.size > 0;
    if (forward === 'refuse' || backward === 'refuse' || unknownDuringIsolation || client.destroyed) {
      this.counters.refused++;
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: '127.0.0.1', port: target.port });
    upstream.pause();
    upstream.on('error', () => { /* the member is down; drop() cleans up */ });
    const connection: Connection = { source, target: targetName, client, upstream, forwardDrainWait: false, backwardDrainWait: false };
    this.connections.add(connection);
    this.counters.accepted++;
    const onClose = (): void => this.drop(connection);
    client.once('close', onClose);
    upstream.once('close', onClose);
    this.pipe(connection, client, upstream, 'forward');
    this.pipe(connection, upstream, client, 'backward');
    upstream.once('connect', () => this.apply(connection));
  }

  private pipe(connection: Connection, from: Socket, to: Socket, direction: 'forward' | 'backward'): void {
    const waitKey = direction === 'forward' ? 'forwardDrainWait' : 'backwardDrainWait';
    from.on('data', (chunk: Buffer) => {
      if (to.write(chunk)) return;
      connection[waitKey] = true;
      from.pause();
      to.once('drain', () => {
        connection[waitKey] = false;
        this.apply(connection);
      });
    });
  }

  /** Pauses or resumes each direction of one connection by the current cuts, or drops it. */
  private apply(connection: Connection): void {
    if (!this.connections.has(connection)) return;
    const forward = this.cutMode(connection.source, connection.target);
    const backward = this.cutMode(connection.target, connection.source);
    if (forward === 'refuse' || backward === 'refuse') {
      this.drop(connection);
      return;
    }
    if (connection.upstream.connecting) return;
    if (forward !== undefined || connection.forwardDrainWait) connection.client.pause();
    else connection.client.resume();
    if (backward !== undefined || connection.backwardDrainWait) connection.upstream.pause();
    else connection.upstream.resume();
  }

  private reevaluate(): void {
    for (const connection of this.connections) this.apply(connection);
  }

  private drop(connection: Connection): void {
    if (!this.connections.delete(connection)) return;
    this.counters.closed++;
    connection.client.destroy();
    connection.upstream.destroy();
  }
}
