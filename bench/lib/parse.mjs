// Reads the text report that etcd's benchmark tool prints (pkg/report, run with --precise) into
// numbers: throughput, latency percentiles in milliseconds, and the error tally. A report without
// a throughput line is an error, never a zero: a missing figure must not look like a slow server.

const percentileLine = /^\s*([\d.]+)% in ([\d.eE+-]+) secs\.\s*$/;
const requestsLine = /^\s*Requests\/sec:\s*([\d.eE+-]+)\s*$/;
const totalLine = /^\s*Total:\s*([\d.eE+-]+) secs\.\s*$/;
const errorHeader = /^\s*Error distribution:\s*$/;
const errorLine = /^\s*\[(\d+)\]\s*(.*)$/;

/**
 * @param {string} output stdout of one `benchmark ...` run
 * @param {{ section?: string, latency?: boolean }} [options] section: the header line of the report
 *   to read, for a command that prints several (`watch` prints "Watch creation summary:", then
 *   "Watch events received summary:"); only the text after it is read, and a missing header is an
 *   error. latency: false when the report's latencies are not used (the tool leaves out a
 *   percentile line whose value is 0, which a report of sub-microsecond times may do).
 * @returns {{ requestsPerSecond: number, totalSeconds: number, latencyMs: Record<string, number>, errorCount: number, errorSamples: string[] }}
 */
export function parseBenchmarkReport(output, { section, latency = true } = {}) {
  let text = output;
  if (section !== undefined) {
    const start = output.indexOf(section);
    if (start < 0) throw new Error(`benchmark output has no "${section}" report: ${output.slice(-500)}`);
    text = output.slice(start + section.length);
  }
  let requestsPerSecond;
  let totalSeconds;
  /** @type {Record<string, number>} */
  const latencyMs = {};
  let errorCount = 0;
  /** @type {string[]} */
  const errorSamples = [];
  let inErrors = false;
  // The progress bar rewrites one line with carriage returns; only the text after the last one counts.
  for (const rawLine of text.split('\n')) {
    const line = rawLine.slice(rawLine.lastIndexOf('\r') + 1);
    if (errorHeader.test(line)) {
      inErrors = true;
      continue;
    }
    if (inErrors) {
      const match = errorLine.exec(line);
      if (match) {
        errorCount += Number(match[1]);
        if (errorSamples.length < 3) errorSamples.push(match[2].trim());
        continue;
      }
      inErrors = false;
    }
    let match = requestsLine.exec(line);
    if (match) {
      requestsPerSecond = Number(match[1]);
      continue;
    }
    match = totalLine.exec(line);
    if (match) {
      totalSeconds = Number(match[1]);
      continue;
    }
    match = percentileLine.exec(line);
    if (match) latencyMs[`p${match[1]}`] = Number(match[2]) * 1000;
  }
  if (requestsPerSecond === undefined || !Number.isFinite(requestsPerSecond)) {
    throw new Error(`benchmark report has no Requests/sec line: ${text.slice(-500)}`);
  }
  if (latency && (latencyMs.p50 === undefined || latencyMs.p99 === undefined)) {
    throw new Error(`benchmark report has no 50%/99% latency lines: ${text.slice(-500)}`);
  }
  return { requestsPerSecond, totalSeconds: totalSeconds ?? NaN, latencyMs, errorCount, errorSamples };
}

/** utime + stime of a process in clock ticks, from /proc/<pid>/stat (fields 14 and 15). */
export function parseProcStatCpuTicks(statText) {
  // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
  const afterName = statText.slice(statText.lastIndexOf(')') + 2).split(' ');
  // afterName[0] is field 3 (state), so field N is afterName[N - 3].
  const userTicks = Number(afterName[14 - 3]);
  const systemTicks = Number(afterName[15 - 3]);
  if (!Number.isInteger(userTicks) || !Number.isInteger(systemTicks)) {
    throw new Error(`unreadable /proc stat line: ${statText.slice(0, 200)}`);
  }
  return userTicks + systemTicks;
}

/** Resident set size in bytes from /proc/<pid>/status (VmRSS, reported in kB). */
export function parseProcStatusRssBytes(statusText) {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(statusText);
  if (!match) throw new Error('no VmRSS line in /proc status');
  return Number(match[1]) * 1024;
}

/**
 * Revision and count from `etcdctl get <key> --from-key --keys-only --limit=1 -w json` (etcdctl 3.4
 * has no --count-only; count is the whole range whatever the limit). The header's
 * cluster and member ids exceed 2^53 and are not read; revision and count fit a number.
 * @returns {{ revision: number, count: number }}
 */
export function parseRangeCountJson(stdout) {
  const revision = /"header":\{[^}]*"revision":(\d+)/.exec(stdout)?.[1];
  if (revision === undefined) throw new Error(`no header revision in etcdctl output: ${stdout.slice(0, 300)}`);
  // proto3 JSON leaves out a zero count.
  const count = /"count":(\d+)/.exec(stdout)?.[1] ?? '0';
  const parsed = { revision: Number(revision), count: Number(count) };
  if (!Number.isSafeInteger(parsed.revision) || !Number.isSafeInteger(parsed.count)) {
    throw new Error(`revision or count out of range in etcdctl output: ${stdout.slice(0, 300)}`);
  }
  return parsed;
}
