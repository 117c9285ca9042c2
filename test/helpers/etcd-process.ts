// Owns starting and stopping one single-member server process for a test: the real etcd 3.4
// (`/usr/bin/etcd`) or etcd-ts (`node bin/etcd-ts`), both with etcd's flags, on 127.0.0.1 only.
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { etcdctl } from './etcdctl.js';
import { freePort } from './ports.js';
import { makeTempDir, registerChild } from './process-registry.js';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const realEtcdPath = process.env.REAL_ETCD_PATH ?? '/usr/bin/etcd';
export const etcdTsBinPath = join(repoRoot, 'bin', 'etcd-ts');

export interface StartOptions {
  /** Member name; default `n1`. */
  name?: string;
  /** Reuse a data dir (to restart a member); default a fresh temp dir. */
  dataDir?: string;
  /** Fixed ports (to restart a member on the same URLs); default free ports. */
  clientPort?: number;
  peerPort?: number;
  /** Extra etcd flags, e.g. ['--max-request-bytes=1024']. */
  extraArgs?: string[];
  /** Run with exactly these args instead of the generated flags (quickstart: no flags at all). */
  argsOverride?: string[];
  /** Working directory; default the data dir's parent. */
  cwd?: string;
  /** Client URL to health-check when argsOverride is used. */
  clientUrlOverride?: string;
  env?: Record<string, string>;
  startTimeoutMs?: number;
  /** 'https' when the client listener has --cert-file/--key-file (in extraArgs); default 'http'. */
  clientScheme?: 'http' | 'https';
  /** etcdctl flags the health check needs, e.g. --cacert/--cert/--key for an https listener. */
  healthCheckArgs?: string[];
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface EtcdProcess {
  readonly kind: 'etcd' | 'etcd-ts';
  readonly pid: number;
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  /** Resolves when the process exits. */
  readonly exited: Promise<ExitStatus>;
  /** The last part of the process's stdout+stderr, for failure messages. */
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited after graceMs; resolves once it has exited. */
  stop(graceMs?: number): Promise<ExitStatus>;
  /** Sends `signal` by pid and waits for the exit (SIGKILL is the crash test's tool). */
  kill(signal?: NodeJS.Signals): Promise<ExitStatus>;
}

/** Enough of the server's log to see why it failed, bounded so a chatty server cannot grow memory. */
const outputTailCharsMax = 64 * 1024;
const defaultStartTimeoutMs = 30_000;
const healthPollIntervalMs = 150;

function trackOutput(child: ChildProcess): () => string {
  let tail = '';
  const append = (chunk: Buffer): void => {
    tail += chunk.toString('utf8');
    if (tail.length > outputTailCharsMax) tail = tail.slice(tail.length - outputTailCharsMax);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  return () => tail;
}

async function waitHealthy(clientUrl: string, exited: Promise<ExitStatus>, output: () => string, timeoutMs: number, etcdctlArgs: readonly string[]): Promise<void> {
  let exitStatus: ExitStatus | undefined;
  void exited.then((status) => { exitStatus = status; });
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (exitStatus !== undefined) {
      throw new Error(`server exited during startup (code ${exitStatus.code}, signal ${exitStatus.signal}):\n${output()}`);
    }
    const result = await etcdctl(clientUrl, [...etcdctlArgs, '--dial-timeout=1s', '--command-timeout=2s', 'endpoint', 'health'], { timeoutMs: 5000 });
    if (result.exitCode === 0) return;
    last = result.stdout + result.stderr;
    await new Promise((resolve) => setTimeout(resolve, healthPollIntervalMs));
  }
  throw new Error(`server at ${clientUrl} not healthy after ${timeoutMs} ms; last etcdctl: ${last}\nserver output:\n${output()}`);
}

async function start(kind: 'etcd' | 'etcd-ts', options: StartOptions): Promise<EtcdProcess> {
  const name = options.name ?? 'n1';
  const dataDir = options.dataDir ?? join(makeTempDir(`${kind}-test`), `${name}.etcd`);
  const clientPort = options.clientPort ?? await freePort();
  const peerPort = options.peerPort ?? await freePort();
  const clientUrl = options.clientUrlOverride ?? `${options.clientScheme ?? 'http'}://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const args = options.argsOverride ?? [
    `--name=${name}`,
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${clientUrl}`,
    `--advertise-client-urls=${clientUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=${name}=${peerUrl}`,
    ...(options.extraArgs ?? []),
  ];
  const command = kind === 'etcd' ? realEtcdPath : process.execPath;
  const commandArgs = kind === 'etcd' ? args : [etcdTsBinPath, ...args];
  // An ETCD_* variable from the environment would conflict with our flags (etcd treats that as fatal).
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('ETCD_') && !key.startsWith('ETCDCTL_')) env[key] = value;
  }
  const child = spawn(command, commandArgs, {
    cwd: options.cwd ?? dirname(dataDir),
    env: { ...env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not spawn ${command}`);
  registerChild(child);
  const output = trackOutput(child);
  let exitStatus: ExitStatus | undefined;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => { exitStatus = { code, signal }; resolve(exitStatus); });
  });

  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<ExitStatus> => {
    if (exitStatus === undefined) {
      try { process.kill(pid, signal); } catch { /* already gone */ }
    }
    return exited;
  };
  const stop = async (graceMs = 10_000): Promise<ExitStatus> => {
    if (exitStatus !== undefined) return exitStatus;
    try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }, graceMs);
    const status = await exited;
    clearTimeout(timer);
    return status;
  };

  try {
    await waitHealthy(clientUrl, exited, output, options.startTimeoutMs ?? defaultStartTimeoutMs, options.healthCheckArgs ?? []);
  } catch (error) {
    await kill('SIGKILL');
    throw error;
  }
  return { kind, pid, name, clientUrl, peerUrl, clientPort, peerPort, dataDir, exited, output, stop, kill };
}

/** Starts the real etcd 3.4 on 127.0.0.1 with a temp data dir and waits until it is healthy. */
export function startRealEtcd(options: StartOptions = {}): Promise<EtcdProcess> {
  return start('etcd', options);
}

/** Starts etcd-ts (`node bin/etcd-ts`, i.e. dist/) like startRealEtcd. */
export function startEtcdTs(options: StartOptions = {}): Promise<EtcdProcess> {
  return start('etcd-ts', options);
}

/**
 * The server under test: etcd-ts, or the real etcd when COMPAT_SELF_CHECK=1 (which proves the
 * tests themselves: every test must pass against real etcd).
 */
export const selfCheck = process.env.COMPAT_SELF_CHECK === '1';
export function startServerUnderTest(options: StartOptions = {}): Promise<EtcdProcess> {
  return selfCheck ? startRealEtcd(options) : startEtcdTs(options);
}
