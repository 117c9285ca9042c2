// etcd-ts asks Linux for a short scheduling slice for its event loop's thread (src/scheduler-slice.ts).
// Checked from outside: the kernel's own account of the server's main thread, /proc/<pid>/sched.
// Where the kernel keeps no custom slices (before 6.12) or the addon was not built, the server must
// still start and say why in its log. etcd-ts only: etcd has no such setting.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, test } from 'vitest';
import { etcdctl, etcdTsBinPath, makeTempDir, repoRoot, startEtcdTs } from '../helpers/index.js';

const stops: Array<() => Promise<unknown>> = [];

afterAll(async () => {
  for (const stop of stops) await stop();
});

/** se.slice of a thread (ns), as the kernel reports it; undefined where the kernel has no such line. */
function sliceOf(pid: number): number | undefined {
  const match = /^se\.slice\s*:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/sched`, 'utf8'));
  return match ? Number(match[1]) : undefined;
}

/** Whether this machine can set a custom slice at all: the addon is built and the kernel keeps the value. */
function customSlicesWork(): boolean {
  const probe = "try { process.stdout.write(String(require('etcd-ts-sched-slice').setSlice(123000))) } catch { process.stdout.write('none') }";
  return execFileSync(process.execPath, ['-e', probe], { cwd: repoRoot, encoding: 'utf8' }) === '123000';
}

describe.runIf(process.platform === 'linux')('event loop scheduling slice (etcd-ts)', () => {
  const supported = customSlicesWork();

  test('the server\'s main thread runs with a 100 us slice, or the log says why not', async () => {
    const server = await startEtcdTs();
    stops.push(() => server.stop());
    if (supported) {
      expect(sliceOf(server.pid)).toBe(100_000);
      expect(server.output()).toContain('event loop scheduling slice set');
    } else {
      // No addon, an older kernel, a seccomp filter that refuses the call, or a real-time policy.
      expect(server.output()).toMatch(/sched-slice addon is not built|keeps no custom scheduling slice|could not set the event loop's scheduling slice|real-time or idle policy/);
    }
    expect((await etcdctl(server.clientUrl, ['put', 'sliced', 'yes'])).exitCode).toBe(0);
  }, 60_000);

  test.runIf(supported)('ETCD_TS_SCHED_SLICE_US sets another slice, and 0 leaves the kernel\'s default', async () => {
    const longer = await startEtcdTs({ env: { ETCD_TS_SCHED_SLICE_US: '2000' } });
    stops.push(() => longer.stop());
    expect(sliceOf(longer.pid)).toBe(2_000_000);
    const untouched = await startEtcdTs({ env: { ETCD_TS_SCHED_SLICE_US: '0' } });
    stops.push(() => untouched.stop());
    // This test's own process never asked: it runs with the kernel's default slice.
    expect(sliceOf(untouched.pid)).toBe(sliceOf(process.pid));
    expect(sliceOf(untouched.pid)).not.toBe(100_000);
  }, 60_000);

  test('a slice Linux cannot take stops the start with a clear error', () => {
    for (const value of ['50', '100001', '1ms', '-5']) {
      const result = spawnSync(process.execPath, [etcdTsBinPath, '--data-dir', `${makeTempDir('slice')}/d`], {
        env: { ...process.env, ETCD_TS_SCHED_SLICE_US: value }, encoding: 'utf8', timeout: 20_000,
      });
      expect(result.status).toBe(2);
      expect(result.stderr).toContain(`ETCD_TS_SCHED_SLICE_US=${value}: expected a slice in microseconds from 100 to 100000, or 0 for the kernel's default`);
    }
  }, 60_000);
});
