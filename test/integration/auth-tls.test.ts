// The etcdctl auth scenario over TLS (issue #5), differential against the real etcd 3.4 started with
// the same flags and the same openssl-made certificates: (1) an https member, etcdctl with
// --cacert/--cert/--key and --user: user/role setup, auth enable, allowed put/get, a refused get
// with etcd's exact error, auth disable; without --client-cert-auth the certificate's CN is nobody.
// (2) With --client-cert-auth and no --user the certificate's CN is the user: CN=root does admin
// operations, CN=alice only what alice's role allows, a CN that names no user nothing; a --user
// token wins over the certificate.
import { afterEach, describe, expect, it } from 'vitest';
import { type EtcdProcess, etcdctl, startEtcdTs, startRealEtcd } from '../helpers/index.js';
import { type CertPair, type TestCa, makeTestCa } from '../helpers/test-ca.js';

const running: EtcdProcess[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((member) => member.stop()));
});

let testCa: TestCa | undefined;
function ca(): TestCa {
  testCa ??= makeTestCa();
  return testCa;
}

function clientTls(pair: CertPair): string[] {
  return [`--cacert=${ca().caFile}`, `--cert=${pair.certFile}`, `--key=${pair.keyFile}`];
}

/** Starts etcd-ts and etcd 3.4 on https with the same TLS flags, one after the other (2 shared cores). */
async function startBoth(tlsFlags: string[], healthCert: CertPair): Promise<{ ours: EtcdProcess; theirs: EtcdProcess }> {
  const options = { clientScheme: 'https' as const, extraArgs: [...tlsFlags, '--bcrypt-cost=4'], healthCheckArgs: clientTls(healthCert) };
  const ours = await startEtcdTs(options);
  running.push(ours);
  const theirs = await startRealEtcd(options);
  running.push(theirs);
  return { ours, theirs };
}

/** What a step shows: stdout, and from stderr only etcdctl's `Error:` lines (the rest are client logs with timestamps). */
async function run(clientUrl: string, args: string[]): Promise<string> {
  const result = await etcdctl(clientUrl, ['--dial-timeout=2s', '--command-timeout=5s', ...args], { timeoutMs: 15_000 });
  const errors = result.stderr.split('\n').filter((line) => line.startsWith('Error:'));
  return [result.stdout.trimEnd(), ...errors].filter((text) => text !== '').join('\n');
}

/** Runs every step on both servers; returns etcd-ts's transcript and the steps where the two differ. */
async function differential(ours: EtcdProcess, theirs: EtcdProcess, steps: string[][]): Promise<{ transcript: string[]; mismatches: string[] }> {
  const transcript: string[] = [];
  const mismatches: string[] = [];
  for (const args of steps) {
    const oursShows = await run(ours.clientUrl, args);
    const theirsShows = await run(theirs.clientUrl, args);
    transcript.push(oursShows);
    // Certificate paths are temp files: show the step by its meaning, not by its paths.
    const step = args.filter((arg) => !arg.startsWith('--cacert=') && !arg.startsWith('--key=')).join(' ').replace(/--cert=\S*client-/g, 'cert:');
    if (oursShows !== theirsShows) mismatches.push(`etcdctl ${step}\n  etcd-ts: ${JSON.stringify(oursShows)}\n  etcd:    ${JSON.stringify(theirsShows)}`);
  }
  return { transcript, mismatches };
}

const setupSteps = (tls: string[]): string[][] => [
  [...tls, 'user', 'add', 'root:rootpw'],
  [...tls, 'role', 'add', 'root'],
  [...tls, 'user', 'grant-role', 'root', 'root'],
  [...tls, 'role', 'add', 'app'],
  [...tls, 'role', 'grant-permission', '--prefix', 'app', 'readwrite', 'app/'],
  [...tls, 'user', 'add', 'alice:alicepw'],
  [...tls, 'user', 'grant-role', 'alice', 'app'],
  [...tls, 'role', 'get', 'app'],
  [...tls, 'auth', 'enable'],
];

const permissionDenied = 'Error: etcdserver: permission denied';

