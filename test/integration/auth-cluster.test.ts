// Auth tokens across the members of a 3-member cluster (issue #5): a token that alice obtained from
// one member (gRPC Authenticate, and the JSON gateway's /v3/auth/authenticate) is accepted by the
// other members for a range and a put, keeps working after the leader is killed -9 and a new one is
// elected (and on the old leader once it is back), and is refused by every member once alice's
// password changes. Proved for simple tokens and for RS256 JWT tokens; the real etcd 3.4 is run to
// record what it does with a simple token on another member (refused: the documented improvement).
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type CallResult, type GatewayResult, MemberGrpcClient, gatewayAuthenticate, gatewayPut, gatewayRange, gatewayValues, rangeValues,
} from '../helpers/auth-clients.js';
import { type ClusterMember, TestCluster, makeTempDir, sleep } from '../helpers/index.js';

/** bcrypt at its minimum: the tests are about tokens, not hashing time on a shared 2-core machine. */
const fastHashArgs = ['--bcrypt-cost=4'];
/** How long a follower may take to apply the password change before its refusal is late. */
const applyLagMs = 5000;

let cluster: TestCluster | undefined;
const clients: MemberGrpcClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await cluster?.close();
  cluster = undefined;
});

async function ctlOk(member: ClusterMember, args: string[]): Promise<void> {
  if (!cluster) throw new Error('no cluster');
  const result = await cluster.ctl(member, args, 10);
  if (result.exitCode !== 0) throw new Error(`etcdctl ${args.join(' ')}: ${result.stdout}${result.stderr}\n${cluster.outputs()}`);
}

/** root with the root role, alice with readwrite on the prefix app/ only, auth on. */
async function enableAuth(member: ClusterMember): Promise<void> {
  for (const args of [
    ['user', 'add', 'root:rootpw'], ['role', 'add', 'root'], ['user', 'grant-role', 'root', 'root'],
    ['role', 'add', 'app'], ['role', 'grant-permission', '--prefix', 'app', 'readwrite', 'app/'],
    ['user', 'add', 'alice:alicepw'], ['user', 'grant-role', 'alice', 'app'], ['auth', 'enable'],
  ]) await ctlOk(member, args);
  if (cluster) cluster.ctlArgs = ['--user=root:rootpw'];
}

function client(member: ClusterMember): MemberGrpcClient {
  const made = new MemberGrpcClient(member.clientUrl);
  clients.push(made);
  return made;
}

function tokenOf(result: CallResult): string {
  if (!result.ok) throw new Error(`authenticate refused: ${result.code} ${result.details}`);
  const token = result.response.token;
  if (typeof token !== 'string' || token === '') throw new Error(`authenticate gave no token: ${JSON.stringify(result.response)}`);
  return token;
}

function gatewayTokenOf(result: GatewayResult): string {
  const token = result.body.token;
  if (result.status !== 200 || typeof token !== 'string' || token === '') throw new Error(`gateway authenticate: ${result.status} ${JSON.stringify(result.body)}`);
  return token;
}

interface Tokens { grpc: string; gateway: string }

/** alice's tokens from `issuer`, one through each API. */
async function aliceTokens(issuer: ClusterMember, password = 'alicepw'): Promise<Tokens> {
  return {
    grpc: tokenOf(await client(issuer).authenticate('alice', password)),
    gateway: gatewayTokenOf(await gatewayAuthenticate(issuer.clientUrl, 'alice', password)),
  };
}

/**
 * On `member`, with alice's tokens: a put and a range inside app/ succeed through both APIs (the
 * range reads back the put, so the put really happened there), and a put outside app/ is
 * "permission denied" (the token stands for alice, it is not ignored).
 */
async function expectAcceptedOn(member: ClusterMember, tokens: Tokens, tag: string): Promise<void> {
  const grpcClient = client(member);
  const key = `app/${tag}/${member.name}`;
  const put = await grpcClient.put(key, `grpc-${tag}`, tokens.grpc);
  expect(put, `${member.name} gRPC put`).toMatchObject({ ok: true });
  expect(rangeValues(await grpcClient.range(key, tokens.grpc))).toEqual([`grpc-${tag}`]);
  const outside = await grpcClient.put(`other/${tag}`, 'x', tokens.grpc);
  expect(outside).toEqual({ ok: false, code: 7, details: 'etcdserver: permission denied' });

  const gatewayKey = `${key}/gw`;
  const gatewayPutResult = await gatewayPut(member.clientUrl, gatewayKey, `gw-${tag}`, tokens.gateway);
  expect(gatewayPutResult.status, `${member.name} gateway put ${JSON.stringify(gatewayPutResult.body)}`).toBe(200);
  expect(gatewayValues(await gatewayRange(member.clientUrl, gatewayKey, tokens.gateway))).toEqual([`gw-${tag}`]);
  // The gRPC token on the gateway and the gateway token on gRPC: one token, whatever the API.
  expect(gatewayValues(await gatewayRange(member.clientUrl, key, tokens.grpc))).toEqual([`grpc-${tag}`]);
  expect(rangeValues(await grpcClient.range(gatewayKey, tokens.gateway))).toEqual([`gw-${tag}`]);
}

