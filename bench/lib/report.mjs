// Turns the runs of one bench into figures (median, min, max per server and metric, ratios of
// medians, targets of issue #6) and renders them as the markdown ratio table. Pure functions:
// the runner does the I/O.

/** The metrics shown per workload, and which direction is better for etcd-ts/etcd. */
export const metrics = [
  { key: 'requestsPerSecond', label: 'throughput (req/s)', better: 'higher', digits: 0 },
  { key: 'p50Ms', label: 'p50 latency (ms)', better: 'lower', digits: 3 },
  { key: 'p99Ms', label: 'p99 latency (ms)', better: 'lower', digits: 3 },
  { key: 'cpuMsPer1000Ops', label: 'server CPU (ms / 1000 ops)', better: 'lower', digits: 1 },
  { key: 'rssMiB', label: 'server RSS at end (MiB)', better: 'lower', digits: 1 },
];

/** The figures of the many-keys workload: one server loaded once, then restarted, compacted, defragmented. */
export const keysMetrics = [
  { key: 'requestsPerSecond', label: 'load throughput (puts/s)', better: 'higher', digits: 0 },
  { key: 'rssMiB', label: 'RSS after loading (MiB)', better: 'lower', digits: 1 },
  { key: 'startupMs', label: 'start-up on the loaded data dir (ms)', better: 'lower', digits: 0 },
  { key: 'rssAfterRestartMiB', label: 'RSS after restart (MiB)', better: 'lower', digits: 1 },
  { key: 'dataDirMiB', label: 'data-dir size after the puts (MiB)', better: 'lower', digits: 1 },
  { key: 'dataDirCompactedMiB', label: 'data-dir size after compaction + defrag (MiB)', better: 'lower', digits: 1 },
];

/** @param {{ metrics?: typeof metrics }} workload */
export const metricsOf = (workload) => workload.metrics ?? metrics;

/** @param {number[]} values */
export function spread(values) {
  const finite = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (finite.length === 0) return null;
  const middle = Math.floor(finite.length / 2);
  const median = finite.length % 2 === 1 ? finite[middle] : (finite[middle - 1] + finite[middle]) / 2;
  return { median, min: finite[0], max: finite[finite.length - 1], count: finite.length };
}

/** Ratio of medians; null when either side has no successful run. */
export function ratio(numerator, denominator) {
  if (!numerator || !denominator || denominator.median === 0) return null;
  return numerator.median / denominator.median;
}

/**
 * @param {{ id: string, servers: string[] }} workload
 * @param {Array<{ server: string, ok: boolean } & Record<string, any>>} runs runs of this workload
 */
export function summarizeWorkload(workload, runs) {
  /** @type {Record<string, Record<string, ReturnType<typeof spread>>>} */
  const byServer = {};
  for (const server of workload.servers) {
    const good = runs.filter((run) => run.server === server && run.ok);
    byServer[server] = Object.fromEntries(metricsOf(workload).map((metric) => [metric.key, spread(good.map((run) => run[metric.key]))]));
    byServer[server].failedRuns = /** @type {any} */ (runs.filter((run) => run.server === server && !run.ok).length);
  }
  const ratios = Object.fromEntries(
    metricsOf(workload).map((metric) => [metric.key, ratio(byServer['etcd-ts']?.[metric.key], byServer.etcd?.[metric.key])]),
  );
  const noopFraction = byServer.noop
    ? ratio(byServer['etcd-ts']?.requestsPerSecond, byServer.noop.requestsPerSecond)
    : null;
  return { byServer, ratios, noopFraction };
}

/**
 * Issue #6's targets that these workloads measure. Each check reads the summary of one workload.
 * @type {Array<{ workloadId: string, label: string, measure: (s: any) => number | null, atLeast?: number, atMost?: number }>}
 */
