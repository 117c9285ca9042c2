// The test servers' port choice: below the kernel's ephemeral range, so that no outgoing
// connection can hold a port between the check and the server's listen (helpers/ports.ts).
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort, isPortFree } from '../../helpers/ports.js';

describe('freePort', () => {
  it('hands out distinct free ports below the ephemeral range, and skips one in use', async () => {
    const ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    const first = await freePort();
    // Occupy the next port of the walk: freePort must step over it.
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen({ host: '127.0.0.1', port: first + 1, exclusive: true }, resolve));
    try {
      const ports = [first];
      for (let i = 0; i < 5; i++) ports.push(await freePort());
      expect(new Set(ports).size).toBe(ports.length);
      expect(ports).not.toContain(first + 1);
      for (const port of ports) {
        expect(port).toBeLessThan(ephemeralLow);
        expect(await isPortFree(port)).toBe(true);
      }
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
