// Owns the joining side of etcd's v2 discovery protocol (`--discovery <url>`): read the size key,
// register this member with prevExist=false, confirm it, then long-poll the token directory until
// `size` members are there; the first `size` by createdIndex form the initial cluster.
import { DiscoveryError, membersFromValues } from './errors.js';
import { discoveryRequest } from './http-client.js';

export interface V2DiscoveryOptions {
  /** The --discovery URL; its path is the cluster key in the service's v2 keys API. */
  discoveryUrl: string;
  /** This member's id (computeMemberId(peer URLs, discovery URL)). */
  memberId: bigint;
  /** `name=url,...` of this member (urlsMapString). */
  selfValue: string;
  /** etcd's client.DefaultRequestTimeout is 5 s; long polls are not bounded by it. */
  requestTimeoutMs?: number;
  /** Retries of a failed check (network errors); etcd backs off 2^n s, capped at 2^8 s. */
  retriesMax?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** Ends the whole procedure (the member's start timeout). */
  signal?: AbortSignal;
  /** --discovery-proxy (parseDiscoveryProxy): every request goes through it. */
  proxy?: URL;
  /** CA certificates for an HTTPS service instead of Node's roots (tests). */
  ca?: string | Buffer;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

interface V2NodeJson { key: string; value?: string; createdIndex: number; modifiedIndex: number; dir?: boolean; nodes?: V2NodeJson[] }
interface V2Answer { status: number; etcdIndex: number; body: { errorCode?: number; node?: V2NodeJson; action?: string } }

const requestTimeoutMsDefault = 5_000;

function baseName(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}
/** One cluster is never bigger than this; a size above it is a bad size key. */
export const discoveryClusterSizeMax = 1024;

export class V2DiscoveryClient {
  private readonly base: string;
  private readonly clusterKey: string;
  /** False for a proxy reading the cluster (cluster()): a full cluster is what it wants. */
  private joining = true;

  constructor(private readonly options: V2DiscoveryOptions) {
    let url: URL;
    try {
      url = new URL(options.discoveryUrl);
    } catch {
      throw new DiscoveryError('InvalidUrl');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new DiscoveryError('InvalidUrl');
    this.base = `${url.protocol}//${url.host}`;
    this.clusterKey = url.pathname.replace(/\/+$/, '');
  }

  get selfKey(): string {
    return `${this.clusterKey}/${this.options.memberId.toString(16)}`;
  }

  /** The initial cluster (`name=url,...` members) once `size` members have registered. */
  async join(): Promise<Array<{ name: string; peerUrls: string[] }>> {
    await this.checkClusterRetrying();
    await this.createSelf();
    const { nodes, size, index } = await this.checkClusterRetrying();
    const all = await this.waitNodes(nodes, size, index);
    return membersFromValues(all.map((n) => n.value ?? ''), size);
  }

  /**
   * The cluster as registered, without joining it (etcd's GetCluster, for a v2 proxy): the first
   * `size` members, once there are that many.
   */
  async cluster(): Promise<Array<{ name: string; peerUrls: string[] }>> {
    this.joining = false;
    const { nodes, size, index } = await this.checkClusterRetrying();
    const all = nodes.length >= size ? nodes.slice(0, size) : await this.waitNodes(nodes, size, index);
    return membersFromValues(all.map((n) => n.value ?? ''), size);
  }

  private async request(path: string, init: { method?: string; query?: Record<string, string>; form?: Record<string, string>; longPoll?: boolean } = {}): Promise<V2Answer> {
    const query = init.query ? `?${new URLSearchParams(init.query).toString()}` : '';
    const timeout = init.longPoll ? undefined : AbortSignal.timeout(this.options.requestTimeoutMs ?? requestTimeoutMsDefault);
    const signals = [timeout, this.options.signal].filter((s): s is AbortSignal => s !== undefined);
    const response = await discoveryRequest(new URL(`${this.base}${path}${query}`), {
      method: init.method ?? 'GET',
      headers: init.form ? { 'content-type': 'application/x-www-form-urlencoded' } : undefined,
      body: init.form ? new URLSearchParams(init.form).toString() : undefined,
      signal: signals.length > 0 ? AbortSignal.any(signals) : undefined,
      proxy: this.options.proxy,
      ca: this.options.ca,
    });
    let body: V2Answer['body'];
    try {
      body = JSON.parse(response.text) as V2Answer['body'];
    } catch {
      throw new DiscoveryError('BadDiscoveryEndpoint', `${response.status} ${response.text.slice(0, 200)}`);
    }
    return { status: response.status, etcdIndex: Number(response.headers['x-etcd-index'] ?? 0), body };
  }

  private async checkClusterRetrying(): Promise<{ nodes: V2NodeJson[]; size: number; index: number }> {
    const retriesMax = this.options.retriesMax ?? 8;
    for (let retry = 0; ; retry++) {
      try {
        return await this.checkCluster();
      } catch (error) {
        if (error instanceof DiscoveryError || this.options.signal?.aborted) throw error;
        if (retry >= retriesMax) throw new DiscoveryError('TooManyRetries');
        const backoffMs = Math.min((this.options.backoffBaseMs ?? 1000) * 2 ** retry, this.options.backoffCapMs ?? 256_000);
        this.options.log?.('discovery service unreachable; retrying', { retry, backoffMs, error: String(error) });
        await new Promise((resolve) => setTimeout(resolve, backoffMs));
      }
    }
  }

  private async checkCluster(): Promise<{ nodes: V2NodeJson[]; size: number; index: number }> {
    const sizeAnswer = await this.request(`${this.clusterKey}/_config/size`);
    if (sizeAnswer.body.errorCode === 100) throw new DiscoveryError('SizeNotFound');
    if (sizeAnswer.body.errorCode !== undefined) throw new Error(`discovery service error ${sizeAnswer.body.errorCode}`);
    const size = Number(sizeAnswer.body.node?.value);
    if (!Number.isSafeInteger(size) || size <= 0 || size > discoveryClusterSizeMax) throw new DiscoveryError('BadSizeKey');
    const list = await this.request(this.clusterKey);
    if (list.body.errorCode === 100) throw new DiscoveryError('TokenNotFound');
    if (list.body.errorCode !== undefined) throw new Error(`discovery service error ${list.body.errorCode}`);
    // Node keys are relative to the service's keys API (the URL path may carry /v2/keys): compare
    // base names, as etcd does.
    const nodes = (list.body.node?.nodes ?? [])
      .filter((n) => baseName(n.key) !== '_config')
      .sort((a, b) => a.createdIndex - b.createdIndex);
    const position = nodes.findIndex((n) => baseName(n.key) === baseName(this.selfKey));
    if (this.joining && ((position === -1 && nodes.length >= size) || position >= size)) throw new DiscoveryError('FullCluster');
    return { nodes, size, index: list.etcdIndex };
  }

  private async createSelf(): Promise<void> {
    const created = await this.request(this.selfKey, { method: 'PUT', query: { prevExist: 'false' }, form: { value: this.options.selfValue } });
    if (created.body.errorCode === 105) throw new DiscoveryError('DuplicateId');
    if (created.body.errorCode !== undefined || !created.body.node) throw new Error(`discovery: registering failed with ${JSON.stringify(created.body)}`);
    // Wait until the write is visible through the service (a proxy may answer before it is).
    await this.request(this.selfKey, { query: { wait: 'true', waitIndex: String(created.body.node.createdIndex) }, longPoll: true });
  }

  private async waitNodes(nodes: V2NodeJson[], size: number, index: number): Promise<V2NodeJson[]> {
    const all = nodes.slice(0, size);
    let waitIndex = index + 1;
    while (all.length < size) {
      this.options.log?.('waiting for other members', { found: all.length, size });
      const answer = await this.request(this.clusterKey, { query: { wait: 'true', recursive: 'true', waitIndex: String(waitIndex) }, longPoll: true });
      if (answer.body.errorCode === 401) {
        // The history moved past us: read the directory again.
        const again = await this.checkCluster();
        all.splice(0, all.length, ...again.nodes.slice(0, size));
        waitIndex = again.index + 1;
        continue;
      }
      const node = answer.body.node;
      if (!node) throw new Error(`discovery: unexpected watch answer ${JSON.stringify(answer.body)}`);
      waitIndex = node.modifiedIndex + 1;
      const segments = node.key.split('/');
      const isMember = segments.at(-2) === baseName(this.clusterKey) && !baseName(node.key).startsWith('_');
      if (isMember && (answer.body.action === 'create' || answer.body.action === 'set') && !all.some((n) => baseName(n.key) === baseName(node.key))) all.push(node);
    }
    return all;
  }
}
