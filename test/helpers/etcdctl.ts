// Owns running Debian's etcdctl 3.4 (`/usr/bin/etcdctl`, API v3) against a test server: one-shot
// commands with captured output, and `etcdctl watch` as a long-lived child read line by line.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { registerChild } from './process-registry.js';

export const etcdctlPath = process.env.ETCDCTL_PATH ?? '/usr/bin/etcdctl';

export interface EtcdctlResult {
  stdout: string;
  stderr: string;
  /** null when the process was killed by a signal (e.g. our timeout). */
  exitCode: number | null;
}

export interface EtcdctlOptions {
  input?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** Output beyond this is a runaway command; we keep the head so the failure stays readable. */
const outputBytesMax = 8 * 1024 * 1024;
const defaultTimeoutMs = 20_000;

function etcdctlEnv(extra: Record<string, string> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // Inherit PATH/HOME only: an ETCDCTL_* variable from the developer's shell would change outputs.
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG']) {
    if (process.env[name] !== undefined) env[name] = process.env[name];
  }
  env.ETCDCTL_API = '3';
  return { ...env, ...extra };
}

/**
 * Runs `etcdctl --endpoints=<endpoint> <args...>` and resolves with its output and exit code.
 * An empty endpoint leaves --endpoints out, so etcdctl uses its default 127.0.0.1:2379.
 */
export function etcdctl(endpoint: string, args: readonly string[], options: EtcdctlOptions = {}): Promise<EtcdctlResult> {
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  return new Promise((resolve, reject) => {
    const child = spawn(etcdctlPath, endpoint === '' ? [...args] : [`--endpoints=${endpoint}`, ...args], {
      env: etcdctlEnv(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    registerChild(child);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let stdoutBytes = 0;
    let stderrBytes = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      if (stdoutBytes < outputBytesMax) stdout.push(chunk);
      stdoutBytes += chunk.length;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderrBytes < outputBytesMax) stderr.push(chunk);
      stderrBytes += chunk.length;
    });
    const timer = setTimeout(() => {
      if (child.pid !== undefined) {
        try { process.kill(child.pid, 'SIGKILL'); } catch { /* already gone */ }
      }
    }, timeoutMs);
    child.once('error', (error) => { clearTimeout(timer); reject(error); });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        exitCode: code,
      });
    });
    child.stdin.on('error', () => { /* etcdctl may exit before reading stdin */ });
    child.stdin.end(options.input ?? '');
  });
}

export interface WatchProcess {
  readonly pid: number;
  /** Every stdout line so far, in order. */
  readonly lines: string[];
  /** Stderr so far (errors such as a compacted revision end up here). */
  stderr(): string;
  /** Resolves with the first `count` lines once they have arrived; rejects after timeoutMs. */
  waitForLines(count: number, timeoutMs?: number): Promise<string[]>;
  /** Resolves with the exit code once etcdctl exits by itself (e.g. after a watch error). */
  waitForExit(timeoutMs?: number): Promise<number | null>;
  /** Kills etcdctl by pid and waits for it to exit. */
  stop(): Promise<void>;
}

/** A watch that prints more lines than this is out of control in a test. */
const watchLinesMax = 100_000;

/** Starts `etcdctl --endpoints=<endpoint> watch <args...>` and collects its stdout line by line. */
export function spawnWatch(endpoint: string, args: readonly string[], options: { env?: Record<string, string> } = {}): WatchProcess {
  const child = spawn(etcdctlPath, [`--endpoints=${endpoint}`, 'watch', ...args], {
    env: etcdctlEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`spawnWatch: could not start ${etcdctlPath}`);
  registerChild(child);
  const pid = child.pid;
  const lines: string[] = [];
  let stderrText = '';
  let waiters: Array<() => void> = [];
  const wake = (): void => {
    const current = waiters;
    waiters = [];
    for (const waiter of current) waiter();
  };
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (lines.length < watchLinesMax) lines.push(line);
    wake();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    if (stderrText.length < outputBytesMax) stderrText += chunk.toString('utf8');
  });
  let exitCode: number | null | undefined;
  // 'close', not 'exit': 'exit' may come before the pipes are read to their end, and a fresh
  // clone's CI run once compared an etcdctl whose "watch was canceled" had not been read yet.
  const exited = new Promise<number | null>((resolve) => {
    child.once('close', (code) => { exitCode = code; wake(); resolve(code); });
  });

  return {
    pid,
    lines,
    stderr: () => stderrText,
    waitForLines(count, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`watch ${args.join(' ')}: ${lines.length}/${count} lines after ${timeoutMs} ms:\n` +
            `${lines.join('\n')}\nstderr: ${stderrText}`));
        }, timeoutMs);
        const check = (): void => {
          if (lines.length >= count) {
            clearTimeout(timer);
            resolve(lines.slice(0, count));
          } else if (exitCode !== undefined) {
            clearTimeout(timer);
            reject(new Error(`watch ${args.join(' ')} exited (${exitCode}) after ${lines.length}/${count} lines:\n` +
              `${lines.join('\n')}\nstderr: ${stderrText}`));
          } else {
            waiters.push(check);
          }
        };
        check();
      });
    },
    waitForExit(timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`watch ${args.join(' ')} still running after ${timeoutMs} ms`)), timeoutMs);
        void exited.then((code) => { clearTimeout(timer); resolve(code); });
      });
    },
    async stop() {
      if (exitCode === undefined) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
      }
      await exited;
    },
  };
}