export const targets = [
  { workloadId: 'put-1-1', label: 'put 1/1 throughput ≥ 1.0× etcd', measure: (s) => s.ratios.requestsPerSecond, atLeast: 1.0 },
  { workloadId: 'range-l-1-1', label: 'range (linearizable) 1/1 throughput ≥ 1.0× etcd', measure: (s) => s.ratios.requestsPerSecond, atLeast: 1.0 },
  { workloadId: 'range-s-1-1', label: 'range (serializable) 1/1 throughput ≥ 1.0× etcd', measure: (s) => s.ratios.requestsPerSecond, atLeast: 1.0 },
  { workloadId: 'put-100-1000', label: 'put 100/1000 ≥ 0.6× no-op server', measure: (s) => s.noopFraction, atLeast: 0.6 },
  { workloadId: 'put-100-1000', label: 'put 100/1000 ≥ 0.5× etcd', measure: (s) => s.ratios.requestsPerSecond, atLeast: 0.5 },
  { workloadId: 'range-l-100-1000', label: 'range (linearizable) 100/1000 ≥ 0.8× no-op server', measure: (s) => s.noopFraction, atLeast: 0.8 },
  { workloadId: 'range-l-100-1000', label: 'range (linearizable) 100/1000 ≥ 0.5× etcd', measure: (s) => s.ratios.requestsPerSecond, atLeast: 0.5 },
  { workloadId: 'range-s-100-1000', label: 'range (serializable) 100/1000 ≥ 0.8× no-op server', measure: (s) => s.noopFraction, atLeast: 0.8 },
  { workloadId: 'range-s-100-1000', label: 'range (serializable) 100/1000 ≥ 0.5× etcd', measure: (s) => s.ratios.requestsPerSecond, atLeast: 0.5 },
  { workloadId: 'watch-latency', label: 'watch-latency p99 ≤ 1.0× etcd', measure: (s) => s.ratios.p99Ms, atMost: 1.0 },
  { workloadId: 'lease-keepalive', label: 'lease-keepalive throughput ≥ 0.8× etcd', measure: (s) => s.ratios.requestsPerSecond, atLeast: 0.8 },
  { workloadId: 'put-1-1-m3', label: 'put 1/1 throughput, 3 members, to the leader ≥ 1.0× etcd', measure: (s) => s.ratios.requestsPerSecond, atLeast: 1.0 },
  { workloadId: 'range-l-1-1-m3', label: 'range (linearizable) 1/1 throughput, 3 members, to a follower ≥ 1.0× etcd', measure: (s) => s.ratios.requestsPerSecond, atLeast: 1.0 },
  // The workloads run on 1 and 3 members; its other targets are read as holding on both.
  { workloadId: 'put-100-1000-leader-m3', label: 'put 100/1000, 3 members, to the leader ≥ 0.5× etcd', measure: (s) => s.ratios.requestsPerSecond, atLeast: 0.5 },
  { workloadId: 'put-100-1000-all-m3', label: 'put 100/1000, 3 members, to all ≥ 0.5× etcd', measure: (s) => s.ratios.requestsPerSecond, atLeast: 0.5 },
  { workloadId: 'range-l-100-1000-m3', label: 'range (linearizable) 100/1000, 3 members ≥ 0.5× etcd', measure: (s) => s.ratios.requestsPerSecond, atLeast: 0.5 },
  { workloadId: 'range-s-1-1-m3', label: 'range (serializable) 1/1 throughput, 3 members, to a follower ≥ 1.0× etcd', measure: (s) => s.ratios.requestsPerSecond, atLeast: 1.0 },
  { workloadId: 'range-s-100-1000-m3', label: 'range (serializable) 100/1000, 3 members ≥ 0.5× etcd', measure: (s) => s.ratios.requestsPerSecond, atLeast: 0.5 },
  { workloadId: 'watch-latency-m3', label: 'watch-latency p99, 3 members ≤ 1.0× etcd', measure: (s) => s.ratios.p99Ms, atMost: 1.0 },
  { workloadId: 'lease-keepalive-m3', label: 'lease-keepalive throughput, 3 members ≥ 0.8× etcd', measure: (s) => s.ratios.requestsPerSecond, atLeast: 0.8 },
  { workloadId: 'put-1-1-m3', label: 'server CPU per put (1/1), 3 members ≤ 1.5× etcd', measure: (s) => s.ratios.cpuMsPer1000Ops, atMost: 1.5 },
  { workloadId: 'put-100-1000-leader-m3', label: 'server CPU per put (100/1000), 3 members, to the leader ≤ 1.5× etcd', measure: (s) => s.ratios.cpuMsPer1000Ops, atMost: 1.5 },
  { workloadId: 'put-100-1000-all-m3', label: 'server CPU per put (100/1000), 3 members, to all ≤ 1.5× etcd', measure: (s) => s.ratios.cpuMsPer1000Ops, atMost: 1.5 },
  { workloadId: 'keys-1m', label: 'RSS with 1M keys ≤ 1.5× etcd', measure: (s) => s.ratios.rssMiB, atMost: 1.5 },
  { workloadId: 'keys-1m', label: 'start-up with 1M keys ≤ 2× etcd', measure: (s) => s.ratios.startupMs, atMost: 2.0 },
  { workloadId: 'keys-1m-m3', label: 'RSS with 1M keys, 3 members ≤ 1.5× etcd', measure: (s) => s.ratios.rssMiB, atMost: 1.5 },
  { workloadId: 'keys-1m-m3', label: 'start-up with 1M keys, 3 members ≤ 2× etcd', measure: (s) => s.ratios.startupMs, atMost: 2.0 },
  { workloadId: 'put-1-1', label: 'server CPU per put (1/1) ≤ 1.5× etcd', measure: (s) => s.ratios.cpuMsPer1000Ops, atMost: 1.5 },
  { workloadId: 'put-100-1000', label: 'server CPU per put (100/1000) ≤ 1.5× etcd', measure: (s) => s.ratios.cpuMsPer1000Ops, atMost: 1.5 },
];

