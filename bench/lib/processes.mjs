// Owns every process the bench starts: servers (real etcd, etcd-ts, the no-op gRPC server) and
// benchmark-tool runs. Each is tracked by pid and killed by pid, on normal stop and on exit,
// Ctrl-C or a crash of the runner; nothing is ever killed by name (others run the same binaries).
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseProcStatCpuTicks, parseProcStatusRssBytes } from './parse.mjs';

export const serverReadyTimeoutMs = 30_000;
export const serverStopGraceMs = 5_000;
const readyPollIntervalMs = 100;

/** @type {Map<number, import('node:child_process').ChildProcess>} pid → live child */
const liveChildren = new Map();

function track(child) {
  if (child.pid === undefined) throw new Error('spawn failed: no pid');
  liveChildren.set(child.pid, child);
  child.once('exit', () => liveChildren.delete(child.pid));
  return child;
}

/** Kills every child still alive, by pid. Synchronous so it also works from an 'exit' handler. */
export function killAllTracked() {
  for (const pid of [...liveChildren.keys()]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone between the map read and the kill.
    }
    liveChildren.delete(pid);
  }
}

let handlersInstalled = false;
export function installCleanupHandlers() {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAllTracked);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      console.error(`\nbench: ${signal}, killing ${liveChildren.size} child process(es) by pid`);
      killAllTracked();
      process.exit(130);
    });
  }
  process.on('uncaughtException', (error) => {
    console.error(error);
    killAllTracked();
    process.exit(1);
  });
}

/**
 * Ports are handed out from below the kernel's ephemeral range (net.ipv4.ip_local_port_range): a
 * port the kernel picked from that range and we released could be taken, before a member listens
 * on it, as the source port of another member's outgoing connection. A 3-member start-up failed
 * that way once with EADDRINUSE on a peer port (2026-11-27, txn-put 3 members, run 3).
 */
const firstBenchPort = 12_000;
let nextBenchPort = firstBenchPort;

function ephemeralLow() {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > firstBenchPort + 1000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}
const benchPortEnd = ephemeralLow();

/** A port free on 127.0.0.1 now, below the ephemeral range, not handed out lately by this process. */
export async function freePort() {
  for (let attempt = 0; attempt < benchPortEnd - firstBenchPort; attempt++) {
    const port = nextBenchPort;
    nextBenchPort = nextBenchPort + 1 >= benchPortEnd ? firstBenchPort : nextBenchPort + 1;
    if (await canListen(port)) return port;
  }
  throw new Error(`freePort: no free port in ${firstBenchPort}-${benchPortEnd - 1}`);
}

function canListen(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function tcpAccepts(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

// etcdctl's health check (a linearizable Get over gRPC) works on both servers; etcd-ts does not
// serve HTTP /health on the client port yet. It only passes once a leader serves reads.
async function etcdHealthy(port) {
  const check = await runToCompletion(
    '/usr/bin/etcdctl',
    ['--endpoints', `127.0.0.1:${port}`, '--dial-timeout=1s', '--command-timeout=1s', 'endpoint', 'health'],
    { timeoutMs: 5_000, env: { ...process.env, ETCDCTL_API: '3' } },
  );
  return check.code === 0;
}

/**
 * @typedef {{ kind: 'etcd' | 'etcd-ts' | 'noop', command: string, args: string[], logPath: string, clientPort: number, cwd: string }} ServerSpec
 */

/**
 * Starts every member at once (a member of a multi-member cluster cannot serve before a quorum
 * is up) and resolves once each serves clients. startupMs is from the spawn of all members to the
 * moment that member first passed its health check. If any member fails, all are stopped.
 * @param {ServerSpec[]} specs
 * @param {number} [readyTimeoutMs]
 * @returns {Promise<Array<{ child: import('node:child_process').ChildProcess, pid: number, startupMs: number }>>}
 */
export async function startCluster(specs, readyTimeoutMs = serverReadyTimeoutMs) {
  const startedAtMs = performance.now();
  const members = specs.map((spec) => {
    const logFd = openSync(spec.logPath, 'a');
    const child = track(spawn(spec.command, spec.args, { cwd: spec.cwd, stdio: ['ignore', logFd, logFd] }));
    closeSync(logFd);
    const member = { spec, child, exitCode: /** @type {number | string | null} */ (null) };
    child.once('exit', (code, signal) => {
      member.exitCode = code ?? signal;
    });
    return member;
  });
  const waitReady = async (member) => {
    const { spec } = member;
    const ready = spec.kind === 'noop' ? () => tcpAccepts(spec.clientPort) : () => etcdHealthy(spec.clientPort);
    while (!(await ready())) {
      if (member.exitCode !== null) throw new Error(`${spec.kind} exited (${member.exitCode}) before serving; log: ${spec.logPath}`);
      if (performance.now() - startedAtMs > readyTimeoutMs) {
        throw new Error(`${spec.kind} not ready within ${readyTimeoutMs} ms; log: ${spec.logPath}`);
      }
      await sleep(readyPollIntervalMs);
    }
    return { child: member.child, pid: /** @type {number} */ (member.child.pid), startupMs: performance.now() - startedAtMs };
  };
  try {
    return await Promise.all(members.map(waitReady));
  } catch (error) {
    await Promise.all(members.map((member) => stopProcess(member.child)));
    throw error;
  }
}

/** SIGTERM, then SIGKILL after the grace period; resolves when the process is gone. */
export async function stopProcess(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(/** @type {number} */ (child.pid), 'SIGTERM');
  const graceful = await Promise.race([exited.then(() => true), sleep(serverStopGraceMs).then(() => false)]);
  if (!graceful) await killProcess(child);
}

/** SIGKILL; resolves when the process is gone. */
export async function killProcess(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    process.kill(/** @type {number} */ (child.pid), 'SIGKILL');
  } catch {
    // Exited between the check and the kill.
  }
  await exited;
}

/** Server CPU (user + system) in milliseconds so far, summed over all its threads. */
export function cpuTimeMs(pid, clockTicksPerSecond) {
  return (parseProcStatCpuTicks(readFileSync(`/proc/${pid}/stat`, 'utf8')) * 1000) / clockTicksPerSecond;
}

export function rssBytes(pid) {
  return parseProcStatusRssBytes(readFileSync(`/proc/${pid}/status`, 'utf8'));
}

/**
 * Runs a command to completion with a deadline; stdout and stderr are collected (bounded).
 * @returns {Promise<{ code: number | string | null, stdout: string, stderr: string, timedOut: boolean }>}
 */
export function runToCompletion(command, args, { timeoutMs, cwd, env = process.env, outputBytesMax = 4 * 1024 * 1024 }) {
  return new Promise((resolve, reject) => {
    const child = track(spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] }));
    const chunks = { stdout: [], stderr: [] };
    const sizes = { stdout: 0, stderr: 0 };
    for (const stream of /** @type {const} */ (['stdout', 'stderr'])) {
      child[stream].on('data', (chunk) => {
        if (sizes[stream] >= outputBytesMax) return;
        sizes[stream] += chunk.length;
        chunks[stream].push(chunk);
      });
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(/** @type {number} */ (child.pid), 'SIGKILL');
      } catch {
        // Finished at the deadline.
      }
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? signal,
        stdout: Buffer.concat(chunks.stdout).toString('utf8'),
        stderr: Buffer.concat(chunks.stderr).toString('utf8'),
        timedOut,
      });
    });
  });
}
