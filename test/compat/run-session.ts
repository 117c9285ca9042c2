// Owns running one differential session against one server and recording its normalised transcript.
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { etcdctl, spawnWatch, type WatchProcess } from '../helpers/etcdctl.js';
import type { EtcdProcess } from '../helpers/etcd-process.js';
import { makeTempDir } from '../helpers/process-registry.js';
import { normalise, type ServerFacts } from './normalise.js';
import type { Session, Step, TranscriptEntry } from './session-types.js';

const watchLinesTimeoutMs = 5000;
const watchExitTimeoutMs = 5000;
/** Sessions are short scripts; a longer one is a mistake in the table. */
const sessionStepsMax = 200;

async function readFacts(server: EtcdProcess): Promise<ServerFacts> {
  const result = await etcdctl(server.clientUrl, ['member', 'list', '-w', 'json']);
  // uint64 ids do not fit a JS number: read them as text, never through JSON.parse.
  const clusterId = /"cluster_id":(\d+)/.exec(result.stdout)?.[1];
  const memberId = /"member_id":(\d+)/.exec(result.stdout)?.[1];
  if (result.exitCode !== 0 || clusterId === undefined || memberId === undefined) {
    throw new Error(`member list -w json on ${server.kind} failed: ${result.stdout}${result.stderr}`);
  }
  return { clientUrl: server.clientUrl, peerUrl: server.peerUrl, clusterId, memberId, leases: new Map(), snapshotPaths: [] };
}

function fillPlaceholders(text: string, facts: ServerFacts, scratchDir: string): string {
  return text
    .replace(/\{lease:([a-z0-9]+)\}/g, (_, name: string) => {
      const id = facts.leases.get(name);
      if (id === undefined) return `no-lease-captured-as-${name}`;
      return id.toString(16);
    })
    .replace(/\{snapshot:([a-z0-9]+)\}/g, (_, name: string) => {
      const path = join(scratchDir, `${name}.db`);
      if (!facts.snapshotPaths.includes(path)) facts.snapshotPaths.push(path);
      return path;
    });
}

function captureLeaseId(stdout: string): bigint | undefined {
  const hex = /lease ([0-9a-f]+) granted with TTL/.exec(stdout)?.[1];
  if (hex !== undefined) return BigInt(`0x${hex}`);
  const decimal = /"ID":(\d+)/.exec(stdout)?.[1];
  return decimal === undefined ? undefined : BigInt(decimal);
}

function describeRpcResult(value: unknown): string {
  // The npm client returns uint64/int64 as decimal strings and bytes as Buffers; print bytes as text.
  return JSON.stringify(value, (_, v: unknown) => {
    if (v !== null && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
      return `bytes:${Buffer.from((v as { data: number[] }).data).toString('utf8')}`;
    }
    return v;
  });
}

function stepLabel(step: Step, index: number): string {
  const number = String(index + 1).padStart(2, '0');
  switch (step.kind) {
    case 'ctl': return `${number} etcdctl ${step.label ?? step.args.map((a) => (a === '' || /\s|\0/.test(a) ? JSON.stringify(a) : a)).join(' ')}`;
    case 'watch': return `${number} watch[${step.name}] start ${step.args.join(' ')}`;
    case 'watch-lines': return `${number} watch[${step.name}] first ${step.count} lines`;
    case 'watch-exit': return `${number} watch[${step.name}] exit`;
    case 'rpc': return `${number} rpc ${step.label}`;
    case 'sleep': return `${number} sleep ${step.ms} ms`;
  }
}

/** Runs every step of `session` against `server`; never throws for a command's failure, records it. */
export async function runSession(server: EtcdProcess, session: Session): Promise<TranscriptEntry[]> {
  if (session.steps.length > sessionStepsMax) throw new Error(`session ${session.name} has more than ${sessionStepsMax} steps`);
  const facts = await readFacts(server);
  const scratchDir = makeTempDir(`compat-${session.name}`);
  const watches = new Map<string, WatchProcess>();
  const raw: TranscriptEntry[] = [];
  let client: Etcd3 | undefined;
  try {
    for (const [index, step] of session.steps.entries()) {
      const label = stepLabel(step, index);
      switch (step.kind) {
        case 'ctl': {
          const args = step.args.map((arg) => fillPlaceholders(arg, facts, scratchDir));
          const input = step.input === undefined ? undefined : fillPlaceholders(step.input, facts, scratchDir);
          const result = await etcdctl(server.clientUrl, args, { input });
          if (step.captureLease !== undefined) {
            const id = captureLeaseId(result.stdout);
            if (id !== undefined) facts.leases.set(step.captureLease, id);
          }
          raw.push({ step: label, ...result });
          break;
        }
        case 'watch': {
          const args = step.args.map((arg) => fillPlaceholders(arg, facts, scratchDir));
          watches.set(step.name, spawnWatch(server.clientUrl, args));
          // A watch without --rev only sees what happens after it is registered, and etcdctl gives
          // no sign of that moment: wait long enough for the dial and the create request.
          if (step.settleMs !== undefined) await new Promise((resolve) => setTimeout(resolve, step.settleMs));
          raw.push({ step: label, stdout: '', stderr: '', exitCode: 0 });
          break;
        }
        case 'watch-lines': {
          const watch = watches.get(step.name);
          if (watch === undefined) throw new Error(`session ${session.name}: no watch named ${step.name}`);
          let note = '';
          try {
            await watch.waitForLines(step.count, step.timeoutMs ?? watchLinesTimeoutMs);
          } catch (error) {
            note = `[only ${watch.lines.length}/${step.count} lines: ${String(error).split('\n')[0]}]`;
          }
          raw.push({ step: label, stdout: watch.lines.slice(0, step.count).join('\n'), stderr: note + watch.stderr(), exitCode: 0 });
          break;
        }
        case 'watch-exit': {
          const watch = watches.get(step.name);
          if (watch === undefined) throw new Error(`session ${session.name}: no watch named ${step.name}`);
          let exitCode: number | null;
          try {
            exitCode = await watch.waitForExit(step.timeoutMs ?? watchExitTimeoutMs);
          } catch {
            exitCode = null;
            await watch.stop();
          }
          raw.push({ step: label, stdout: watch.lines.join('\n'), stderr: watch.stderr(), exitCode });
          watches.delete(step.name);
          break;
        }
        case 'rpc': {
          client ??= new Etcd3({ hosts: server.clientUrl });
          try {
            const value = await step.call(client);
            raw.push({ step: label, stdout: describeRpcResult(value), stderr: '', exitCode: 0 });
          } catch (error) {
            const e = error as Error;
            raw.push({ step: label, stdout: '', stderr: `${e.constructor.name}: ${e.message}`, exitCode: 1 });
          }
          break;
        }
        case 'sleep':
          await new Promise((resolve) => setTimeout(resolve, step.ms));
          raw.push({ step: label, stdout: '', stderr: '', exitCode: 0 });
          break;
      }
    }
    // Whatever a watch printed beyond the lines a step waited for (a duplicate, a late event) shows here.
    for (const [name, watch] of watches) {
      raw.push({ step: `end watch[${name}] all lines`, stdout: watch.lines.join('\n'), stderr: watch.stderr(), exitCode: 0 });
    }
  } finally {
    await Promise.all([...watches.values()].map((watch) => watch.stop()));
    client?.close();
  }
  return raw.map((entry) => ({
    step: entry.step,
    stdout: normalise(entry.stdout, facts),
    stderr: normalise(entry.stderr, facts),
    exitCode: entry.exitCode,
  }));
}