describe('etcdctl auth scenario over TLS, differential against etcd 3.4', () => {
  it('--cacert/--cert/--key with --user: setup, allowed put/get, refused get, auth disable (CN is no user without --client-cert-auth)', async () => {
    const operatorCert = ca().client('root');
    const tlsFlags = [`--cert-file=${ca().server.certFile}`, `--key-file=${ca().server.keyFile}`, `--trusted-ca-file=${ca().caFile}`];
    const { ours, theirs } = await startBoth(tlsFlags, operatorCert);
    expect(ours.clientUrl).toMatch(/^https:/);
    const tls = clientTls(operatorCert);
    const alice = [...tls, '--user', 'alice:alicepw'];
    const root = [...tls, '--user', 'root:rootpw'];
    const { transcript, mismatches } = await differential(ours, theirs, [
      ...setupSteps(tls),
      [...alice, 'put', 'app/1', 'v1'],
      [...alice, 'get', 'app/1'],
      [...root, 'put', 'secret', 's'],
      [...alice, 'get', 'secret'],
      [...alice, 'put', 'secret', 'stolen'],
      [...alice, 'get', '--prefix', 'app/'],
      // The certificate says CN=root, but without --client-cert-auth etcd does not take it as the user.
      [...tls, 'get', 'app/1'],
      [...tls, '--user', 'alice:wrong', 'get', 'app/1'],
      [...alice, 'auth', 'disable'],
      [...root, 'get', 'secret'],
      [...root, 'auth', 'disable'],
      [...tls, 'get', 'secret'],
      [...tls, 'user', 'list'],
    ]);
    expect(mismatches.join('\n')).toBe('');
    expect(transcript).toEqual([
      'User root created', 'Role root created', 'Role root is granted to user root', 'Role app created',
      'Role app updated', 'User alice created', 'Role app is granted to user alice',
      'Role app\nKV Read:\n\t[app/, app0) (prefix app/)\nKV Write:\n\t[app/, app0) (prefix app/)', 'Authentication Enabled',
      'OK', 'app/1\nv1', 'OK', permissionDenied, permissionDenied, 'app/1\nv1',
      'Error: etcdserver: user name is empty',
      'Error: etcdserver: authentication failed, invalid user ID or password',
      permissionDenied, 'secret\ns', 'Authentication Disabled', 'secret\ns', 'alice\nroot',
    ]);
  }, 120_000);

});

describe('--client-cert-auth and no --user: the certificate CN is the user, differential against etcd 3.4', () => {
  const tlsFlags = (): string[] => [
    `--cert-file=${ca().server.certFile}`, `--key-file=${ca().server.keyFile}`, `--trusted-ca-file=${ca().caFile}`, '--client-cert-auth',
  ];
  const asRoot = (): string[] => clientTls(ca().client('root'));
  const asAlice = (): string[] => clientTls(ca().client('alice'));
  const asMallory = (): string[] => clientTls(ca().client('mallory'));

  /** Both servers with --client-cert-auth, users and roles set up and auth enabled by the CN=root certificate. */
  async function startWithAuth(): Promise<{ ours: EtcdProcess; theirs: EtcdProcess }> {
    const both = await startBoth(tlsFlags(), ca().client('root'));
    const { transcript, mismatches } = await differential(both.ours, both.theirs, setupSteps(asRoot()));
    expect(mismatches.join('\n')).toBe('');
    expect(transcript.at(-1)).toBe('Authentication Enabled');
    return both;
  }

  it('keys: CN=root reads and writes anything, CN=alice only app/, a CN naming no user nothing; a --user token wins over the CN', async () => {
    const { ours, theirs } = await startWithAuth();
    const { transcript, mismatches } = await differential(ours, theirs, [
      [...asRoot(), 'put', 'secret', 's'],
      [...asAlice(), 'put', 'app/1', 'from-alice'],
      [...asAlice(), 'get', 'app/1'],
      [...asAlice(), 'get', 'secret'],
      [...asAlice(), 'put', 'secret', 'stolen'],
      [...asMallory(), 'get', 'app/1'],
      [...asMallory(), 'put', 'app/2', 'x'],
      // A token names the user when there is one: alice's certificate with root's password acts as root.
      [...asAlice(), '--user', 'root:rootpw', 'get', 'secret'],
      [...asRoot(), '--user', 'alice:alicepw', 'get', 'secret'],
      [...asRoot(), 'get', 'secret'],
      [...asRoot(), 'get', '--prefix', 'app/'],
    ]);
    expect(mismatches.join('\n')).toBe('');
    expect(transcript).toEqual([
      'OK', 'OK', 'app/1\nfrom-alice', permissionDenied, permissionDenied, permissionDenied, permissionDenied,
      'secret\ns', permissionDenied, 'secret\ns', 'app/1\nfrom-alice',
    ]);
  }, 120_000);

  // The Auth service identifies its caller as the KV path does: token, else the verified CN.
  it('auth management: CN=root lists users, adds a role and disables auth; CN=alice is refused all three', async () => {
    const { ours, theirs } = await startWithAuth();
    const { transcript, mismatches } = await differential(ours, theirs, [
      [...asRoot(), 'put', 'secret', 's'],
      [...asRoot(), 'user', 'list'],
      [...asRoot(), 'role', 'add', 'extra'],
      [...asAlice(), 'user', 'list'],
      [...asAlice(), 'role', 'add', 'mine'],
      [...asAlice(), 'auth', 'disable'],
      [...asRoot(), 'role', 'list'],
      [...asRoot(), 'auth', 'disable'],
      [...asAlice(), 'get', 'secret'],
    ]);
    expect(mismatches.join('\n')).toBe('');
    expect(transcript).toEqual([
      'OK', 'alice\nroot', 'Role extra created', permissionDenied, permissionDenied, permissionDenied,
      'app\nextra\nroot', 'Authentication Disabled', 'secret\ns',
    ]);
  }, 120_000);
});
