// Owns the v2 proxy's record of the cluster, `<data-dir>/proxy/cluster`: the peer URLs it learned,
// as etcd writes them (`{"PeerURLs":[...]}`), replaced through a synced `.bak` and a rename, so
// that a proxy restarted without its discovery service or initial cluster still finds the members.
import { openSync, writeSync, fsyncSync, closeSync, readFileSync, renameSync } from 'node:fs';

export function readClusterFile(path: string): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const parsed = JSON.parse(text) as { PeerURLs?: unknown };
  const urls = parsed.PeerURLs;
  if (urls !== null && urls !== undefined && (!Array.isArray(urls) || urls.some((u) => typeof u !== 'string'))) {
    throw new Error(`proxy cluster file ${path}: PeerURLs is not a list of strings`);
  }
  return (urls ?? []) as string[];
}

export function writeClusterFile(path: string, peerUrls: readonly string[]): void {
  const temporary = `${path}.bak`;
  const fd = openSync(temporary, 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify({ PeerURLs: peerUrls }));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
}
