// Owns the choice of free TCP ports for test servers, on 127.0.0.1.
//
// Ports come from below the kernel's ephemeral range (net.ipv4.ip_local_port_range). A port the
// kernel picked from that range and we released can be taken, before our server listens on it, as
// the source port of an outgoing connection (a member dialling its peers): a 3-member start-up in the
// benchmark once failed that way with EADDRINUSE on a peer port. Each test worker walks its own window
// (vitest's pool id), so workers do not hand out the same port; a port is checked free before use.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const WINDOW_PORTS = 400;
const FIRST_PORT = 10_000;

/** The low end of the ephemeral range, or 32768 (Linux's default) where it cannot be read. */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

/** Windows 1..RESERVED_WINDOWS are the test workers' (pool ids); other processes take one by pid above them. */
const RESERVED_WINDOWS = 8;
const windows = Math.max(RESERVED_WINDOWS + 2, Math.floor((ephemeralLow() - FIRST_PORT) / WINDOW_PORTS));
const poolId = Number(process.env.VITEST_POOL_ID);
const windowIndex = Number.isInteger(poolId) && poolId >= 1 && poolId <= RESERVED_WINDOWS
  ? poolId
  : RESERVED_WINDOWS + 1 + (process.pid % (windows - RESERVED_WINDOWS - 1));
const windowStart = FIRST_PORT + windowIndex * WINDOW_PORTS;
let nextOffset = 0;

/**
 * A free port on 127.0.0.1, below the ephemeral range. The walk visits each port of the window once
 * before it wraps, so no call returns a port an earlier one did within the last WINDOW_PORTS.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < WINDOW_PORTS; attempt++) {
    const port = windowStart + nextOffset;
    nextOffset = (nextOffset + 1) % WINDOW_PORTS;
    if (await isPortFree(port)) return port;
  }
  throw new Error(`freePort: no free port in ${windowStart}-${windowStart + WINDOW_PORTS - 1}`);
}

/** True when nothing listens on 127.0.0.1:port and we may bind it. */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}
