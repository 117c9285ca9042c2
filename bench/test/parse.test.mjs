// Checks the readers of the benchmark tool's report and of /proc against text in the exact shapes
// the tool and the kernel print. Run: node --test bench/test/
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseBenchmarkReport, parseProcStatCpuTicks, parseProcStatusRssBytes, parseRangeCountJson } from '../lib/parse.mjs';

const report = [
  '\r 0 / 2000    0.00%\r 346 / 2000   17.30%\r 2000 / 2000  100.00% 1s',
  '',
  'Summary:',
  '  Total:\t1.0579 secs.',
  '  Slowest:\t0.0100 secs.',
  '  Requests/sec:\t1890.4543575215519',
  '',
  'Response time histogram:',
  '  0.0002 [1]\t|',
  '  0.0012 [1955]\t|∎∎∎∎',
  '',
  'Latency distribution:',
  '  10% in 0.000312 secs.',
  '  50% in 0.001550416 secs.',
  '  99% in 0.015950106 secs.',
  '  99.9% in 5.8e-05 secs.',
  '',
].join('\n');

test('reads throughput, total time and percentiles in milliseconds', () => {
  const parsed = parseBenchmarkReport(report);
  assert.equal(parsed.requestsPerSecond, 1890.4543575215519);
  assert.equal(parsed.totalSeconds, 1.0579);
  assert.ok(Math.abs(parsed.latencyMs.p50 - 1.550416) < 1e-9);
  assert.ok(Math.abs(parsed.latencyMs.p99 - 15.950106) < 1e-9);
  assert.ok(Math.abs(parsed.latencyMs['p99.9'] - 0.058) < 1e-9);
  assert.equal(parsed.errorCount, 0);
});

test('counts the error distribution and keeps samples', () => {
  const withErrors = report.replace('Latency distribution:', [
    'Error distribution:',
    '  [12]\trpc error: code = Unavailable desc = transport is closing',
    '  [3]\tcontext deadline exceeded',
    '',
    'Latency distribution:',
  ].join('\n'));
  const parsed = parseBenchmarkReport(withErrors);
  assert.equal(parsed.errorCount, 15);
  assert.deepEqual(parsed.errorSamples, ['rpc error: code = Unavailable desc = transport is closing', 'context deadline exceeded']);
  assert.ok(Math.abs(parsed.latencyMs.p50 - 1.550416) < 1e-9);
});

test('a report without throughput or percentiles is an error, not a zero', () => {
  assert.throws(() => parseBenchmarkReport('Summary:\n  Total:\t1.0 secs.\n'), /Requests\/sec/);
  assert.throws(() => parseBenchmarkReport('  Requests/sec:\t10.5\n  10% in 0.1 secs.\n'), /50%\/99%/);
});

// `watch` prints two reports; the bench reads the second (events received), never the first.
const watchOutput = [
  '\r 0 / 1000    0.00%\r 1000 / 1000  100.00% 0s',
  'Watch creation summary:',
  '',
  'Summary:',
  '  Total:\t0.110727155 secs.',
  '  Requests/sec:\t9031.208288517844',
  '',
  'Latency distribution:',
  '  10% in 0.000273035 secs.',
  '  50% in 0.000587263 secs.',
  '  99% in 0.00716944 secs.',
  '\r 0 / 1000000    0.00%\r 1000000 / 1000000  100.00% 0s',
  'Watch events received summary:',
  '',
  'Summary:',
  '  Total:\t0.613314028 secs.',
  '  Requests/sec:\t1.6304861039310843e+06',
  '',
  'Latency distribution:',
  '  50% in 5e-08 secs.',
  '  99% in 1.7e-07 secs.',
  '',
].join('\n');

test('reads the named report of a command that prints two', () => {
  const events = parseBenchmarkReport(watchOutput, { section: 'Watch events received summary:' });
  assert.equal(events.requestsPerSecond, 1630486.1039310843);
  assert.equal(events.totalSeconds, 0.613314028);
  assert.equal(events.latencyMs.p10, undefined, 'no figure of the creation report leaks into the events report');
  const creation = parseBenchmarkReport(watchOutput.slice(0, watchOutput.indexOf('\r 0 / 1000000')), { section: 'Watch creation summary:' });
  assert.equal(creation.requestsPerSecond, 9031.208288517844);
  assert.throws(() => parseBenchmarkReport(report, { section: 'Watch events received summary:' }), /no "Watch events received summary:" report/);
});

test('latency lines are required only where latency is read', () => {
  const withoutPercentiles = 'Watch events received summary:\n  Total:\t2.0 secs.\n  Requests/sec:\t500000\n';
  assert.throws(() => parseBenchmarkReport(withoutPercentiles, { section: 'Watch events received summary:' }), /50%\/99%/);
  assert.equal(parseBenchmarkReport(withoutPercentiles, { section: 'Watch events received summary:', latency: false }).requestsPerSecond, 500000);
});

test('reads utime+stime from a stat line whose command name holds spaces and parentheses', () => {
  const fields = ['S', '1', '2', '3', '0', '-1', '4194304', '100', '0', '0', '0', '961', '298', '0', '0', '20', '0', '11'];
  assert.equal(parseProcStatCpuTicks(`4242 (node (x) y) ${fields.join(' ')}`), 961 + 298);
  assert.throws(() => parseProcStatCpuTicks('4242 (node) S 1'), /unreadable/);
});

test('reads VmRSS in bytes', () => {
  assert.equal(parseProcStatusRssBytes('Name:\tnode\nVmHWM:\t  400000 kB\nVmRSS:\t  301736 kB\nThreads:\t11\n'), 301736 * 1024);
  assert.throws(() => parseProcStatusRssBytes('Name:\tnode\n'), /VmRSS/);
});

test('reads the head revision and the whole count of a limited range; ids beyond 2^53 are not parsed', () => {
  const stdout = '{"header":{"cluster_id":15118495548433857066,"member_id":13668033151171901709,"revision":1000001,"raft_term":2},' +
    '"kvs":[{"key":"AAAAAAAAAAA=","create_revision":2,"mod_revision":2,"version":1}],"more":true,"count":1000000}\n';
  assert.deepEqual(parseRangeCountJson(stdout), { revision: 1000001, count: 1000000 });
  // An empty range leaves count out (proto3 JSON) and has no kvs.
  assert.deepEqual(parseRangeCountJson('{"header":{"cluster_id":1,"member_id":2,"revision":1,"raft_term":2}}'), { revision: 1, count: 0 });
  assert.throws(() => parseRangeCountJson('Error: context deadline exceeded'), /no header revision/);
  assert.throws(() => parseRangeCountJson('{"header":{"revision":99999999999999999999}}'), /out of range/);
});
