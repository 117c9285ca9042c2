// Owns the v2 proxy's upstream list (etcd 3.4's httpproxy director): the cluster's client URLs,
// fetched again every --proxy-refresh-interval (every second while none is available, when that
// interval is 30 s or more), shuffled at each fetch so that proxies spread their load; an endpoint
// that failed a request is passed over for --proxy-failure-wait, then tried again. A fetch starts
// every endpoint afresh, as etcd's does. Imports nothing of the server.

export interface ProxyEndpoint {
  readonly url: URL;
  available: boolean;
}

export interface DirectorOptions {
  /** The cluster's client URLs now ([] when the cluster cannot be reached). */
  fetchUrls: () => Promise<string[]>;
  failureWaitMs: number;
  refreshIntervalMs: number;
  /** In [0, 1); Math.random unless a test fixes it. */
  random?: () => number;
  log: (message: string, fields?: Record<string, unknown>) => void;
}

/** etcd's default --proxy-refresh-interval; at or above it an empty list is fetched again after a second. */
const defaultRefreshIntervalMs = 30_000;
const emptyListRefreshMs = 1_000;

export class ProxyDirector {
  private all: ProxyEndpoint[] = [];
  private refreshTimer: NodeJS.Timeout | undefined;
  private readonly failureTimers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private announced = false;

  constructor(private readonly options: DirectorOptions) {}

  /** The first fetch, then the refresh loop. */
  async start(): Promise<void> {
    await this.refresh();
    this.scheduleRefresh();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.refreshTimer);
    for (const timer of this.failureTimers) clearTimeout(timer);
    this.failureTimers.clear();
  }

  /** The endpoints to try, in order: the available ones. */
  endpoints(): ProxyEndpoint[] {
    return this.all.filter((endpoint) => endpoint.available);
  }

  /** A request could not be sent to `endpoint`: pass it over for the failure wait. */
  markFailed(endpoint: ProxyEndpoint): void {
    if (!endpoint.available) return;
    endpoint.available = false;
    this.options.log('marked endpoint unavailable', { endpoint: endpointString(endpoint) });
    const timer = setTimeout(() => {
      this.failureTimers.delete(timer);
      endpoint.available = true;
      this.options.log('marked endpoint available, to retest connectivity', { endpoint: endpointString(endpoint) });
    }, this.options.failureWaitMs);
    this.failureTimers.add(timer);
  }

  async refresh(): Promise<void> {
    let urls: string[];
    try {
      urls = await this.options.fetchUrls();
    } catch {
      urls = [];
    }
    const endpoints: ProxyEndpoint[] = [];
    for (const text of urls) {
      try {
        endpoints.push({ url: new URL(text), available: true });
      } catch {
        this.options.log('upstream URL invalid', { url: text });
      }
    }
    const random = this.options.random ?? Math.random;
    for (let i = 0; i < endpoints.length; i++) {
      const j = Math.floor(random() * (i + 1));
      [endpoints[i], endpoints[j]] = [endpoints[j]!, endpoints[i]!];
    }
    this.all = endpoints;
  }

  private scheduleRefresh(): void {
    if (this.stopped) return;
    const available = this.endpoints();
    let waitMs = this.options.refreshIntervalMs;
    if (waitMs >= defaultRefreshIntervalMs && available.length === 0) waitMs = emptyListRefreshMs;
    if (available.length > 0 && !this.announced) {
      this.announced = true;
      this.options.log('endpoints found', { endpoints: available.map(endpointString) });
    }
    this.refreshTimer = setTimeout(() => {
      void this.refresh().finally(() => this.scheduleRefresh());
    }, waitMs);
  }
}

/** A URL as etcd prints one: no trailing slash on a bare host. */
export function endpointString(endpoint: ProxyEndpoint): string {
  const { url } = endpoint;
  return url.pathname === '/' && url.search === '' ? `${url.protocol}//${url.host}` : url.href;
}
