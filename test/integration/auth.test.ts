// Auth end to end with the real etcdctl 3.4: the same user/role/permission/auth session against
// etcd-ts (in-process server, gRPC on 127.0.0.1) and a real etcd 3.4, outputs compared line by
// line; then a permission matrix on etcd-ts (allowed succeeds, refused gets etcd's exact error and
// changes nothing) and watch creation on an unreadable range.
import type { Server } from '@grpc/grpc-js';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindGrpcServer, createGrpcServer, registerAuthService } from '../../src/api/grpc/index.js';
import { EtcdServer, type EtcdServerConfig } from '../../src/server/etcd-server.js';
import type { WatchStreamResponse } from '../../src/watch/types.js';
import { type EtcdProcess, etcdctl, makeTempDir, startRealEtcd } from '../helpers/index.js';
import { inProcessServerConfig } from '../helpers/in-process-server.js';

const logger = pino({ level: 'silent' });

function config(dataDir: string): EtcdServerConfig {
  return inProcessServerConfig(dataDir, { etcdVersion: '3.4.23', auth: { tokenSpec: 'simple', tokenTtlSeconds: 300, bcryptCost: 4 } });
}

let server: EtcdServer;
let grpcServer: Server;
let endpoint: string;
let real: EtcdProcess;

beforeAll(async () => {
  server = await EtcdServer.start(config(makeTempDir('auth-it')), logger);
  await server.waitReady(10_000);
  grpcServer = createGrpcServer({ server, maxRequestBytes: 1572864, logger });
  registerAuthService(grpcServer, server.auth, logger);
  endpoint = `127.0.0.1:${await bindGrpcServer(grpcServer, '127.0.0.1', 0)}`;
  real = await startRealEtcd();
}, 60_000);

afterAll(async () => {
  grpcServer?.forceShutdown();
  await server?.stop();
  await real?.stop();
});

/** What a session line shows: stdout, and from stderr only etcdctl's `Error:` lines (the rest are client logs with timestamps). */
async function run(target: string, args: string[], input?: string): Promise<string> {
  const result = await etcdctl(target, args, input === undefined ? {} : { input });
  const errors = result.stderr.split('\n').filter((line) => line.startsWith('Error:'));
  return [result.stdout.trimEnd(), ...errors].filter((text) => text !== '').join('\n');
}

const root = ['--user', 'root:rootpw'];
const u1 = ['--user', 'u1:pw2'];

const session: Array<{ args: string[]; input?: string }> = [
  { args: ['user', 'add', 'root:rootpw'] },
  { args: ['role', 'add', 'root'] },
  { args: ['user', 'grant-role', 'root', 'root'] },
  { args: ['user', 'grant-role', 'root', 'root'] },
  { args: ['role', 'get', 'root'] },
  { args: ['role', 'add', 'r1'] },
  { args: ['role', 'add', 'r1'] },
  { args: ['role', 'grant-permission', 'r1', 'read', 'a'] },
  { args: ['role', 'grant-permission', 'r1', 'readwrite', 'b', 'c'] },
  { args: ['role', 'grant-permission', '--prefix', 'r1', 'write', 'p/'] },
  { args: ['role', 'grant-permission', '--from-key', 'r1', 'read', 'z'] },
  { args: ['role', 'get', 'r1'] },
  { args: ['role', 'revoke-permission', 'r1', 'q'] },
  { args: ['role', 'get', 'nosuch'] },
  { args: ['user', 'add', 'u1:pw'] },
  { args: ['user', 'add', 'u1:pw'] },
  { args: ['user', 'grant-role', 'u1', 'r1'] },
  { args: ['user', 'grant-role', 'u1', 'nosuch'] },
  { args: ['user', 'revoke-role', 'u1', 'root'] },
  { args: ['user', 'passwd', 'u1', '--interactive=false'], input: 'pw2\n' },
  { args: ['user', 'get', 'u1'] },
  { args: ['user', 'get', 'nobody'] },
  { args: ['user', 'list'] },
  { args: ['role', 'list'] },
  { args: ['auth', 'enable'] },
  { args: ['put', 'a', '1'] },
  { args: [...u1, 'put', 'a', '1'] },
  { args: ['--user', 'u1:pw', 'get', 'a'] },
  { args: [...root, 'put', 'a', 'root-wrote'] },
  { args: [...u1, 'get', 'a'] },
  { args: [...u1, 'put', 'b', 'x'] },
  { args: [...u1, 'get', 'b'] },
  { args: [...u1, 'put', 'p/1', 'v'] },
  { args: [...u1, 'get', 'p/1'] },
  { args: [...u1, 'get', '--prefix', 'p/'] },
  { args: [...u1, 'get', '--from-key', 'z'] },
  { args: [...u1, 'get', '--from-key', 'y'] },
  { args: [...u1, 'txn'], input: 'value("b") = "x"\n\nput b y\n\nput a no\n\n' },
  { args: [...u1, 'txn'], input: 'value("b") = "y"\n\nput a no\n\nput b z\n\n' },
  { args: [...u1, 'del', 'b'] },
  { args: [...root, 'user', 'delete', 'root'] },
  { args: [...root, 'user', 'revoke-role', 'root', 'root'] },
  { args: [...root, 'role', 'delete', 'root'] },
  { args: [...u1, 'user', 'list'] },
  { args: [...u1, 'role', 'add', 'r2'] },
  { args: [...root, 'role', 'revoke-permission', 'r1', 'b', 'c'] },
  { args: [...u1, 'put', 'b', 'again'] },
  { args: [...root, 'user', 'revoke-role', 'u1', 'r1'] },
  { args: [...u1, 'get', 'a'] },
  { args: [...root, 'get', 'b'] },
  { args: [...root, 'auth', 'disable'] },
  { args: ['auth', 'disable'] },
  { args: ['get', 'a'] },
  { args: ['user', 'delete', 'u1'] },
  { args: ['user', 'delete', 'u1'] },
  { args: ['role', 'delete', 'r1'] },
  { args: ['user', 'delete', 'root'] },
  { args: ['role', 'delete', 'root'] },
  { args: ['user', 'list'] },
  { args: ['role', 'list'] },
];

