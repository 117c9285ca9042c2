// Test members for the peer transport: a PeerTransport on 127.0.0.1:0 whose callbacks record what
// they see, and a logger whose lines the test can read back.
import { createServer } from 'node:net';
import pino from 'pino';
import { PeerTransport, type PeerTransportOptions } from '../../../src/transport/peer-transport.js';
import { emptyMessage, MessageType, type Message, type NodeId } from '../../../src/raft/types.js';

export interface TestMember {
  id: NodeId;
  transport: PeerTransport;
  received: Message[];
  unreachable: NodeId[];
  snapshotReports: { peerId: NodeId; ok: boolean }[];
  removedBy: NodeId[];
  logLines: string[];
  url: string;
}

export type MemberOverrides = Partial<Omit<PeerTransportOptions, 'localId' | 'logger'>>;

export const fastTimings = {
  dialTimeoutMs: 300,
  pingIntervalMs: 100,
  idleTimeoutMs: 600,
  reconnectBackoffMinMs: 20,
  reconnectBackoffMaxMs: 100,
};

export function makeMember(id: NodeId, overrides: MemberOverrides = {}): TestMember {
  const logLines: string[] = [];
  const logger = pino({ level: 'info', base: null }, { write: (line: string) => void logLines.push(line) });
  const member: Partial<TestMember> = { id, received: [], unreachable: [], snapshotReports: [], removedBy: [], logLines };
  member.transport = new PeerTransport({
    localId: id,
    clusterId: 0xc1c1c1c1c1c1c1c1n,
    logger,
    onMessage: (message) => member.received!.push(message),
    onSnapshot: async (_message, data) => {
      for await (const chunk of data) void chunk;
    },
    snapshotSource: async function* () {
      yield Buffer.from('state');
    },
    reportUnreachable: (peerId) => member.unreachable!.push(peerId),
    reportSnapshot: (peerId, ok) => member.snapshotReports!.push({ peerId, ok }),
    onLocalMemberRemoved: (byPeerId) => member.removedBy!.push(byPeerId),
    timings: fastTimings,
    ...overrides,
  });
  return member as TestMember;
}

export async function startMember(member: TestMember, port = 0): Promise<TestMember> {
  await member.transport.start([new URL(`http://127.0.0.1:${port}`)]);
  member.url = member.transport.listenUrls[0]!.href;
  return member;
}

/** Every member knows every other. */
export function connectAll(members: TestMember[]): void {
  for (const a of members) for (const b of members) if (a !== b) a.transport.addPeer(b.id, [b.url]);
}

export function message(type: MessageType, from: NodeId, to: NodeId, index: number, data?: Buffer): Message {
  const m = emptyMessage(type, to, from, 3);
  m.index = index;
  if (data !== undefined) m.entries = [{ term: 3, index, type: 0, data }];
  return m;
}

export async function waitFor(condition: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
