// Owns multi-member test clusters of real server processes on 127.0.0.1: choosing ports, starting
// every member with the --initial-cluster flags (optionally advertising peer URLs that point at a
// PeerProxy so the test controls all peer traffic), restarting a member on its data dir, adding a
// member with --initial-cluster-state existing, signals by pid (SIGKILL, SIGSTOP, SIGCONT), and
// reading `etcdctl endpoint status` with the 64-bit ids kept exact.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { etcdctl, type EtcdctlResult } from './etcdctl.js';
import { etcdTsBinPath, realEtcdPath, selfCheck, type ExitStatus } from './etcd-process.js';
import { PeerProxy } from './peer-proxy.js';
import { freePort } from './ports.js';
import { makeTempDir, registerChild } from './process-registry.js';

/** Enough of a member's log to see why it failed, bounded so a chatty member cannot grow memory. */
const outputTailCharsMax = 64 * 1024;
/** Log lines we keep whole for assertions (snapshot sends/installs are rare; more means a loop). */
const notableLinesMax = 500;
const notableLinePattern = /snapshot/i;
const defaultStartTimeoutMs = 30_000;
const readinessPollIntervalMs = 150;
const stopGraceMs = 10_000;
const unhealthyRetryMs = 10_000;
/** More members than this in one test is a leak in a loop, not a test. */
const clusterMembersMax = 7;

export type ServerKind = 'etcd' | 'etcd-ts';

export interface MemberProcess {
  readonly pid: number;
  readonly exited: Promise<ExitStatus>;
  /** Undefined while the process runs. */
  exitStatus(): ExitStatus | undefined;
  /** The last part of stdout+stderr. */
  output(): string;
  /** Whole log lines mentioning snapshots, in order (bounded). */
  notableLines(): readonly string[];
  /** Sends a signal by pid without waiting (SIGSTOP/SIGCONT/SIGKILL). */
  signal(signal: NodeJS.Signals): void;
}

export interface ClusterMember {
  readonly name: string;
  readonly clientUrl: string;
  /** Where the member listens for peers. */
  readonly peerListenUrl: string;
  /** What the member advertises to peers: the proxy's port when the cluster is proxied. */
  readonly peerAdvertiseUrl: string;
  readonly dataDir: string;
  /** The current process; replaced by restart(). */
  process: MemberProcess | undefined;
  /** Set after a SIGSTOP, cleared by SIGCONT: a paused member must be resumed before a SIGTERM. */
  paused: boolean;
}

export interface MemberStatus {
  endpoint: string;
  /** Member ids as unsigned decimal strings turned into bigint: they do not fit a JS number. */
  memberId: bigint;
  leaderId: bigint;
  raftTerm: number;
  raftIndex: number;
  raftAppliedIndex: number;
  revision: number;
  isLearner: boolean;
}

export interface ClusterOptions {
  size: number;
  /** Route all peer traffic through a PeerProxy the test controls. */
  proxied?: boolean;
  /** Extra flags for every member, e.g. ['--snapshot-count=50']. */
  extraArgs?: string[];
  /** Member names; default n1..nN. */
  names?: string[];
  kind?: ServerKind;
  startTimeoutMs?: number;
}

/** Parses `etcdctl endpoint status -w json` output; ids are read from the raw digits, never via a JS number. */
export function parseEndpointStatus(stdout: string): MemberStatus[] {
  const statuses: MemberStatus[] = [];
  const entryPattern = /\{"Endpoint":"([^"]+)","Status":(\{.*?"dbSizeInUse":\d+[^}]*\})\}/g;
  for (const match of stdout.matchAll(entryPattern)) {
    const body = match[2] ?? '';
    const digits = (field: string): string => {
      const found = new RegExp(`"${field}":(\\d+)`).exec(body)?.[1];
      if (found === undefined) throw new Error(`endpoint status: no ${field} in ${body}`);
      return found;
    };
    const optionalDigits = (field: string): string => new RegExp(`"${field}":(\\d+)`).exec(body)?.[1] ?? '0';
    statuses.push({
      endpoint: match[1] ?? '',
      memberId: BigInt(digits('member_id')),
      // A member without a leader omits the field (proto3 default).
      leaderId: BigInt(optionalDigits('leader')),
      raftTerm: Number(optionalDigits('raftTerm')),
      raftIndex: Number(optionalDigits('raftIndex')),
      raftAppliedIndex: Number(optionalDigits('raftAppliedIndex')),
      revision: Number(optionalDigits('revision')),
      isLearner: /"isLearner":true/.test(body),
    });
  }
  return statuses;
}