export function evaluateTargets(summaries) {
  return targets.filter((target) => summaries[target.workloadId]).map((target) => {
    const summary = summaries[target.workloadId];
    const value = target.measure(summary);
    let met = null;
    if (value !== null && value !== undefined) {
      met = target.atLeast !== undefined ? value >= target.atLeast : value <= /** @type {number} */ (target.atMost);
    }
    return { label: target.label, workloadId: target.workloadId, value, met };
  });
}

function formatNumber(value, digits) {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function formatSpread(figure, digits) {
  if (!figure) return 'failed';
  if (figure.count === 1) return formatNumber(figure.median, digits);
  return `${formatNumber(figure.median, digits)} (${formatNumber(figure.min, digits)}–${formatNumber(figure.max, digits)})`;
}

const formatRatio = (value) => (value === null || value === undefined ? '—' : `${value.toFixed(2)}×`);

/**
 * A workload may leave out metrics (skipMetrics) and name one in its own unit (metricLabels: the
 * watch fan-out row counts events delivered, not requests).
 * @param {{ workloads: any[], summaries: Record<string, any>, pendingRows: string[], targetResults: any[] }} result
 */
export function renderRatioTable(result) {
  const lines = [];
  lines.push('| workload (conns/clients) | metric | etcd-ts median (min–max) | etcd median (min–max) | etcd-ts / etcd | better |');
  lines.push('|---|---|---:|---:|---:|---|');
  for (const workload of result.workloads) {
    const summary = result.summaries[workload.id];
    for (const metric of metricsOf(workload)) {
      if (workload.skipMetrics?.includes(metric.key)) continue;
      lines.push(
        `| ${workload.label} | ${workload.metricLabels?.[metric.key] ?? metric.label} | ${formatSpread(summary.byServer['etcd-ts'][metric.key], metric.digits)} | ` +
          `${formatSpread(summary.byServer.etcd[metric.key], metric.digits)} | ${formatRatio(summary.ratios[metric.key])} | ${metric.better} |`,
      );
    }
    const failed = workload.servers.map((server) => `${server} ${summary.byServer[server].failedRuns}`).filter((text) => !text.endsWith(' 0'));
    if (failed.length > 0) lines.push(`| ${workload.label} | failed runs | ${failed.join(', ')} | | | |`);
  }
  for (const pending of result.pendingRows) lines.push(`| ${pending} | not yet: needs multi-member | | | | |`);
  return lines.join('\n');
}

export function renderCeilingTable(result) {
  const lines = [];
  lines.push('| workload (conns/clients) | no-op server, etcd-ts transport, req/s | etcd-ts req/s | etcd req/s | etcd-ts / no-op | etcd / no-op |');
  lines.push('|---|---:|---:|---:|---:|---:|');
  for (const workload of result.workloads.filter((candidate) => candidate.servers.includes('noop'))) {
    const summary = result.summaries[workload.id];
    const noop = summary.byServer.noop.requestsPerSecond;
    lines.push(
      `| ${workload.label} | ${formatSpread(noop, 0)} | ${formatSpread(summary.byServer['etcd-ts'].requestsPerSecond, 0)} | ` +
        `${formatSpread(summary.byServer.etcd.requestsPerSecond, 0)} | ${formatRatio(summary.noopFraction)} | ` +
        `${formatRatio(ratio(summary.byServer.etcd.requestsPerSecond, noop))} |`,
    );
  }
  return lines.join('\n');
}

export function renderTargetTable(targetResults) {
  const lines = ['| target (issue #6) | measured | met |', '|---|---:|---|'];
  for (const target of targetResults) {
    const verdict = target.met === null ? 'no data' : target.met ? 'yes' : 'no';
    lines.push(`| ${target.label} | ${formatRatio(target.value)} | ${verdict} |`);
  }
  return lines.join('\n');
}
