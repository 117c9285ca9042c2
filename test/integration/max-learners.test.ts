// The learner limit: one learner at a time by default (etcd 3.4 hard-codes it; 3.5's
// --experimental-max-learners, 3.6's --max-learners raise it). The learners added here never start:
// adding one does not change the quorum. Default case against etcd-ts, or a real etcd 3.4 with
// COMPAT_SELF_CHECK=1; the flag only against etcd-ts (etcd 3.4 has no such flag).
import { afterEach, describe, expect, test } from 'vitest';
import { etcdctl, freePort, selfCheck, startServerUnderTest, type EtcdProcess } from '../helpers/index.js';

let server: EtcdProcess | undefined;

afterEach(async () => {
  await server?.stop();
  server = undefined;
});

async function addLearner(name: string): Promise<{ exitCode: number | null; stderr: string }> {
  return etcdctl(server!.clientUrl, ['member', 'add', name, `--peer-urls=http://127.0.0.1:${await freePort()}`, '--learner']);
}

describe(`learner limit (${selfCheck ? 'real etcd' : 'etcd-ts'})`, () => {
  test('a second learner is refused with etcd\'s error', async () => {
    server = await startServerUnderTest();
    expect((await addLearner('l1')).exitCode).toBe(0);
    const second = await addLearner('l2');
    expect(second.exitCode).not.toBe(0);
    expect(second.stderr).toContain('etcdserver: too many learner members in cluster');
  }, 60_000);

  test.skipIf(selfCheck)('--experimental-max-learners=2 lets a second one in, not a third', async () => {
    server = await startServerUnderTest({ extraArgs: ['--experimental-max-learners=2'] });
    expect((await addLearner('l1')).exitCode).toBe(0);
    expect((await addLearner('l2')).exitCode).toBe(0);
    expect((await addLearner('l3')).stderr).toContain('etcdserver: too many learner members in cluster');
    // The flag is honoured, so the server does not call it unimplemented.
    expect(server.output()).not.toContain('not implemented yet');
  }, 60_000);
});
