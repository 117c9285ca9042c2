#!/usr/bin/env node
// The side-by-side bench (issue #6): etcd's own benchmark tool drives a real etcd 3.4, etcd-ts and,
// for the transport ceiling, a no-op grpc-js server, one fresh server and data dir per run,
// alternating servers run by run so a noisy shared machine affects all alike. Writes
// bench/results/<date>.json and bench/results/latest.md and prints the ratio table.
// Usage: node bench/run.mjs [--quick] [--reps N] [--only id,id] [--worktree]
//   By default the committed HEAD is measured (exported and compiled under bench/.tools/snapshots/),
//   so uncommitted files that others are editing mid-run neither break nor skew the bench;
//   --worktree measures the working tree instead (after scripts/ensure-built.mjs).
import { execFileSync, execSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseBenchmarkReport } from './lib/parse.mjs';
import {
  cpuTimeMs, freePort, installCleanupHandlers, killAllTracked, rssBytes, runToCompletion, startServer, stopProcess,
} from './lib/processes.mjs';
import { evaluateTargets, renderCeilingTable, renderRatioTable, renderTargetTable, summarizeWorkload } from './lib/report.mjs';

const benchDir = dirname(fileURLToPath(import.meta.url));
const repoDir = join(benchDir, '..');
const benchmarkBinary = join(benchDir, '.tools', 'bin', 'benchmark');
const resultsDir = join(benchDir, 'results');
const etcdBinary = '/usr/bin/etcd';
const etcdctlBinary = '/usr/bin/etcdctl';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const repsIndex = argv.indexOf('--reps');
const reps = repsIndex >= 0 ? Number(argv[repsIndex + 1]) : quick ? 2 : 5;
const onlyIndex = argv.indexOf('--only');
const onlyIds = onlyIndex >= 0 ? new Set(argv[onlyIndex + 1].split(',')) : null;
const measureHead = !argv.includes('--worktree');
if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps must be a positive integer, got ${argv[repsIndex + 1]}`);

/** Every tool run gets this long before it is killed and recorded as failed. */
const toolRunTimeoutMs = quick ? 90_000 : 240_000;
const clockTicksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

// etcd's published benchmark flags for put (8-byte keys, 256-byte values). key-space-size stays at
// the tool's default of 1 as in etcd's published runs, so the figures compare with them.
const putFlags = ['--key-size=8', '--sequential-keys', '--val-size=256'];
const rangeValue = 'a'.repeat(256);

/**
 * size: total operations for the full bench; the quick bench runs a fifth of it.
 * servers: which servers run this workload, in alternation order.
 */
const workloads = [
  { id: 'put-1-1', label: 'put 1/1', conns: 1, clients: 1, command: ['put', ...putFlags], size: 3000 },
  { id: 'put-100-1000', label: 'put 100/1000', conns: 100, clients: 1000, command: ['put', ...putFlags], size: 30000, noop: true },
  { id: 'range-l-1-1', label: 'range linearizable 1/1', conns: 1, clients: 1, command: ['range', 'foo', '--consistency=l'], size: 5000, preloadRangeKey: true },
  { id: 'range-s-1-1', label: 'range serializable 1/1', conns: 1, clients: 1, command: ['range', 'foo', '--consistency=s'], size: 5000, preloadRangeKey: true },
  { id: 'range-l-100-1000', label: 'range linearizable 100/1000', conns: 100, clients: 1000, command: ['range', 'foo', '--consistency=l'], size: 30000, preloadRangeKey: true, noop: true },
  { id: 'range-s-100-1000', label: 'range serializable 100/1000', conns: 100, clients: 1000, command: ['range', 'foo', '--consistency=s'], size: 30000, preloadRangeKey: true, noop: true },
  { id: 'txn-put-100-1000', label: 'txn-put 100/1000', conns: 100, clients: 1000, command: ['txn-put', '--key-size=8', '--val-size=256'], size: 20000 },
  // 100 watchers on one key, 100 puts/s: the tool measures from each put's reply to each watcher's
  // event, so throughput here is fixed by --put-rate and only the latency figures matter.
  { id: 'watch-latency', label: 'watch-latency 10/100 watchers', conns: 10, clients: 100, command: ['watch-latency', '--put-rate=100', '--key-size=8', '--val-size=256'], size: 500, skipMetrics: ['requestsPerSecond'] },
  { id: 'lease-keepalive', label: 'lease-keepalive 100/1000', conns: 100, clients: 1000, command: ['lease-keepalive'], size: 20000 },
].map((workload) => ({ ...workload, servers: workload.noop ? ['etcd-ts', 'etcd', 'noop'] : ['etcd-ts', 'etcd'] }))
  .filter((workload) => !onlyIds || onlyIds.has(workload.id));

const pendingRows = ['put 1/1, 3 members', 'put 100/1000, 3 members', 'range linearizable 1/1, 3 members', 'range 100/1000, 3 members', 'txn-put / watch-latency / lease-keepalive, 3 members'];

/** The quick bench runs this fraction of each workload's operations. */
const quickSizeDivisor = 3;

function totalFor(workload) {
  return quick ? Math.max(1, Math.round(workload.size / quickSizeDivisor)) : workload.size;
}

function describeMachine() {
  const cpuList = cpus();
  const etcdVersion = execFileSync(etcdBinary, ['--version'], { encoding: 'utf8' }).split('\n')[0].replace('etcd Version: ', '');
  return {
    nproc: Number(execFileSync('nproc', { encoding: 'utf8' }).trim()),
    cpuModel: cpuList[0]?.model ?? 'unknown',
    memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    etcd: etcdVersion,
    etcdTs: etcdTsBuild.description,
    benchmarkTool: "etcd's tools/benchmark from Debian's etcd source package, built by bench/setup.sh",
  };
}

/** Same flags for etcd and etcd-ts: one member, 127.0.0.1 only, a fresh data dir. */
/** Where the measured etcd-ts lives (its bin/ and dist/) and how the report names it. */
let etcdTsBuild = { root: repoDir, description: 'unknown' };

function gitOutput(args) {
  return execFileSync('git', args, { cwd: repoDir, encoding: 'utf8' }).trim();
}

function prepareEtcdTs() {
  if (!measureHead) {
    execFileSync(process.execPath, [join(repoDir, 'scripts', 'ensure-built.mjs')], { cwd: repoDir, stdio: 'inherit' });
    let description = 'the working tree (not a git checkout)';
    try {
      const dirty = gitOutput(['status', '--porcelain', '--', 'src', 'protos', 'bin']) !== '';
      description = `${gitOutput(['rev-parse', '--short', 'HEAD'])}${dirty ? ' plus uncommitted changes (working tree)' : ''}`;
    } catch {
      // Not a git checkout: described as the working tree.
    }
    return { root: repoDir, description };
  }
  const commit = gitOutput(['rev-parse', 'HEAD']);
  const snapshotsDir = join(benchDir, '.tools', 'snapshots');
  const snapshotDir = join(snapshotsDir, commit.slice(0, 12));
  // One snapshot is kept: the one of the commit measured now.
  if (existsSync(snapshotsDir)) {
    for (const entry of readdirSync(snapshotsDir)) {
      if (entry !== commit.slice(0, 12)) rmSync(join(snapshotsDir, entry), { recursive: true, force: true });
    }
  }
  const builtMarker = join(snapshotDir, 'dist', '.bench-built');
  if (!existsSync(builtMarker)) {
    if (!existsSync(join(repoDir, 'node_modules'))) throw new Error('node_modules missing: run `npm ci` (or `npm test` once) first');
    console.log(`bench: compiling a snapshot of HEAD ${commit.slice(0, 12)} in ${snapshotDir}`);
    rmSync(snapshotDir, { recursive: true, force: true });
    mkdirSync(snapshotDir, { recursive: true });
    execSync(`git archive ${commit} | tar -x -C '${snapshotDir}'`, { cwd: repoDir, stdio: 'inherit' });
    symlinkSync(join(repoDir, 'node_modules'), join(snapshotDir, 'node_modules'));
    execFileSync(process.execPath, [join(repoDir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: snapshotDir, stdio: 'inherit' });
    writeFileSync(builtMarker, commit);
  }
  return { root: snapshotDir, description: `${commit.slice(0, 12)} (committed HEAD, compiled apart from the working tree)` };
}

function etcdFlags(dataDir, clientPort, peerPort) {
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  return [
    '--name', 'bench', '--data-dir', dataDir,
    '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl,
    '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl,
    '--initial-cluster', `bench=${peerUrl}`,
  ];
}

async function runOnce(workload, server, rep, scratchDir, failedLogsDir) {
  const runName = `${workload.id}-${server}-${rep}`;
  const dataDir = join(scratchDir, `${runName}.etcd`);
  const logPath = join(scratchDir, `${runName}.log`);
  const clientPort = await freePort();
  const peerPort = await freePort();
  const total = totalFor(workload);
  const record = { workload: workload.id, server, rep, total, ok: false, loadAverage1m: loadavg()[0] };
  let spec;
  if (server === 'etcd') spec = { command: etcdBinary, args: etcdFlags(dataDir, clientPort, peerPort) };
  else if (server === 'etcd-ts') spec = { command: process.execPath, args: [join(etcdTsBuild.root, 'bin', 'etcd-ts'), ...etcdFlags(dataDir, clientPort, peerPort)] };
  else spec = { command: process.execPath, args: [join(benchDir, 'noop-server.mjs'), String(clientPort), etcdTsBuild.root] };
  let started;
  try {
    started = await startServer({ kind: server, ...spec, logPath, clientPort, cwd: repoDir });
    record.startupMs = Math.round(started.startupMs);
    if (workload.preloadRangeKey && server !== 'noop') {
      const put = await runToCompletion(etcdctlBinary, ['--endpoints', `127.0.0.1:${clientPort}`, 'put', 'foo', rangeValue], {
        timeoutMs: 20_000, cwd: repoDir, env: { ...process.env, ETCDCTL_API: '3' },
      });
      if (put.code !== 0) throw new Error(`preload put failed: ${put.stderr.trim()}`);
    }
    const toolArgs = [
      '--precise', '--endpoints', `127.0.0.1:${clientPort}`, `--conns=${workload.conns}`, `--clients=${workload.clients}`,
      ...workload.command, `--total=${total}`,
    ];
    record.toolArgs = toolArgs.join(' ');
    const cpuBeforeMs = cpuTimeMs(started.pid, clockTicksPerSecond);
    const tool = await runToCompletion(benchmarkBinary, toolArgs, { timeoutMs: toolRunTimeoutMs, cwd: repoDir });
    const cpuAfterMs = cpuTimeMs(started.pid, clockTicksPerSecond);
    record.rssMiB = rssBytes(started.pid) / 2 ** 20;
    if (tool.timedOut) throw new Error(`benchmark tool timed out after ${toolRunTimeoutMs} ms`);
    if (tool.code !== 0) throw new Error(`benchmark tool exited ${tool.code}: ${tool.stderr.trim().slice(-400)}`);
    const report = parseBenchmarkReport(tool.stdout);
    record.requestsPerSecond = report.requestsPerSecond;
    record.p50Ms = report.latencyMs.p50;
    record.p99Ms = report.latencyMs.p99;
    record.latencyMs = report.latencyMs;
    record.toolSeconds = report.totalSeconds;
    record.errorCount = report.errorCount;
    record.cpuMs = cpuAfterMs - cpuBeforeMs;
    record.cpuMsPer1000Ops = (record.cpuMs * 1000) / total;
    // A run where requests failed measured something else than the workload: kept, not counted.
    if (report.errorCount > 0) throw new Error(`${report.errorCount} requests failed: ${report.errorSamples.join(' | ')}`);
    record.ok = true;
  } catch (error) {
    record.error = error instanceof Error ? error.message : String(error);
  } finally {
    if (started) await stopProcess(started.child);
    rmSync(dataDir, { recursive: true, force: true });
    if (record.ok) {
      rmSync(logPath, { force: true });
    } else if (existsSync(logPath)) {
      mkdirSync(failedLogsDir, { recursive: true });
      record.serverLog = join(failedLogsDir, `${runName}.log`).slice(repoDir.length + 1);
      renameSync(logPath, join(failedLogsDir, `${runName}.log`));
    }
  }
  return record;
}

function ensurePrerequisites() {
  if (!existsSync(benchmarkBinary)) {
    console.log('bench: building etcd benchmark tool (bench/setup.sh)');
    execFileSync('bash', [join(benchDir, 'setup.sh')], { stdio: 'inherit' });
  }
  for (const binary of [etcdBinary, etcdctlBinary]) {
    if (!existsSync(binary)) throw new Error(`${binary} missing: apt-get install etcd-server etcd-client`);
  }
  etcdTsBuild = prepareEtcdTs();
}

function formatLoad(values) {
  return values.map((value) => value.toFixed(2)).join(' / ');
}

async function main() {
  installCleanupHandlers();
  ensurePrerequisites();
  const startedAt = new Date();
  const machine = describeMachine();
  const loadAtStart = loadavg();
  // Scratch data dirs on the repository's disk (not a tmpfs), removed after each run; the server
  // log of a failed run moves to bench/results/raw/ (git-ignored) for its post-mortem.
  const runStamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const scratchDir = join(benchDir, '.tools', 'data', runStamp);
  const failedLogsDir = join(resultsDir, 'raw', runStamp);
  mkdirSync(scratchDir, { recursive: true });
  const runs = [];
  const plannedRuns = workloads.reduce((sum, workload) => sum + workload.servers.length * reps, 0);
  console.log(`bench: ${quick ? 'quick' : 'full'}, ${reps} rep(s), ${plannedRuns} runs; load average ${formatLoad(loadAtStart)}`);
  for (const workload of workloads) {
    for (let rep = 1; rep <= reps; rep++) {
      for (const server of workload.servers) {
        const record = await runOnce(workload, server, rep, scratchDir, failedLogsDir);
        runs.push(record);
        const figure = record.ok
          ? `${record.requestsPerSecond.toFixed(0)} req/s, p50 ${record.p50Ms.toFixed(3)} ms, p99 ${record.p99Ms.toFixed(3)} ms, ` +
            `cpu ${record.cpuMsPer1000Ops.toFixed(1)} ms/1k ops, rss ${record.rssMiB.toFixed(0)} MiB`
          : `FAILED: ${record.error}`;
        console.log(`  [${runs.length}/${plannedRuns}] ${workload.id} ${server} #${rep}: ${figure}`);
      }
    }
  }
  const loadAtEnd = loadavg();
  const summaries = Object.fromEntries(workloads.map((workload) => [workload.id, summarizeWorkload(workload, runs.filter((run) => run.workload === workload.id))]));
  const targetResults = evaluateTargets(summaries);
  const finishedAt = new Date();
  const result = {
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    mode: quick ? 'quick' : 'full',
    reps,
    machine,
    loadAverage: { atStart: loadAtStart, atEnd: loadAtEnd, duringRuns: runs.map((run) => run.loadAverage1m) },
    workloads: workloads.map((workload) => {
      const { id, label, conns, clients, command, servers } = workload;
      return { id, label, conns, clients, command, servers, total: totalFor(workload) };
    }),
    pendingRows,
    summaries,
    targets: targetResults,
    runs,
  };
  mkdirSync(resultsDir, { recursive: true });
  const stamp = startedAt.toISOString().replace(/:/g, '-').replace(/\..*/, '');
  const jsonPath = join(resultsDir, `${stamp}${quick ? '-quick' : ''}.json`);
  writeFileSync(jsonPath, `${JSON.stringify(result, null, 2)}\n`);
  const renderInput = { workloads, summaries, pendingRows, targetResults };
  const ratioTable = renderRatioTable(renderInput);
  const ceilingTable = renderCeilingTable(renderInput);
  const targetTable = renderTargetTable(targetResults);
  const loadDuring = runs.map((run) => run.loadAverage1m);
  const markdown = [
    `# etcd-ts vs etcd 3.4: ${quick ? 'quick' : 'full'} bench of ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Machine: ${machine.nproc} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB memory; Node ${machine.node}; ` +
      `etcd ${machine.etcd}; etcd-ts ${machine.etcdTs}. Load generator: ${machine.benchmarkTool}, sharing the cores.`,
    `Load average (1/5/15 min): ${formatLoad(loadAtStart)} at start, ${formatLoad(loadAtEnd)} at end; ` +
      `1-min load during runs ${Math.min(...loadDuring).toFixed(2)}–${Math.max(...loadDuring).toFixed(2)} (other engineers share the machine).`,
    `${reps} run(s) per server and workload, alternating etcd-ts, etcd${workloads.some((w) => w.noop) ? ', no-op' : ''} run by run; ` +
      `each run a fresh server with a fresh data dir on the same disk; one member. Figures are medians (min–max); ` +
      'ratios are of medians, always etcd-ts / etcd, and the last column says which direction is better. ' +
      'Server CPU is utime+stime from /proc/<pid>/stat over the tool run, per 1000 requests of the run ' +
      '(for watch-latency per 1000 puts, each delivered to every watcher). watch-latency is timed by the tool from ' +
      "each put's reply to each watcher's event; its throughput is fixed by --put-rate and not shown.",
    `Raw data: \`${jsonPath.slice(repoDir.length + 1)}\`.`,
    '',
    '## etcd-ts against etcd',
    '',
    ratioTable,
    '',
    '## Transport ceiling (a grpc-js server answering Put and Range from a constant, same codecs as etcd-ts)',
    '',
    ceilingTable,
    '',
    '## Targets of issue #6',
    '',
    targetTable,
    '',
    'Not measured yet: RSS and start-up with 1M keys, data-dir size after 1M puts and after compaction + defrag, watch fan-out (1000 watchers), 3-member rows.',
    '',
  ].join('\n');
  writeFileSync(join(resultsDir, 'latest.md'), markdown);
  console.log(`\n${ratioTable}\n\n${ceilingTable}\n\n${targetTable}\n`);
  console.log(`bench: results in ${jsonPath} and bench/results/latest.md (${((finishedAt - startedAt) / 1000).toFixed(0)} s)`);
  rmSync(scratchDir, { recursive: true, force: true });
}

main().catch((error) => {
  console.error(error);
  killAllTracked();
  process.exit(1);
});