function childEnv(): NodeJS.ProcessEnv {
  // An ETCD_* variable from the environment would conflict with our flags (etcd treats that as fatal).
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('ETCD_') && !key.startsWith('ETCDCTL_')) env[key] = value;
  }
  return env;
}

function spawnMember(kind: ServerKind, args: string[], cwd: string): MemberProcess {
  const command = kind === 'etcd' ? realEtcdPath : process.execPath;
  const child = spawn(command, kind === 'etcd' ? args : [etcdTsBinPath, ...args], {
    cwd, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not spawn ${command}`);
  registerChild(child);
  let tail = '';
  const notable: string[] = [];
  const onLine = (line: string): void => {
    tail += `${line}\n`;
    if (tail.length > outputTailCharsMax) tail = tail.slice(tail.length - outputTailCharsMax);
    if (notableLinePattern.test(line) && notable.length < notableLinesMax) notable.push(line);
  };
  createInterface({ input: child.stdout }).on('line', onLine);
  createInterface({ input: child.stderr }).on('line', onLine);
  let status: ExitStatus | undefined;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => { status = { code, signal }; resolve(status); });
  });
  return {
    pid,
    exited,
    exitStatus: () => status,
    output: () => tail,
    notableLines: () => notable,
    signal(signal) {
      if (status !== undefined) return;
      try { process.kill(pid, signal); } catch { /* already gone */ }
    },
  };
}

export class TestCluster {
  readonly members: ClusterMember[] = [];
  readonly proxy: PeerProxy | undefined;
  readonly kind: ServerKind;
  /**
   * etcdctl flags added to every ctl() and readiness check, e.g. ['--user=root:rootpw'] once auth
   * is on (etcd-ts makes Status admin-only, as etcd 3.6 does, so waitLeader needs them).
   */
  ctlArgs: string[] = [];
  private readonly extraArgs: string[];
  private readonly startTimeoutMs: number;
  private readonly baseDir: string;

  private constructor(options: ClusterOptions, proxy: PeerProxy | undefined, baseDir: string) {
    this.kind = options.kind ?? (selfCheck ? 'etcd' : 'etcd-ts');
    this.extraArgs = options.extraArgs ?? [];
    this.startTimeoutMs = options.startTimeoutMs ?? defaultStartTimeoutMs;
    this.proxy = proxy;
    this.baseDir = baseDir;
  }

  /** Starts `size` members at once (none can elect a leader alone) and waits until each is healthy. */
  static async start(options: ClusterOptions): Promise<TestCluster> {
    if (options.size < 1 || options.size > clusterMembersMax) throw new Error(`cluster size ${options.size} out of 1..${clusterMembersMax}`);
    const proxy = options.proxied ? new PeerProxy() : undefined;
    const cluster = new TestCluster(options, proxy, makeTempDir('cluster-test'));
    const names = options.names ?? Array.from({ length: options.size }, (_, index) => `n${index + 1}`);
    for (const name of names) cluster.members.push(await cluster.allocateMember(name));
    const initialCluster = cluster.members.map((member) => `${member.name}=${member.peerAdvertiseUrl}`).join(',');
    for (const member of cluster.members) cluster.launch(member, initialCluster, 'new');
    await Promise.all(cluster.members.map((member) => cluster.waitReady(member, 'health')));
    return cluster;
  }

  private async allocateMember(name: string): Promise<ClusterMember> {
    if (this.members.some((member) => member.name === name)) throw new Error(`member ${name} exists`);
    if (this.members.length >= clusterMembersMax) throw new Error(`more than ${clusterMembersMax} members`);
    const clientPort = await freePort();
    const peerPort = await freePort();
    const peerListenUrl = `http://127.0.0.1:${peerPort}`;
    const peerAdvertiseUrl = this.proxy ? `http://127.0.0.1:${await this.proxy.addTarget(name, peerPort)}` : peerListenUrl;
    return {
      name,
      clientUrl: `http://127.0.0.1:${clientPort}`,
      peerListenUrl,
      peerAdvertiseUrl,
      dataDir: join(this.baseDir, `${name}.etcd`),
      process: undefined,
      paused: false,
    };
  }

  private launch(member: ClusterMember, initialCluster: string, state: 'new' | 'existing', moreArgs: readonly string[] = []): void {
    const args = [
      `--name=${member.name}`,
      `--data-dir=${member.dataDir}`,
      `--listen-client-urls=${member.clientUrl}`,
      `--advertise-client-urls=${member.clientUrl}`,
      `--listen-peer-urls=${member.peerListenUrl}`,
      `--initial-advertise-peer-urls=${member.peerAdvertiseUrl}`,
      `--initial-cluster=${initialCluster}`,
      `--initial-cluster-state=${state}`,
      '--initial-cluster-token=test-cluster',
      ...this.extraArgs,
      ...moreArgs,
    ];
    member.process = spawnMember(this.kind, args, this.baseDir);
    member.paused = false;
    this.proxy?.setPid(member.name, member.process.pid);
  }

  /**
   * Polls etcdctl until the member answers: 'health' needs a leader and a linearizable read (a
   * voter), 'status' only the maintenance Status RPC (a learner refuses linearizable reads).
   */
  async waitReady(member: ClusterMember, check: 'health' | 'status'): Promise<void> {
    const memberProcess = member.process;
    if (!memberProcess) throw new Error(`${member.name} is not running`);
    const deadline = Date.now() + this.startTimeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      const exit = memberProcess.exitStatus();
      if (exit !== undefined) {
        throw new Error(`${member.name} exited during startup (code ${exit.code}, signal ${exit.signal}):\n${memberProcess.output()}`);
      }
      const result = await etcdctl(member.clientUrl, [...this.ctlArgs, '--dial-timeout=1s', '--command-timeout=2s', 'endpoint', check], { timeoutMs: 5000 });
      if (result.exitCode === 0) return;
      last = result.stdout + result.stderr;
      await sleep(readinessPollIntervalMs);
    }
    throw new Error(`${member.name} not ready (${check}) after ${this.startTimeoutMs} ms; last etcdctl: ${last}\n${memberProcess.output()}`);
  }

  member(name: string): ClusterMember {
    const found = this.members.find((member) => member.name === name);
    if (!found) throw new Error(`no member ${name}`);
    return found;
  }

  running(): ClusterMember[] {
    return this.members.filter((member) => member.process !== undefined && member.process.exitStatus() === undefined);
  }

  /** Comma-joined client URLs, for etcdctl --endpoints. */
  endpoints(members: readonly ClusterMember[] = this.running()): string {
    return members.map((member) => member.clientUrl).join(',');
  }

  /** etcdctl against one member with short timeouts, so a dead member costs seconds, not minutes. */
  ctl(member: ClusterMember, args: readonly string[], commandTimeoutSeconds = 3): Promise<EtcdctlResult> {
    return etcdctl(member.clientUrl, [...this.ctlArgs, '--dial-timeout=1s', `--command-timeout=${commandTimeoutSeconds}s`, ...args], { timeoutMs: (commandTimeoutSeconds + 4) * 1000 });
  }

  /** `endpoint status` of one member, or undefined when it does not answer. */
  async status(member: ClusterMember): Promise<MemberStatus | undefined> {
    const result = await this.ctl(member, ['endpoint', 'status', '-w', 'json']);
    if (result.exitCode !== 0) return undefined;
    return parseEndpointStatus(result.stdout)[0];
  }

  async statuses(members: readonly ClusterMember[] = this.running()): Promise<Map<string, MemberStatus | undefined>> {
    const entries = await Promise.all(members.map(async (member) => [member.name, await this.status(member)] as const));
    return new Map(entries);
  }

  /**
   * Waits until every member of `among` that answers agrees on one leader among them, and returns
   * it. A leader id naming a member outside `among` (a stale view) does not count.
   */
  async waitLeader(among: readonly ClusterMember[] = this.running(), timeoutMs = 15_000): Promise<ClusterMember> {
    const deadline = Date.now() + timeoutMs;
    let lastView = '';
    while (Date.now() < deadline) {
      const statuses = await this.statuses(among);
      const answered = [...statuses.values()].filter((status): status is MemberStatus => status !== undefined);
      const leaderIds = new Set(answered.map((status) => status.leaderId));
      lastView = [...statuses.entries()].map(([name, status]) => `${name}: leader=${status?.leaderId.toString(16)} term=${status?.raftTerm}`).join('; ');
      if (answered.length === among.length && leaderIds.size === 1) {
        const leaderId = [...leaderIds][0];
        const leaderName = [...statuses.entries()].find(([, status]) => status?.memberId === leaderId)?.[0];
        if (leaderId !== 0n && leaderName !== undefined) return this.member(leaderName);
      }
      await sleep(200);
    }
    throw new Error(`no agreed leader among ${among.map((member) => member.name).join(',')} after ${timeoutMs} ms: ${lastView}`);
  }

  async memberId(member: ClusterMember): Promise<bigint> {
    const status = await this.status(member);
    if (!status) throw new Error(`${member.name} does not answer endpoint status`);
    return status.memberId;
  }

  /** SIGKILL by pid; resolves once the process is gone. */
  async kill(member: ClusterMember): Promise<ExitStatus> {
    const memberProcess = member.process;
    if (!memberProcess) throw new Error(`${member.name} is not running`);
    memberProcess.signal('SIGKILL');
    member.paused = false;
    return memberProcess.exited;
  }

  pause(member: ClusterMember): void {
    member.process?.signal('SIGSTOP');
    member.paused = true;
  }

  resume(member: ClusterMember): void {
    member.process?.signal('SIGCONT');
    member.paused = false;
  }

  /** SIGTERM (after SIGCONT if paused), SIGKILL after a grace period. */
  async stop(member: ClusterMember): Promise<ExitStatus | undefined> {
    const memberProcess = member.process;
    if (!memberProcess || memberProcess.exitStatus() !== undefined) return memberProcess?.exitStatus();
    if (member.paused) this.resume(member);
    memberProcess.signal('SIGTERM');
    const timer = setTimeout(() => memberProcess.signal('SIGKILL'), stopGraceMs);
    const status = await memberProcess.exited;
    clearTimeout(timer);
    return status;
  }

  /**
   * Starts a stopped or killed member again on its data dir and URLs (the flags a restart gets),
   * with `moreArgs` added (e.g. --force-new-cluster).
   */
  async restart(member: ClusterMember, check: 'health' | 'status' = 'health', moreArgs: readonly string[] = []): Promise<void> {
    const exit = member.process?.exitStatus();
    if (member.process && exit === undefined) throw new Error(`${member.name} is still running`);
    const initialCluster = this.members.map((other) => `${other.name}=${other.peerAdvertiseUrl}`).join(',');
    this.launch(member, initialCluster, 'new', moreArgs);
    await this.waitReady(member, check);
  }

  /**
   * `etcdctl member add` through `via`, then starts the new member with --initial-cluster-state
   * existing and the initial cluster etcdctl printed. Resolves once it answers endpoint status.
   */
  async addMember(name: string, via: ClusterMember, options: { learner: boolean }): Promise<ClusterMember> {
    const member = await this.allocateMember(name);
    const args = ['member', 'add', name, `--peer-urls=${member.peerAdvertiseUrl}`, ...(options.learner ? ['--learner'] : [])];
    let result = await this.ctl(via, args, 10);
    // etcd's strict reconfiguration check counts only peers connected for 5 s: right after a
    // restart it answers "unhealthy cluster" for a few seconds, and operators retry.
    const retryUntil = Date.now() + unhealthyRetryMs;
    while (result.exitCode !== 0 && result.stderr.includes('unhealthy cluster') && Date.now() < retryUntil) {
      await sleep(500);
      result = await this.ctl(via, args, 10);
    }
    if (result.exitCode !== 0) {
      await this.proxy?.removeTarget(name);
      throw new Error(`member add ${name} failed: ${result.stdout}${result.stderr}`);
    }
    const initialCluster = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(result.stdout)?.[1];
    if (initialCluster === undefined) throw new Error(`member add printed no ETCD_INITIAL_CLUSTER: ${result.stdout}`);
    this.members.push(member);
    this.launch(member, initialCluster, 'existing');
    await this.waitReady(member, 'status');
    return member;
  }

  /** Stops every member (SIGTERM, then SIGKILL) and the proxy. */
  async close(): Promise<void> {
    await Promise.all(this.members.map((member) => this.stop(member)));
    await this.proxy?.close();
  }

  /** Every member's log tail, for failure messages. */
  outputs(): string {
    return this.members.map((member) => `===== ${member.name} (pid ${member.process?.pid})\n${member.process?.output() ?? ''}`).join('\n');
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
