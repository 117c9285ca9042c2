// The Lock and Election services with real processes: etcdctl 3.4's `lock` and `elect` (Go's
// client-side concurrency package) against the server under test, side by side with a real etcd
// 3.4 where the outputs are comparable, and interoperating with our server-side Lock/Campaign RPCs;
// then mutual exclusion under contention between server-side Lock RPCs, the etcd3 npm client's
// election campaigns and etcdctl lock, checked from the holders' own clocks and the keys' create
// revisions.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { etcdctl, etcdctlPath } from '../helpers/etcdctl.js';
import { selfCheck, startRealEtcd, startServerUnderTest, type EtcdProcess } from '../helpers/etcd-process.js';
import { registerChild } from '../helpers/process-registry.js';
import {
  grantLeaseOver, keysOver, lockElectionClients, startUnary, unary, type Clients,
} from '../unit/concurrency/grpc-clients.js';

const underTestKind = selfCheck ? 'real etcd' : 'etcd-ts';

interface LongRunning {
  lines: string[];
  waitForLines(count: number, timeoutMs?: number): Promise<string[]>;
  /** SIGINT, as an operator's Ctrl-C: etcdctl unlocks or resigns before it exits. */
  interrupt(timeoutMs?: number): Promise<number | null>;
  exited: Promise<number | null>;
}

/** Output lines beyond this mean a runaway child. */
const childLinesMax = 10_000;