/** Polls until `member` refuses both tokens for a range and a put, then checks nothing was written. */
/** How a member refuses a token: gRPC code and message, and the gateway's HTTP status for that code. */
interface Refusal { code: number; details: string; httpStatus: number }
/** Simple tokens of a user whose password changed are gone (etcd drops them at the change). */
const invalidToken: Refusal = { code: 16, details: 'etcdserver: invalid auth token', httpStatus: 401 };
/** A JWT cannot be dropped: it names the auth revision it was issued at, and any auth change makes it old (etcd 3.4 the same). */
const oldRevision: Refusal = { code: 3, details: 'etcdserver: revision of auth store is old', httpStatus: 400 };

async function expectRefusedOn(member: ClusterMember, tokens: Tokens, refusal: Refusal): Promise<void> {
  const grpcClient = client(member);
  const key = `app/refused/${member.name}`;
  const deadline = Date.now() + applyLagMs;
  let range = await grpcClient.range('app/', tokens.grpc);
  while (range.ok && Date.now() < deadline) {
    await sleep(100);
    range = await grpcClient.range('app/', tokens.grpc);
  }
  const grpcRefusal = { ok: false, code: refusal.code, details: refusal.details };
  expect(range, `${member.name} gRPC range with the old token`).toEqual(grpcRefusal);
  expect(await grpcClient.put(key, 'must-not-land', tokens.grpc)).toEqual(grpcRefusal);
  const gatewayRefusal = { error: refusal.details, message: refusal.details, code: refusal.code };
  const gatewayRangeResult = await gatewayRange(member.clientUrl, 'app/', tokens.gateway);
  expect(gatewayRangeResult.status).toBe(refusal.httpStatus);
  expect(gatewayRangeResult.body).toEqual(gatewayRefusal);
  const gatewayPutResult = await gatewayPut(member.clientUrl, `${key}/gw`, 'must-not-land', tokens.gateway);
  expect(gatewayPutResult.status).toBe(refusal.httpStatus);
  expect(gatewayPutResult.body).toEqual(gatewayRefusal);
}

/** The whole proof on a started 3-member etcd-ts cluster; `refusedDetails` is the error after the password change. */
async function proveTokensAcrossMembers(running: TestCluster, refusal: Refusal): Promise<void> {
  const [first] = running.members;
  if (!first) throw new Error('empty cluster');
  await enableAuth(first);
  const leader = await running.waitLeader();
  // The issuer is a follower, so the token also has to survive the death of a member it never met.
  const issuer = running.members.find((member) => member !== leader);
  if (!issuer) throw new Error('no follower');
  const tokens = await aliceTokens(issuer);
  for (const member of running.members) await expectAcceptedOn(member, tokens, 'before');

  await running.kill(leader);
  const survivors = running.members.filter((member) => member !== leader);
  const newLeader = await running.waitLeader(survivors);
  expect(newLeader).not.toBe(leader);
  for (const member of survivors) await expectAcceptedOn(member, tokens, 'after');
  await running.restart(leader);
  await expectAcceptedOn(leader, tokens, 'restarted');

  // The password changes through a third member, with root's own token (root can do it, alice not).
  const changer = running.members.find((member) => member !== issuer && member !== newLeader) ?? leader;
  const aliceTriesFirst = await gatewayChangeAlicePassword(changer, tokens.gateway);
  expect(aliceTriesFirst.status).toBe(403);
  expect(aliceTriesFirst.body).toMatchObject({ error: 'etcdserver: permission denied', code: 7 });
  const rootToken = tokenOf(await client(changer).authenticate('root', 'rootpw'));
  const changed = await gatewayChangeAlicePassword(changer, rootToken);
  expect(changed.status, JSON.stringify(changed.body)).toBe(200);

  for (const member of running.members) await expectRefusedOn(member, tokens, refusal);
  // The new password gives a new token that works on yet another member; the refused puts wrote nothing.
  const renewed = await aliceTokens(issuer, 'newpw');
  const reader = client(newLeader);
  const listed = await reader.range('app/refused/', renewed.grpc);
  expect(listed).toMatchObject({ ok: true });
  expect(rangeValues(listed)).toEqual([]);
  const fromPrefix = await reader.put('app/renewed', 'yes', renewed.grpc);
  expect(fromPrefix).toMatchObject({ ok: true });
  expect(await client(issuer).authenticate('alice', 'alicepw')).toEqual({ ok: false, code: 3, details: 'etcdserver: authentication failed, invalid user ID or password' });
}

