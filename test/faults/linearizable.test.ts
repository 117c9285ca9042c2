// Linearizability under faults: one etcd3 client per member of a 3-member cluster runs a bounded
// random mix of put / get / compare-and-swap on a few keys while the test SIGKILLs and restarts
// members and SIGSTOPs/SIGCONTs the leader. The recorded history (an op with an unknown outcome
// counts as possibly applied) must be linearizable against a register-per-key model, and at the
// end every member must report the same `endpoint hashkv` at the same revision.
import { performance } from 'node:perf_hooks';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { sleep, TestCluster, type ClusterMember } from '../helpers/cluster.js';
import { checkKvHistory, formatHistory, type KvInput, type KvOperation, type KvOutput } from '../sim/linearizability.js';
import { createTestClient } from './etcd3-client.js';

const keys = ['lin/a', 'lin/b', 'lin/c'];
/** Bounds the history so the checker finishes in well under a second. */
const opsPerClientMax = 400;
/** Spreads a client's ops over the whole fault schedule (about 12 s) instead of spending them at once. */
const thinkTimeMs = 25;
const callDeadlineMs = 1500;
const backoffAfterFailureMs = 200;
/** The catch-up wait before comparing hashes. */
const convergeTimeoutMs = 20_000;

let cluster: TestCluster;
const timeline: string[] = [];
/** When the last fault (the leader's SIGKILL) struck, so the test can see ops went on after it. */
let lastFaultMs = Number.POSITIVE_INFINITY;
const startedMs = performance.now();
const now = (): number => performance.now() - startedMs;
const note = (event: string): void => { timeline.push(`${now().toFixed(0)} ms: ${event}`); };

beforeAll(async () => {
  cluster = await TestCluster.start({ size: 3 });
});

afterAll(async () => {
  await cluster?.close();
});

/** A failure that proves the request never left the client: the op did not happen. */
function neverSent(error: unknown): boolean {
  return /No connection established|ECONNREFUSED/.test(error instanceof Error ? error.message : String(error));
}

async function perform(client: Etcd3, key: string, input: KvInput): Promise<KvOutput> {
  switch (input.kind) {
    case 'get':
      return { kind: 'get', value: await client.get(key).string() };
    case 'put':
      await client.put(key).value(input.value).exec();
      return { kind: 'put' };
    case 'delete':
      await client.delete().key(key).exec();
      return { kind: 'delete' };
    case 'cas': {
      const guard = input.expected === null ? client.if(key, 'Version', '==', 0) : client.if(key, 'Value', '==', input.expected);
      const response = await guard.then(client.put(key).value(input.value)).commit();
      return { kind: 'cas', succeeded: response.succeeded };
    }
  }
}

async function runClient(clientId: number, member: ClusterMember, history: KvOperation[], stop: { now: boolean }): Promise<void> {
  const client = createTestClient([member.clientUrl], callDeadlineMs);
  const lastSeen = new Map<string, string | null>();
  try {
    for (let sequence = 0; sequence < opsPerClientMax && !stop.now; sequence++) {
      const key = keys[Math.floor(Math.random() * keys.length)] ?? 'lin/a';
      const value = `c${clientId}-${sequence}`;
      const roll = Math.random();
      const input: KvInput = roll < 0.4 ? { kind: 'get' }
        : roll < 0.75 ? { kind: 'put', value }
          : { kind: 'cas', expected: lastSeen.get(key) ?? null, value };
      const invokeMs = now();
      try {
        const output = await perform(client, key, input);
        history.push({ clientId, key, input, output, invokeMs, completeMs: now() });
        if (output.kind === 'get') lastSeen.set(key, output.value);
        else if (output.kind === 'delete') lastSeen.set(key, null);
        else if ((input.kind === 'put' || input.kind === 'cas') && (output.kind === 'put' || (output.kind === 'cas' && output.succeeded))) lastSeen.set(key, input.value);
      } catch (error) {
        if (!neverSent(error)) history.push({ clientId, key, input, output: undefined, invokeMs, completeMs: 0 });
        await sleep(backoffAfterFailureMs);
      }
      await sleep(thinkTimeMs);
    }
  } finally {
    client.close();
  }
}

