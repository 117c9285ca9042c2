// PeerTransport.stop in a file of its own: counting the process's active handles needs a baseline
// that no other test's sockets are still closing into.
import { describe, expect, it } from 'vitest';
import { MessageType } from '../../../src/raft/types.js';
import { connectAll, makeMember, message, sleep, startMember, waitFor } from './helpers.js';

describe('PeerTransport.stop', () => {
  it('closes every socket, server and timer it opened', async () => {
    const count = (type: string) => process.getActiveResourcesInfo().filter((name) => name === type).length;
    await sleep(50);
    const baseline = { servers: count('TCPServerWrap'), sockets: count('TCPSocketWrap'), timers: count('Timeout') };
    const list = await Promise.all([1n, 2n, 3n].map((id) => startMember(makeMember(id))));
    connectAll(list);
    for (const from of list) from.transport.send(list.filter((to) => to !== from).map((to) => message(MessageType.Heartbeat, from.id, to.id, 1)));
    list[0]!.transport.handle('/slow', () => new Promise((resolve) => setTimeout(() => resolve(Buffer.alloc(0)), 200)));
    const pending = list[1]!.transport.request(1n, '/slow', Buffer.alloc(0), 5000).catch((error: Error) => error);
    await waitFor(() => list.every((m) => m.received.length === 2), 3000, 'streams up');
    expect(count('TCPSocketWrap')).toBeGreaterThan(baseline.sockets);
    await Promise.all(list.map((m) => m.transport.stop()));
    expect(await pending).toBeInstanceOf(Error);
    await sleep(250);
    expect(count('TCPServerWrap')).toBe(baseline.servers);
    expect(count('TCPSocketWrap')).toBe(baseline.sockets);
    expect(count('Timeout')).toBeLessThanOrEqual(baseline.timers);
    // A stopped transport ignores sends instead of reopening connections.
    list[0]!.transport.send([message(MessageType.Heartbeat, 1n, 2n, 2)]);
    await sleep(20);
    expect(count('TCPSocketWrap')).toBe(baseline.sockets);
  });
});
