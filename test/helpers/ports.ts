// Owns the choice of free TCP ports for test servers: the OS picks one on 127.0.0.1, we release it.
import { createServer } from 'node:net';

/**
 * Ports this process has handed out. The kernel may give a just-released port again, so two calls
 * in a row (a member's client and peer port) could return the same one: seen once as EADDRINUSE
 * when a member bound its client URL on its own peer port.
 */
const handedOut = new Set<number>();

/** A free port on 127.0.0.1 that no earlier call in this process returned. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await kernelFreePort();
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('freePort: the kernel kept returning ports already handed out');
}

/** Asks the kernel for a free port on 127.0.0.1 (bind to port 0) and releases it at once. */
function kernelFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('freePort: listen gave no TCP address'));
        return;
      }
      const port = address.port;
      server.close((error) => (error ? reject(error) : resolve(port)));
    });
  });
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