describe('etcdctl auth session, differential against etcd 3.4', () => {
  it('prints the same output and errors at every step', async () => {
    const mismatches: string[] = [];
    const transcript: string[] = [];
    for (const step of session) {
      const [ours, theirs] = [await run(endpoint, step.args, step.input), await run(real.clientUrl, step.args, step.input)];
      transcript.push(ours);
      if (ours !== theirs) mismatches.push(`etcdctl ${step.args.join(' ')}\n  etcd-ts: ${JSON.stringify(ours)}\n  etcd:    ${JSON.stringify(theirs)}`);
    }
    expect(mismatches.join('\n')).toBe('');
    // The session really exercised the rules (not two empty transcripts agreeing).
    const text = transcript.join('\n');
    for (const expected of [
      'Role r1\nKV Read:\n\ta\n\t[b, c) (prefix b)\n\t[z, <open ended>', 'Error: etcdserver: user name is empty',
      'Error: etcdserver: authentication failed, invalid user ID or password', 'Error: etcdserver: invalid auth management',
      'Error: etcdserver: role is not granted to the user', 'Error: etcdserver: permission is not granted to the role',
      'Error: etcdserver: user name already exists', 'Error: etcdserver: role name not found', 'b\nx', 'Password updated',
    ]) expect(text).toContain(expected);
    expect(text.split('Error: etcdserver: permission denied').length - 1).toBeGreaterThanOrEqual(6);
  }, 120_000);
});

