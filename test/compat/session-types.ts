// Owns the vocabulary of a differential session: the steps a scripted etcdctl session is made of.
import type { Etcd3 } from 'etcd3';

/**
 * Args and stdin may contain placeholders, filled per server:
 *   {lease:NAME}  the hex id of the lease the session captured as NAME (etcdctl takes hex)
 *   {snapshot:NAME}  a path for a snapshot file in the server's own temp dir
 */
export type Step =
  | { kind: 'ctl'; args: string[]; input?: string; captureLease?: string; label?: string }
  | { kind: 'watch'; name: string; args: string[]; settleMs?: number }
  | { kind: 'watch-lines'; name: string; count: number; timeoutMs?: number }
  | { kind: 'watch-exit'; name: string; timeoutMs?: number }
  | { kind: 'rpc'; label: string; call: (client: Etcd3) => Promise<unknown> }
  | { kind: 'sleep'; ms: number };

export interface Session {
  name: string;
  steps: Step[];
}

/** `ctl('get foo --prefix')`: whitespace-split args; pass an array for args with spaces or empty strings. */
export function ctl(args: string | string[], options: { input?: string; captureLease?: string } = {}): Step {
  return { kind: 'ctl', args: typeof args === 'string' ? args.split(/\s+/).filter((a) => a !== '') : args, ...options };
}

/** One recorded step: what etcdctl (or the npm client) printed, after normalisation. */
export interface TranscriptEntry {
  step: string;
  stdout: string;
  stderr: string;
  exitCode: number | null;
}
