// Checks the figures the bench reports: medians with min–max, ratios of medians, target verdicts
// and the rendered table. Run: node --test bench/test/
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateTargets, keysMetrics, renderCeilingTable, renderRatioTable, spread, summarizeWorkload } from '../lib/report.mjs';

test('spread takes the median of odd and even counts and ignores missing values', () => {
  assert.deepEqual(spread([5, 1, 3]), { median: 3, min: 1, max: 5, count: 3 });
  assert.deepEqual(spread([4, 1, 3, 2]), { median: 2.5, min: 1, max: 4, count: 4 });
  assert.deepEqual(spread([NaN, 7, undefined]), { median: 7, min: 7, max: 7, count: 1 });
  assert.equal(spread([]), null);
});

const workload = { id: 'put-100-1000', label: 'put 100/1000', servers: ['etcd-ts', 'etcd', 'noop'] };
const run = (server, requestsPerSecond, ok = true) => ({
  server, ok, requestsPerSecond, p50Ms: 1, p99Ms: 2, cpuMsPer1000Ops: server === 'etcd-ts' ? 300 : 100, rssMiB: 50,
});

test('ratios are etcd-ts over etcd of the medians; failed runs are counted, not averaged', () => {
  const summary = summarizeWorkload(workload, [
    run('etcd-ts', 3000), run('etcd', 10000), run('noop', 6000),
    run('etcd-ts', 5000), run('etcd', 12000), run('noop', 8000),
    run('etcd-ts', 1, false),
  ]);
  assert.equal(summary.byServer['etcd-ts'].requestsPerSecond.median, 4000);
  assert.equal(summary.byServer['etcd-ts'].failedRuns, 1);
  assert.equal(summary.ratios.requestsPerSecond, 4000 / 11000);
  assert.equal(summary.ratios.cpuMsPer1000Ops, 3);
  assert.equal(summary.noopFraction, 4000 / 7000);
  const verdicts = evaluateTargets({ 'put-100-1000': summary });
  const noopTarget = verdicts.find((verdict) => verdict.label.includes('no-op'));
  assert.equal(noopTarget.met, false);
  const cpuTarget = verdicts.find((verdict) => verdict.label.includes('CPU'));
  assert.equal(cpuTarget.met, false);
  assert.ok(verdicts.every((verdict) => verdict.workloadId === 'put-100-1000'));
});

test('a server with no successful run shows as failed, with no ratio', () => {
  const summary = summarizeWorkload(workload, [run('etcd-ts', 1, false), run('etcd', 10000), run('noop', 6000)]);
  assert.equal(summary.ratios.requestsPerSecond, null);
  const table = renderRatioTable({ workloads: [workload], summaries: { [workload.id]: summary }, pendingRows: ['put 1/1, 3 members'], targetResults: [] });
  assert.match(table, /\| put 100\/1000 \| throughput \(req\/s\) \| failed \| 10,000 \| — \| higher \|/);
  assert.match(table, /failed runs \| etcd-ts 1/);
  assert.match(table, /put 1\/1, 3 members \| not yet: needs multi-member/);
  assert.match(renderCeilingTable({ workloads: [workload], summaries: { [workload.id]: summary } }), /\| put 100\/1000 \| 6,000 \| failed \| 10,000 \| — \| 1\.67× \|/);
});

test('the many-keys workload is summarized and rendered with its own figures and targets', () => {
  const keys = { id: 'keys-1m', label: '1M keys', servers: ['etcd-ts', 'etcd'], metrics: keysMetrics };
  const keysRun = (server, rssMiB, startupMs) => ({
    server, ok: true, requestsPerSecond: 5000, rssMiB, startupMs, rssAfterRestartMiB: rssMiB / 2, dataDirMiB: 400, dataDirCompactedMiB: 300,
  });
  const summary = summarizeWorkload(keys, [keysRun('etcd-ts', 600, 3000), keysRun('etcd', 500, 1000)]);
  assert.equal(summary.ratios.rssMiB, 1.2);
  assert.equal(summary.ratios.startupMs, 3);
  assert.equal(summary.ratios.p99Ms, undefined, 'latency is no figure of the many-keys row');
  const verdicts = evaluateTargets({ 'keys-1m': summary });
  assert.deepEqual(verdicts.map((verdict) => [verdict.label, verdict.met]), [
    ['RSS with 1M keys ≤ 1.5× etcd', true],
    ['start-up with 1M keys ≤ 2× etcd', false],
  ]);
  const table = renderRatioTable({ workloads: [keys], summaries: { 'keys-1m': summary }, pendingRows: [], targetResults: [] });
  assert.match(table, /\| 1M keys \| start-up on the loaded data dir \(ms\) \| 3,000 \| 1,000 \| 3\.00× \| lower \|/);
  assert.match(table, /\| 1M keys \| data-dir size after compaction \+ defrag \(MiB\) \| 300\.0 \| 300\.0 \| 1\.00× \| lower \|/);
  assert.doesNotMatch(table, /p99/);
});

test('a workload may skip metrics and name others in its own unit', () => {
  const fanout = {
    id: 'watch-fanout', label: 'watch fan-out', servers: ['etcd-ts', 'etcd'], skipMetrics: ['p50Ms', 'p99Ms'],
    metricLabels: { requestsPerSecond: 'events delivered (events/s)', cpuMsPer1000Ops: 'server CPU (ms / 1000 events)' },
  };
  const fanoutRun = (server, requestsPerSecond, cpuMsPer1000Ops) => ({ server, ok: true, requestsPerSecond, cpuMsPer1000Ops, rssMiB: 80 });
  const summary = summarizeWorkload(fanout, [fanoutRun('etcd-ts', 160000, 5.6), fanoutRun('etcd', 1600000, 0.5)]);
  assert.equal(summary.ratios.requestsPerSecond, 0.1);
  assert.equal(summary.ratios.p99Ms, null, 'no latency is recorded for the row');
  const table = renderRatioTable({ workloads: [fanout], summaries: { 'watch-fanout': summary }, pendingRows: [], targetResults: [] });
  assert.match(table, /\| watch fan-out \| events delivered \(events\/s\) \| 160,000 \| 1,600,000 \| 0\.10× \| higher \|/);
  assert.match(table, /\| watch fan-out \| server CPU \(ms \/ 1000 events\) \| 5\.6 \| 0\.5 \| 11\.20× \| lower \|/);
  assert.doesNotMatch(table, /latency/);
  assert.doesNotMatch(table, /req\/s/);
});