async function injectFaults(): Promise<number> {
  let faults = 0;
  const members = cluster.members;
  await sleep(1500);
  const victim = members[Math.floor(Math.random() * members.length)];
  if (!victim) throw new Error('no members');
  note(`SIGKILL ${victim.name}`);
  await cluster.kill(victim);
  faults++;
  await sleep(1500);
  note(`restart ${victim.name}`);
  await cluster.restart(victim);
  note(`${victim.name} healthy`);

  await sleep(1000);
  const paused = await cluster.waitLeader();
  note(`SIGSTOP leader ${paused.name}`);
  cluster.pause(paused);
  faults++;
  // Longer than the election timeout, so the others elect a new leader meanwhile.
  await sleep(2500);
  note(`SIGCONT ${paused.name}`);
  cluster.resume(paused);

  await sleep(1000);
  const killed = await cluster.waitLeader();
  note(`SIGKILL leader ${killed.name}`);
  lastFaultMs = now();
  await cluster.kill(killed);
  faults++;
  await sleep(1000);
  note(`restart ${killed.name}`);
  await cluster.restart(killed);
  note(`${killed.name} healthy`);
  await sleep(1000);
  return faults;
}

async function hashKv(member: ClusterMember, revision: number): Promise<string> {
  const result = await cluster.ctl(member, ['endpoint', 'hashkv', `--rev=${revision}`, '-w', 'json'], 5);
  const hash = /"hash":(\d+)/.exec(result.stdout)?.[1];
  if (result.exitCode !== 0 || hash === undefined) throw new Error(`hashkv on ${member.name}: ${result.stdout}${result.stderr}`);
  return hash;
}

test('a history of puts, gets and CAS under kills and leader pauses is linearizable; hashkv agrees', async () => {
  const history: KvOperation[] = [];
  const stop = { now: false };
  const clients = cluster.members.map((member, clientId) => runClient(clientId, member, history, stop));
  let faults = 0;
  try {
    faults = await injectFaults();
  } finally {
    stop.now = true;
    for (const member of cluster.members) if (member.paused) cluster.resume(member);
    await Promise.all(clients);
  }
  const known = history.filter((operation) => operation.output !== undefined).length;
  const unknown = history.length - known;
  note(`history: ${history.length} ops, ${unknown} with unknown outcome`);
  console.info(timeline.join('\n'));

  const checkStartedMs = performance.now();
  const result = checkKvHistory(history);
  const checkMs = performance.now() - checkStartedMs;
  expect(result.ok, `not linearizable on ${result.failedKey}:\n${formatHistory(result.failedHistory ?? [])}\n` +
    `faults:\n${timeline.join('\n')}`).toBe(true);
  expect(checkMs, 'the checker must stay fast on histories of this size').toBeLessThan(10_000);
  expect(faults).toBe(3);
  const completedAfterLastFault = history.filter((operation) => operation.output !== undefined && operation.invokeMs > lastFaultMs);
  expect(completedAfterLastFault.length, `ops completed after the last fault\n${timeline.join('\n')}`).toBeGreaterThan(10);
  // Enough completed ops on every key, or the check proves little.
  for (const key of keys) {
    expect(history.filter((operation) => operation.key === key && operation.output !== undefined).length, key).toBeGreaterThan(20);
  }

  const leader = await cluster.waitLeader();
  const final = await cluster.ctl(leader, ['put', 'lin/final', 'done', '-w', 'json'], 5);
  const revision = Number(/"revision":(\d+)/.exec(final.stdout)?.[1] ?? Number.NaN);
  expect(revision, final.stderr).toBeGreaterThan(0);
  const deadline = Date.now() + convergeTimeoutMs;
  for (const member of cluster.members) {
    while ((await cluster.status(member))?.revision !== revision && Date.now() < deadline) await sleep(200);
  }
  const hashes = await Promise.all(cluster.members.map(async (member) => [member.name, await hashKv(member, revision)] as const));
  expect(new Set(hashes.map(([, hash]) => hash)).size, `hashkv at revision ${revision}: ${JSON.stringify(hashes)}\n${timeline.join('\n')}`).toBe(1);
});
