// Owns asking the cluster who its members are, as etcd's proxy asks (GetClusterFromRemotePeers):
// `GET <peer URL>/members` on each peer URL in turn until one answers with a member list and a
// cluster id (X-Etcd-Cluster-ID); the proxy sends clients to the members' client URLs and keeps the
// peer URLs for its next question. etcd-ts's peers answer it (peer-members.ts), and so do etcd's.
import http from 'node:http';
import https from 'node:https';
import { readBody } from '../transport/http-io.js';

export interface RemoteCluster {
  /** Every member's client URLs, sorted (etcd's RaftCluster.ClientURLs). */
  clientUrls: string[];
  /** Every member's peer URLs, sorted. */
  peerUrls: string[];
}

export interface PeerTlsFiles {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** --peer-auto-tls: the peers' certificates are self-signed. */
  insecure?: boolean;
}

interface MemberJson { peerURLs?: unknown; clientURLs?: unknown }

/** etcd's request timeout for this question. */
export const clusterRequestTimeoutMs = 10_000;
/** A member list is small; an answer beyond this is not one. */
const answerBytesMax = 4 * 1024 * 1024;

export async function clusterFromPeers(
  peerUrls: readonly string[], options: { tls?: PeerTlsFiles; timeoutMs?: number; log?: (message: string, fields?: Record<string, unknown>) => void } = {},
): Promise<RemoteCluster> {
  for (const peerUrl of peerUrls) {
    const address = `${peerUrl.replace(/\/+$/, '')}/members`;
    let answer: { status: number; clusterId: string | undefined; body: string };
    try {
      answer = await getText(address, options.timeoutMs ?? clusterRequestTimeoutMs, options.tls);
    } catch (error) {
      options.log?.('failed to get cluster response', { address, error: (error as Error).message });
      continue;
    }
    let members: MemberJson[];
    try {
      const parsed = JSON.parse(answer.body) as unknown;
      if (!Array.isArray(parsed)) throw new Error('not a list');
      members = parsed as MemberJson[];
    } catch (error) {
      options.log?.('failed to unmarshal cluster response', { address, error: (error as Error).message });
      continue;
    }
    if (answer.clusterId === undefined || !/^[0-9a-fA-F]{1,16}$/.test(answer.clusterId)) {
      options.log?.('failed to parse cluster ID', { address, header: answer.clusterId ?? '' });
      continue;
    }
    if (members.length === 0) {
      options.log?.('failed to get raft cluster member(s) from the given URLs', { address });
      continue;
    }
    const urls = (value: unknown): string[] => (Array.isArray(value) ? value.filter((u): u is string => typeof u === 'string') : []);
    return {
      clientUrls: [...new Set(members.flatMap((m) => urls(m.clientURLs)))].sort(),
      peerUrls: [...new Set(members.flatMap((m) => urls(m.peerURLs)))].sort(),
    };
  }
  throw new Error('could not retrieve cluster information from the given URLs');
}

async function getText(address: string, timeoutMs: number, tls: PeerTlsFiles | undefined): Promise<{ status: number; clusterId: string | undefined; body: string }> {
  const url = new URL(address);
  const secure = url.protocol === 'https:';
  const options: https.RequestOptions = { method: 'GET' };
  if (secure) Object.assign(options, { ca: tls?.ca, cert: tls?.cert, key: tls?.key, rejectUnauthorized: tls?.insecure !== true });
  const request = (secure ? https : http).request(url, options);
  const deadline = setTimeout(() => request.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  try {
    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      request.once('response', resolve);
      request.once('error', reject);
      request.end();
    });
    const body = await readBody(response, answerBytesMax);
    const header = response.headers['x-etcd-cluster-id'];
    return { status: response.statusCode ?? 0, clusterId: Array.isArray(header) ? header[0] : header, body: body.toString('utf8') };
  } finally {
    clearTimeout(deadline);
  }
}
