// A v2 discovery service for the discovery tests: our own v2 keys API served on 127.0.0.1, whose
// /new makes tokens (discovery URLs pointing back at it).
import { listen } from '../api-http/harness.js';
import { startV2Harness, v2, type V2Harness } from '../v2/harness.js';

export interface DiscoveryService {
  harness: V2Harness;
  port: number;
  /** A new discovery URL for a cluster of `size`. */
  newToken(size: string): Promise<string>;
  close(): Promise<void>;
}

export async function startDiscoveryService(): Promise<DiscoveryService> {
  const harness = await startV2Harness();
  const served = await listen(harness.app);
  return {
    harness,
    port: served.port,
    async newToken(size) {
      const answer = await v2(harness.app, 'GET', `/new?size=${size}`);
      return answer.text.replace('http://localhost:80', `http://127.0.0.1:${served.port}`);
    },
    async close() {
      await served.close();
      await harness.close();
    },
  };
}
