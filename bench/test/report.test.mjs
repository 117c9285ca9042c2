// Checks the figures the bench reports: medians with min–max, ratios of medians, target verdicts
// and the rendered table. Run: node --test bench/test/
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateTargets, renderCeilingTable, renderRatioTable, spread, summarizeWorkload } from '../lib/report.mjs';

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