describe('permission matrix on etcd-ts', () => {
  beforeAll(async () => {
    for (const args of [
      ['user', 'add', 'root:rootpw'], ['user', 'grant-role', 'root', 'root'],
      ['role', 'add', 'rw'], ['role', 'grant-permission', '--prefix', 'rw', 'readwrite', 'ok/'],
      ['user', 'add', 'alice:apw'], ['user', 'grant-role', 'alice', 'rw'],
      ['put', 'ok/1', 'v1'], ['put', 'no/1', 'v1'], ['auth', 'enable'],
    ]) {
      const result = await etcdctl(endpoint, args);
      expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).toBe(0);
    }
  }, 60_000);

  afterAll(async () => {
    await etcdctl(endpoint, [...root, 'auth', 'disable']);
  });

  const alice = ['--user', 'alice:apw'];
  const denied = 'Error: etcdserver: permission denied';
  // [what, etcdctl args as alice, expected: 'ok' or the exact error line]
  const matrix: Array<[string, string[], string]> = [
    ['Range allowed', ['get', 'ok/1'], 'ok'],
    ['Range refused', ['get', 'no/1'], denied],
    ['Range over both', ['get', '--prefix', ''], denied],
    ['Put allowed', ['put', 'ok/2', 'v'], 'ok'],
    ['Put refused', ['put', 'no/1', 'changed'], denied],
    ['Put prev_kv refused', ['put', '--prev-kv', 'no/1', 'changed'], denied],
    ['DeleteRange allowed', ['del', 'ok/2'], 'ok'],
    ['DeleteRange refused', ['del', 'no/1'], denied],
    ['Txn refused op in the branch not taken', ['txn'], denied],
    ['Compact (admin)', ['compaction', '1'], denied],
    ['Alarm (admin)', ['alarm', 'list'], denied],
    ['Status (admin)', ['endpoint', 'status'], 'Error: etcdserver: permission denied'],
    ['Defragment (admin)', ['defrag'], denied],
    ['HashKV (admin)', ['endpoint', 'hashkv'], 'Error: etcdserver: permission denied'],
    ['MemberAdd (admin)', ['member', 'add', 'x', '--peer-urls=http://127.0.0.1:1'], denied],
    ['MemberList (open)', ['member', 'list'], 'ok'],
    ['LeaseGrant (open)', ['lease', 'grant', '100'], 'ok'],
    ['UserAdd (root only)', ['user', 'add', 'mallory:x'], denied],
    ['RoleGrantPermission (root only)', ['role', 'grant-permission', 'rw', 'readwrite', 'no/1'], denied],
    ['AuthDisable (root only)', ['auth', 'disable'], denied],
  ];

  it.each(matrix)('%s', async (_what, args, expected) => {
    const before = await run(endpoint, [...root, 'get', '--prefix', '', '-w', 'json']);
    const input = args[0] === 'txn' ? 'value("ok/1") = "nomatch"\n\nput ok/3 v\n\nput no/1 changed\n\n' : undefined;
    const result = await etcdctl(endpoint, [...alice, ...args], input === undefined ? {} : { input });
    if (expected === 'ok') {
      expect(result.exitCode, result.stderr).toBe(0);
      return;
    }
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain(expected.replace(/^Error: /, ''));
    // The refused request changed nothing (same keys, values and revision).
    expect(await run(endpoint, [...root, 'get', '--prefix', '', '-w', 'json'])).toBe(before);
  }, 30_000);

  it('root may do what alice may not; a request without a token gets "user name is empty"', async () => {
    expect((await etcdctl(endpoint, [...root, 'put', 'no/1', 'by-root'])).exitCode).toBe(0);
    expect((await etcdctl(endpoint, [...root, 'endpoint', 'status'])).exitCode).toBe(0);
    const anonymous = await etcdctl(endpoint, ['get', 'ok/1']);
    expect(anonymous.stderr).toContain('Error: etcdserver: user name is empty');
  });

  it('a made-up token is "invalid auth token", a watch on an unreadable range is created and canceled', async () => {
    await expect(server.range({ key: Buffer.from('ok/1'), rangeEnd: Buffer.alloc(0), limit: 0, revision: 0, sortOrder: 0, sortTarget: 0, serializable: false, keysOnly: false, countOnly: false, minModRevision: 0, maxModRevision: 0, minCreateRevision: 0, maxCreateRevision: 0 }, { token: 'abcdefghijklmnop.12' }))
      .rejects.toThrow('etcdserver: invalid auth token');
    const { token } = await server.auth.authenticate('alice', 'apw');
    const sent: WatchStreamResponse[] = [];
    const stream = server.openWatchStream((response) => { sent.push(response); return true; }, { token });
    const watch = { rangeEnd: Buffer.alloc(0), startRevision: 0, progressNotify: false, filters: [], prevKv: false, watchId: 0, fragment: false };
    stream.create({ ...watch, key: Buffer.from('no/1') });
    stream.create({ ...watch, key: Buffer.from('ok/1') });
    await new Promise((resolve) => setTimeout(resolve, 50));
    stream.close();
    expect(sent[0]).toMatchObject({ watchId: -1, created: true, canceled: true, cancelReason: 'etcdserver: permission denied' });
    expect(sent[1]).toMatchObject({ created: true, canceled: false });
  });
});
