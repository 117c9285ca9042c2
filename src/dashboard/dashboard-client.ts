// The dashboard's data side: what the page asks the cluster, through the v3 JSON gateway that every
// member serves on its client URL (the same requests a curl script makes). It runs in the browser,
// inlined into the page (dashboard-page.ts), and in Node for the tests: it imports nothing and uses
// only fetch, TextEncoder/TextDecoder, btoa/atob and streams, which both have.

export interface Session {
  /** A member's client URL, e.g. http://127.0.0.1:2379 (the page's own origin in the browser). */
  base: string;
  /** From authenticate(), when auth is enabled. */
  token?: string;
}

/** A failed call: the gateway's gRPC code and message. needsLogin when auth wants a (new) token. */
export class GatewayError extends Error {
  constructor(message: string, readonly code: number, readonly status: number) {
    super(message);
    this.name = 'GatewayError';
  }

  get needsLogin(): boolean {
    return /user name is empty|invalid auth token|authentication failed|permission denied/.test(this.message);
  }
}

/** One POST to /v3<path> with a JSON body; the answer's JSON, or a GatewayError. */
export async function call(session: Session, path: string, body: unknown = {}, signal?: AbortSignal): Promise<any> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (session.token) headers.authorization = session.token;
  let response: Response;
  try {
    response = await fetch(`${session.base.replace(/\/+$/, '')}/v3${path}`, { method: 'POST', headers, body: JSON.stringify(body), signal });
  } catch (error) {
    throw new GatewayError(`${session.base} unreachable: ${(error as Error).message}`, 14, 0);
  }
  const text = await response.text();
  let parsed: any;
  try {
    parsed = text === '' ? {} : JSON.parse(text);
  } catch {
    throw new GatewayError(`${path}: not JSON (${response.status}): ${text.slice(0, 200)}`, 2, response.status);
  }
  if (!response.ok || (parsed && typeof parsed.code === 'number' && parsed.code !== 0 && parsed.message !== undefined)) {
    throw new GatewayError(String(parsed?.message ?? parsed?.error ?? response.statusText), Number(parsed?.code ?? 2), response.status);
  }
  return parsed;
}

// ---- bytes: the gateway carries keys and values as base64 ----

export function toBase64(bytes: Uint8Array): string {
  return btoa(Array.from(bytes, (byte) => String.fromCharCode(byte)).join(''));
}

export function fromBase64(text: string | undefined): Uint8Array {
  return Uint8Array.from(atob(text ?? ''), (char) => char.charCodeAt(0));
}