/** POST /v3/auth/user/changepw for alice on `member` with `token`. */
async function gatewayChangeAlicePassword(member: ClusterMember, token: string): Promise<GatewayResult> {
  const response = await fetch(`${member.clientUrl}/v3/auth/user/changepw`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: token },
    body: JSON.stringify({ name: 'alice', password: 'newpw' }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

describe('auth tokens across the members of a 3-member etcd-ts cluster', () => {
  it('a simple token from one member works on every member, before and after a leader change, until the password changes', async () => {
    cluster = await TestCluster.start({ size: 3, kind: 'etcd-ts', extraArgs: [...fastHashArgs] });
    await proveTokensAcrossMembers(cluster, invalidToken);
  }, 120_000);

  it('an RS256 JWT from one member works on every member, before and after a leader change, until the password changes', async () => {
    const keyDir = makeTempDir('auth-jwt-keys');
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const publicKeyFile = join(keyDir, 'jwt.pub.pem');
    const privateKeyFile = join(keyDir, 'jwt.priv.pem');
    writeFileSync(publicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(privateKeyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    cluster = await TestCluster.start({
      size: 3, kind: 'etcd-ts',
      extraArgs: [...fastHashArgs, `--auth-token=jwt,pub-key=${publicKeyFile},priv-key=${privateKeyFile},sign-method=RS256,ttl=5m`],
    });
    await proveTokensAcrossMembers(cluster, oldRevision);
    // It really is a JWT signed with RS256 (three base64url parts, alg in the header), not a simple token.
    const token = tokenOf(await client(cluster.members[0]!).authenticate('root', 'rootpw'));
    const [header] = token.split('.');
    expect(token.split('.')).toHaveLength(3);
    expect(JSON.parse(Buffer.from(header ?? '', 'base64url').toString('utf8'))).toMatchObject({ alg: 'RS256' });
  }, 120_000);
});

describe('the real etcd 3.4, for the record', () => {
  // The brief expected etcd 3.4 to refuse a simple token on a member other than its issuer. Checked
  // here, it does not: Authenticate goes through the Raft log and every member records the token
  // in memory as it applies the entry, so another member accepts it, and a member killed -9 and
  // restarted may accept it again (it replays the entry from its WAL; see below). So accepting tokens on every
  // member is parity with etcd 3.4 here, not an improvement; where etcd's in-memory tokens do differ
  // (each member runs its own TTL clock, and a member that caught up by snapshot never applied the
  // entry) is not covered by this test.
  it('accepts a simple token on another member; after that member is killed -9 and restarted it answers with the value or invalid auth token', async () => {
    cluster = await TestCluster.start({ size: 3, kind: 'etcd', extraArgs: [...fastHashArgs] });
    const [issuer, other] = cluster.members;
    if (!issuer || !other) throw new Error('members missing');
    await enableAuth(issuer);
    const token = tokenOf(await client(issuer).authenticate('alice', 'alicepw'));
    expect(await client(issuer).put('app/on-issuer', 'yes', token)).toMatchObject({ ok: true });
    expect(rangeValues(await client(other).range('app/on-issuer', token))).toEqual(['yes']);
    expect(await client(other).put('app/on-other', 'yes', token)).toMatchObject({ ok: true });
    const gateway = await gatewayRange(other.clientUrl, 'app/on-issuer', token);
    expect(gatewayValues(gateway)).toEqual(['yes']);
    // A made-up token of the same shape is refused there: the member really checks.
    const invalid = { ok: false, code: 16, details: 'etcdserver: invalid auth token' };
    expect(await client(other).range('app/on-issuer', 'abcdefghijklmnop.1')).toEqual(invalid);

    await cluster.kill(other);
    await cluster.restart(other);
    await cluster.waitLeader();
    // Whether the restarted member knows the token again depends on timing inside etcd: it re-applies
    // the Authenticate entry from its WAL after it has started answering, and in some runs (two CI
    // runs of 2026-11-26, on a loaded machine) it still refused the token 15 s later. So the record
    // is: it answers, either with the value or with etcd's "invalid auth token", nothing else; a
    // client of etcd 3.4 must be ready to authenticate again after a member restarts.
    let afterRestart = await client(other).range('app/on-other', token);
    for (const deadline = Date.now() + 15_000; !afterRestart.ok && Date.now() < deadline;) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      afterRestart = await client(other).range('app/on-other', token);
    }
    if (afterRestart.ok) expect(rangeValues(afterRestart)).toEqual(['yes']);
    else expect(afterRestart).toEqual({ ok: false, code: 16, details: 'etcdserver: invalid auth token' });
  }, 120_000);
});