function spawnEtcdctl(endpoint: string, args: string[]): LongRunning {
  const child = spawn(etcdctlPath, [`--endpoints=${endpoint}`, ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ETCDCTL_API: '3' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error('could not start etcdctl');
  registerChild(child);
  const pid = child.pid;
  const lines: string[] = [];
  let stderr = '';
  let exitCode: number | null | undefined;
  let wake: () => void = () => undefined;
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (lines.length < childLinesMax) lines.push(line);
    wake();
  });
  child.stderr.on('data', (chunk: Buffer) => { if (stderr.length < 64 * 1024) stderr += chunk.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { exitCode = code; wake(); resolve(code); }));
  return {
    lines,
    exited,
    waitForLines(count, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`etcdctl ${args.join(' ')}: ${lines.length}/${count} lines: ${lines.join('|')} ${stderr}`)), timeoutMs);
        const check = (): void => {
          if (lines.length >= count) { clearTimeout(timer); resolve(lines.slice(0, count)); return; }
          if (exitCode !== undefined) { clearTimeout(timer); reject(new Error(`etcdctl ${args.join(' ')} exited ${exitCode}: ${stderr}`)); return; }
          wake = check;
        };
        check();
      });
    },
    async interrupt(timeoutMs = 10_000) {
      if (exitCode === undefined) process.kill(pid, 'SIGINT');
      const timer = setTimeout(() => { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }, timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<'pending'>((resolve) => { timer = setTimeout(() => resolve('pending'), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

/** Lease ids are random: transcripts compare with them replaced by their position of appearance. */
function normaliseLeases(lines: string[]): string[] {
  const seen = new Map<string, string>();
  return lines.map((line) => line.replace(/\/(-?[0-9a-f]{6,16})\b/g, (_match, hex: string) => {
    if (!seen.has(hex)) seen.set(hex, `<lease${seen.size + 1}>`);
    return `/${seen.get(hex)!}`;
  }));
}

interface Target { server: EtcdProcess; clients: Clients; endpoint: string }

async function startTarget(real: boolean): Promise<Target> {
  const server = real ? await startRealEtcd() : await startServerUnderTest();
  const endpoint = server.clientUrl;
  return { server, clients: lockElectionClients(endpoint.replace('http://', '')), endpoint };
}

/** `etcdctl lock <name> <command>`: the command sees its key and the lock's revision. */
async function lockWithCommand(target: Target): Promise<string[]> {
  const result = await etcdctl(target.endpoint, ['lock', 'job', '--', 'sh', '-c', 'echo "$ETCD_LOCK_KEY"; echo "$ETCD_LOCK_REV"']);
  expect(result.exitCode, result.stderr).toBe(0);
  const [key, revision] = result.stdout.trimEnd().split('\n');
  expect(key).toMatch(/^job\/[0-9a-f]+$/);
  expect(Number(revision)).toBeGreaterThan(1);
  // Unlocked when the command ended: no key is left behind.
  expect(await keysOver(target.clients, 'job/')).toEqual([]);
  return normaliseLeases([key!]);
}

/**
 * Server-side Lock and `etcdctl lock` exclude each other both ways. Returns what etcdctl printed.
 */
async function lockInterop(target: Target): Promise<string[]> {
  const { clients, endpoint } = target;
  const lease = await grantLeaseOver(clients, 30);
  const held = await unary(clients.lock, 'Lock', { name: Buffer.from('shared'), lease });
  expect(held.error).toBeUndefined();
  const waiting = etcdctl(endpoint, ['lock', 'shared', 'echo', 'client got it']);
  expect(await within(waiting, 1000)).toBe('pending');
  await unary(clients.lock, 'Unlock', { key: held.response!.key });
  const client = await waiting;
  expect(client).toMatchObject({ exitCode: 0, stdout: 'client got it\n' });

  // The other way: etcdctl holds, the server-side Lock waits (and times out) until etcdctl lets go.
  const holder = spawnEtcdctl(endpoint, ['lock', 'shared']);
  const printed = await holder.waitForLines(2);
  const blocked = await unary(clients.lock, 'Lock', { name: Buffer.from('shared'), lease }, 500);
  expect(blocked.error?.code === grpc.status.DEADLINE_EXCEEDED || /deadline/.test(blocked.error?.details ?? '')).toBe(true);
  // The timed-out Lock removes its key once the server sees the cancel (etcd's mutex does the
  // same), which can be after the client's deadline: a Lock of the same session sent before that
  // would find the key, wait on it, and lose it to that removal ("session is expired").
  const ownKey = `shared/${BigInt(lease).toString(16)}`;
  for (let tries = 0; (await keysOver(clients, 'shared/')).some((kv) => kv.key === ownKey); tries++) {
    expect(tries, 'the timed-out Lock left its key').toBeLessThan(100);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const after = startUnary(clients.lock, 'Lock', { name: Buffer.from('shared'), lease });
  expect(await within(after.done, 300)).toBe('pending');
  expect(await holder.interrupt()).toBe(0);
  const acquired = await after.done;
  expect(acquired.error).toBeUndefined();
  expect((acquired.response!.key as Buffer).toString()).toBe(`shared/${BigInt(lease).toString(16)}`);
  await unary(clients.lock, 'Unlock', { key: acquired.response!.key });
  return normaliseLeases(printed);
}

/**
 * A server-side campaign and `etcdctl elect` on one election, watched by `etcdctl elect -l`.
 * Returns the observer's transcript.
 */
async function electInterop(target: Target): Promise<string[]> {
  const { clients, endpoint } = target;
  const lease = await grantLeaseOver(clients, 30);
  const won = await unary(clients.election, 'Campaign', { name: Buffer.from('chief'), lease, value: Buffer.from('server') });
  expect(won.error).toBeUndefined();
  const observer = spawnEtcdctl(endpoint, ['elect', '-l', 'chief']);
  await observer.waitForLines(2);
  const candidate = spawnEtcdctl(endpoint, ['elect', 'chief', 'client']);
  expect(await within(candidate.waitForLines(1), 700)).toBe('pending');
  await unary(clients.election, 'Proclaim', { leader: won.response!.leader, value: Buffer.from('server-2') });
  await observer.waitForLines(4);
  await unary(clients.election, 'Resign', { leader: won.response!.leader });
  const elected = await candidate.waitForLines(2);
  expect(elected[1]).toBe('client');
  await observer.waitForLines(6);
  const leader = await unary(clients.election, 'Leader', { name: Buffer.from('chief') });
  expect(leader.response!.kv.value.toString()).toBe('client');
  expect(leader.response!.kv.key.toString()).toBe(elected[0]);
  // Ctrl-C on the elected etcdctl resigns: nobody leads any more.
  expect(await candidate.interrupt()).toBe(0);
  const none = await unary(clients.election, 'Leader', { name: Buffer.from('chief') });
  expect([none.error?.code, none.error?.details]).toEqual([grpc.status.UNKNOWN, 'election: no leader']);
  await observer.interrupt();
  return normaliseLeases(observer.lines.slice(0, 6));
}

describe(`etcdctl lock and elect against ${underTestKind}, side by side with etcd 3.4`, () => {
  let underTest: Target;
  let reference: Target | undefined;

  beforeAll(async () => {
    underTest = await startTarget(false);
    if (!selfCheck) reference = await startTarget(true);
  });
  afterAll(async () => {
    for (const target of [underTest, reference]) {
      target?.clients.close();
      await target?.server.stop();
    }
  });

  it('etcdctl lock <name> <command> runs the command holding name/hex(lease), then unlocks', async () => {
    const ours = await lockWithCommand(underTest);
    expect(ours).toEqual(['job/<lease1>']);
    if (reference) expect(ours).toEqual(await lockWithCommand(reference));
  });

  it('a server-side Lock and etcdctl lock exclude each other both ways', async () => {
    const ours = await lockInterop(underTest);
    expect(ours).toEqual(['shared/<lease1>', '']);
    if (reference) expect(ours).toEqual(await lockInterop(reference));
  });

  it('etcdctl elect waits behind a server-side leader and elect -l sees every change', async () => {
    const ours = await electInterop(underTest);
    expect(ours).toEqual(['chief/<lease1>', 'server', 'chief/<lease1>', 'server-2', 'chief/<lease2>', 'client']);
    if (reference) expect(ours).toEqual(await electInterop(reference));
  });
});

interface Holding { who: string; acquiredMs: number; releasedMs: number; createRevision: number }

describe(`mutual exclusion on ${underTestKind}: server-side Lock, etcd3 campaigns and etcdctl lock`, () => {
  let target: Target;
  beforeAll(async () => { target = await startTarget(false); });
  afterAll(async () => {
    target?.clients.close();
    await target?.server.stop();
  });

  it('never lets two holders overlap, and serves them in the order their keys were created', async () => {
    const lockWorkers = 3;
    const campaignWorkers = 2;
    const acquisitionsPerWorker = 10;
    const etcdctlAcquisitions = 3;
    // The etcd3 npm client's elections live under `election/<name>/`: our lock name must match.
    const lockName = 'election/mx';
    const holdings: Holding[] = [];
    const holdMs = (worker: number, round: number): number => 5 + ((worker * 7 + round * 3) % 10);
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const { clients, endpoint } = target;

    const createRevisionOf = async (key: string): Promise<number> => {
      const found = (await keysOver(clients, `${lockName}/`)).find((kv) => kv.key === key);
      if (!found) throw new Error(`held key ${key} is missing`);
      return found.create_revision;
    };

    const lockWorker = async (worker: number): Promise<void> => {
      const lease = await grantLeaseOver(clients, 30);
      for (let round = 0; round < acquisitionsPerWorker; round++) {
        const held = await unary(clients.lock, 'Lock', { name: Buffer.from(lockName), lease }, 30_000);
        if (held.error) throw held.error;
        const acquiredMs = Date.now();
        const key = (held.response!.key as Buffer).toString();
        const createRevision = await createRevisionOf(key);
        await sleep(holdMs(worker, round));
        holdings.push({ who: `lock${worker}`, acquiredMs, releasedMs: Date.now(), createRevision });
        const released = await unary(clients.lock, 'Unlock', { key: held.response!.key });
        if (released.error) throw released.error;
      }
    };

    const etcd3 = new Etcd3({ hosts: endpoint });
    const campaignWorker = async (worker: number): Promise<void> => {
      const election = etcd3.election('mx', 30);
      for (let round = 0; round < acquisitionsPerWorker; round++) {
        const campaign = election.campaign(`w${worker}`);
        await campaign.wait();
        const acquiredMs = Date.now();
        const createRevision = await createRevisionOf(await campaign.getCampaignKey());
        await sleep(holdMs(worker + lockWorkers, round));
        holdings.push({ who: `campaign${worker}`, acquiredMs, releasedMs: Date.now(), createRevision });
        await campaign.resign();
      }
    };

    const etcdctlWorker = async (): Promise<void> => {
      const report = 'a=$(date +%s%3N); c=$(etcdctl --endpoints=' + endpoint +
        ' get "$ETCD_LOCK_KEY" -w fields | sed -n "s/^\\"CreateRevision\\" : //p"); sleep 0.02; echo "$a $c $(date +%s%3N)"';
      for (let round = 0; round < etcdctlAcquisitions; round++) {
        const result = await etcdctl(endpoint, ['lock', lockName, '--', 'sh', '-c', report], { timeoutMs: 30_000 });
        expect(result.exitCode, result.stderr).toBe(0);
        const [acquiredMs, createRevision, releasedMs] = result.stdout.trim().split(' ').map(Number);
        holdings.push({ who: 'etcdctl', acquiredMs: acquiredMs!, releasedMs: releasedMs!, createRevision: createRevision! });
      }
    };

    try {
      await Promise.all([
        ...Array.from({ length: lockWorkers }, (_, worker) => lockWorker(worker)),
        ...Array.from({ length: campaignWorkers }, (_, worker) => campaignWorker(worker)),
        etcdctlWorker(),
      ]);
    } finally {
      etcd3.close();
    }

    expect(holdings.length).toBe((lockWorkers + campaignWorkers) * acquisitionsPerWorker + etcdctlAcquisitions);
    for (const holding of holdings) expect(Number.isFinite(holding.createRevision) && holding.createRevision > 1).toBe(true);
    const byTime = [...holdings].sort((a, b) => a.acquiredMs - b.acquiredMs || a.releasedMs - b.releasedMs);
    for (let i = 1; i < byTime.length; i++) {
      const [previous, next] = [byTime[i - 1]!, byTime[i]!];
      expect(next.acquiredMs, `${next.who} acquired before ${previous.who} released`).toBeGreaterThanOrEqual(previous.releasedMs);
      expect(next.createRevision, `${next.who} served before an older waiter`).toBeGreaterThan(previous.createRevision);
    }
    // Every kind of client got the lock while the others contended for it.
    expect(new Set(holdings.map((h) => h.who.replace(/\d+$/, '')))).toEqual(new Set(['lock', 'campaign', 'etcdctl']));
    expect(await keysOver(clients, `${lockName}/`)).toEqual([]);
  }, 120_000);
});