export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/** Bytes as text when they are printable UTF-8, else as hex (0x...). */
export function showBytes(bytes: Uint8Array): string {
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    // eslint-disable-next-line no-control-regex
    if (!/[\u0000-\u0008\u000e-\u001f\u007f]/.test(text)) return text;
  } catch { /* not UTF-8 */ }
  return `0x${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** The end of the range of every key starting with `prefix` (etcd's GetPrefixRangeEnd; "\0" for all keys). */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  const end = prefix.slice();
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return new Uint8Array([0]);
}

// ---- what the page shows ----

export interface MemberView {
  id: string;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
  /** From that member's own /v3/maintenance/status; error when it could not be asked. */
  status?: {
    version: string; dbSize: number; dbSizeInUse: number; leader: string; raftTerm: number; raftIndex: number; raftAppliedIndex: number;
    errors: string[];
  };
  error?: string;
}

export interface Overview {
  clusterId: string;
  revision: number;
  leaderId: string;
  members: MemberView[];
  alarms: Array<{ memberId: string; alarm: string }>;
}

/** Members, each asked for its status at its own client URL, the leader and the alarms. */
export async function clusterOverview(session: Session): Promise<Overview> {
  const list = await call(session, '/cluster/member/list', {});
  const alarms = await call(session, '/maintenance/alarm', { action: 'GET' });
  const own = await call(session, '/maintenance/status', {});
  const members: MemberView[] = (list.members ?? []).map((m: any) => ({
    id: String(m.ID ?? '0'), name: m.name ?? '', peerUrls: m.peerURLs ?? [], clientUrls: m.clientURLs ?? [], isLearner: m.isLearner === true,
  }));
  await Promise.all(members.map(async (member) => {
    const url = member.clientUrls[0];
    if (url === undefined) {
      member.error = 'not started yet (no client URL)';
      return;
    }
    try {
      const timeout = new AbortController();
      const timer = setTimeout(() => timeout.abort(), 3000);
      const s = await call({ base: url, token: session.token }, '/maintenance/status', {}, timeout.signal).finally(() => clearTimeout(timer));
      member.status = {
        version: s.version ?? '', dbSize: Number(s.dbSize ?? 0), dbSizeInUse: Number(s.dbSizeInUse ?? 0), leader: String(s.leader ?? '0'),
        raftTerm: Number(s.raftTerm ?? 0), raftIndex: Number(s.raftIndex ?? 0), raftAppliedIndex: Number(s.raftAppliedIndex ?? 0), errors: s.errors ?? [],
      };
    } catch (error) {
      member.error = (error as Error).message;
    }
  }));
  return {
    clusterId: String(list.header?.cluster_id ?? ''),
    revision: Number(own.header?.revision ?? 0),
    leaderId: String(own.leader ?? '0'),
    members,
    alarms: (alarms.alarms ?? []).map((a: any) => ({ memberId: String(a.memberID ?? '0'), alarm: a.alarm ?? 'NONE' })),
  };
}

export interface KeyView {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  version: number;
  lease: string;
}

export interface KeyList {
  kvs: KeyView[];
  more: boolean;
  count: number;
  revision: number;
}

function keyView(kv: any): KeyView {
  return {
    key: showBytes(fromBase64(kv.key)), value: showBytes(fromBase64(kv.value)),
    createRevision: Number(kv.create_revision ?? 0), modRevision: Number(kv.mod_revision ?? 0), version: Number(kv.version ?? 0),
    lease: String(kv.lease ?? '0'),
  };
}

/** The keys starting with `prefix` (every key for ""), sorted, at most `limit`. */
export async function listKeys(session: Session, prefix: string, limit = 100): Promise<KeyList> {
  const start = prefix === '' ? new Uint8Array([0]) : utf8(prefix);
  const answer = await call(session, '/kv/range', {
    key: toBase64(start), range_end: toBase64(prefixEnd(utf8(prefix))), limit: String(limit), sort_order: 'ASCEND', sort_target: 'KEY',
  });
  return { kvs: (answer.kvs ?? []).map(keyView), more: answer.more === true, count: Number(answer.count ?? 0), revision: Number(answer.header?.revision ?? 0) };
}

export interface LeaseView {
  id: string;
  ttl: number;
  grantedTtl: number;
  keys: string[];
}

/** Every lease with its remaining TTL and keys. */
export async function listLeases(session: Session): Promise<LeaseView[]> {
  const answer = await call(session, '/lease/leases', {});
  const ids: string[] = (answer.leases ?? []).map((l: any) => String(l.ID));
  return Promise.all(ids.map(async (id) => {
    const live = await call(session, '/lease/timetolive', { ID: id, keys: true });
    return {
      id, ttl: Number(live.TTL ?? -1), grantedTtl: Number(live.grantedTTL ?? 0),
      keys: (live.keys ?? []).map((k: string) => showBytes(fromBase64(k))),
    };
  }));
}

export interface WatchEventView {
  type: 'PUT' | 'DELETE';
  key: string;
  value: string;
  modRevision: number;
}

/**
 * Watches every key starting with `prefix` from now on, calling onEvent for each event until
 * `signal` aborts (resolves then) or the stream fails (rejects with a GatewayError).
 */
export async function watchPrefix(session: Session, prefix: string, onEvent: (event: WatchEventView) => void, signal: AbortSignal,
  onCreated?: () => void): Promise<void> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (session.token) headers.authorization = session.token;
  const start = prefix === '' ? new Uint8Array([0]) : utf8(prefix);
  let response: Response;
  try {
    response = await fetch(`${session.base.replace(/\/+$/, '')}/v3/watch`, {
      method: 'POST', headers, signal, body: JSON.stringify({ create_request: { key: toBase64(start), range_end: toBase64(prefixEnd(utf8(prefix))) } }),
    });
  } catch (error) {
    if (signal.aborted) return;
    throw new GatewayError(`watch: ${(error as Error).message}`, 14, 0);
  }
  if (!response.body) throw new GatewayError('watch: no stream', 2, response.status);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let pending = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      pending += decoder.decode(value, { stream: true });
      // One response per line, as grpc-gateway writes them.
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (line.trim() === '') continue;
        const message = JSON.parse(line);
        if (message.error) throw new GatewayError(String(message.error.message ?? 'watch failed'), Number(message.error.grpc_code ?? 2), Number(message.error.http_code ?? 0));
        const result = message.result ?? {};
        if (result.created) onCreated?.();
        if (result.canceled) throw new GatewayError(String(result.cancel_reason ?? 'watch canceled'), 1, 200);
        for (const event of result.events ?? []) {
          const kv = keyView(event.kv ?? {});
          onEvent({ type: event.type === 'DELETE' ? 'DELETE' : 'PUT', key: kv.key, value: kv.value, modRevision: kv.modRevision });
        }
      }
    }
  } catch (error) {
    if (signal.aborted) return;
    throw error;
  } finally {
    reader.releaseLock();
  }
}

/** A token for `name` (POST /v3/auth/authenticate). */
export async function authenticate(base: string, name: string, password: string): Promise<string> {
  const answer = await call({ base }, '/auth/authenticate', { name, password });
  return String(answer.token);
}
