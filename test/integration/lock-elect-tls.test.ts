// `etcdctl lock` and `etcdctl elect` over TLS (issue #5): the same scenario against an https etcd-ts
// and an https etcd 3.4 with the same certificates; the transcripts must be equal.
import { afterEach, describe, expect, it } from 'vitest';
import { type EtcdProcess, etcdctl, startEtcdTs, startRealEtcd } from '../helpers/index.js';
import { type CertPair, makeTestCa } from '../helpers/test-ca.js';

const running: EtcdProcess[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((member) => member.stop()));
});

describe('etcdctl lock and elect over TLS', () => {
  it('lock runs its command holding the lock; elect -l sees the proposal; same as etcd 3.4', async () => {
    const ca = makeTestCa();
    const operator: CertPair = ca.client('operator');
    const tls = [`--cacert=${ca.caFile}`, `--cert=${operator.certFile}`, `--key=${operator.keyFile}`];
    const serverFlags = [`--cert-file=${ca.server.certFile}`, `--key-file=${ca.server.keyFile}`, `--trusted-ca-file=${ca.caFile}`, '--client-cert-auth'];
    const options = { clientScheme: 'https' as const, extraArgs: serverFlags, healthCheckArgs: tls };

    const transcript = async (server: EtcdProcess): Promise<string[]> => {
      const lock = await etcdctl(server.clientUrl, [...tls, 'lock', 'tls-lock', 'echo', 'held'], { timeoutMs: 15_000 });
      const holderGone = await etcdctl(server.clientUrl, [...tls, 'get', '--prefix', 'tls-lock/', '-w', 'json'], { timeoutMs: 15_000 });
      // A campaign that stays leader until its process is stopped; `elect -l` observes it.
      const campaign = etcdctl(server.clientUrl, [...tls, 'elect', 'tls-election', 'proposal-1'], { timeoutMs: 4_000 });
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const observed = await etcdctl(server.clientUrl, [...tls, 'elect', '-l', 'tls-election'], { timeoutMs: 2_000 });
      await campaign;
      return [
        `lock: ${lock.exitCode} ${lock.stdout.trim()}`,
        `keys after unlock: ${(JSON.parse(holderGone.stdout) as { kvs?: unknown[] }).kvs?.length ?? 0}`,
        `elect -l: ${observed.stdout.split('\n').filter((line) => line.includes('proposal')).slice(0, 1).join('')}`,
      ];
    };

    const ours = await startEtcdTs(options);
    running.push(ours);
    const oursTranscript = await transcript(ours);
    const theirs = await startRealEtcd(options);
    running.push(theirs);
    const theirsTranscript = await transcript(theirs);

    expect(oursTranscript[0]).toBe('lock: 0 held');
    expect(oursTranscript[1]).toBe('keys after unlock: 0');
    expect(oursTranscript[2]).toBe('elect -l: proposal-1');
    expect(oursTranscript).toEqual(theirsTranscript);
  }, 90_000);
});
