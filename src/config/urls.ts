// Owns etcd's URL rules (pkg/types NewURLs and the embed checks): scheme http/https/unix/unixs,
// "host:port" required, no path; listen URLs must be an IP or localhost; and --initial-cluster's
// `name=url,name=url` form, where one name may appear several times.

const allowedSchemes = new Set(['http:', 'https:', 'unix:', 'unixs:']);

export function parseEtcdUrl(text: string): URL {
  const trimmed = text.trim();
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    throw new Error(`URL scheme must be http, https, unix, or unixs: ${trimmed}`);
  }
  if (!allowedSchemes.has(url.protocol)) {
    throw new Error(`URL scheme must be http, https, unix, or unixs: ${trimmed}`);
  }
  // WHATWG URL drops a default port (":80" for http) and fills in "/" as the path, so the port
  // and path checks look at the text itself, as Go's net.SplitHostPort does.
  const afterScheme = trimmed.slice(trimmed.indexOf('://') + 3);
  const slashAt = afterScheme.indexOf('/');
  const authority = slashAt === -1 ? afterScheme : afterScheme.slice(0, slashAt);
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  if (!/^(\[[^\]]*\]|[^:[\]]*):[0-9]*$/.test(hostPort)) {
    throw new Error(`URL address does not have the form "host:port": ${trimmed}`);
  }
  if (slashAt !== -1 && afterScheme.slice(slashAt) !== '') {
    throw new Error(`URL must not contain a path: ${trimmed}`);
  }
  return url;
}

export function parseUrlList(text: string): URL[] {
  const urls = text.split(',').map(parseEtcdUrl);
  if (urls.length === 0) throw new Error('no valid URLs given');
  return urls;
}

/** The URL as etcd prints it: scheme://host:port with no trailing slash. */
export function formatEtcdUrl(url: URL): string {
  const explicitPort = url.port !== '' ? url.port : url.protocol === 'http:' ? '80' : url.protocol === 'https:' ? '443' : '';
  return `${url.protocol}//${url.hostname}${explicitPort === '' ? '' : `:${explicitPort}`}`;
}

/** Host part without IPv6 brackets. */
function bareHost(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

function isIpAddress(host: string): boolean {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(host)) return host.split('.').every((octet) => Number(octet) <= 255);
  return host.includes(':') && /^[0-9a-fA-F:.]+$/.test(host);
}

/** etcd binds only to IP addresses (or localhost); a DNS name in a listen URL is refused. */
export function checkBindUrls(urls: readonly URL[]): void {
  for (const url of urls) {
    if (url.protocol === 'unix:' || url.protocol === 'unixs:') continue;
    const host = bareHost(url);
    if (host === 'localhost') continue;
    if (!isIpAddress(host)) throw new Error(`expected IP in URL for binding (${formatEtcdUrl(url)})`);
  }
}

export interface ClusterMember {
  name: string;
  peerUrls: string[];
}

/** Parses `name=url,name=url`; repeated names gather their URLs in order. */
export function parseInitialCluster(text: string): ClusterMember[] {
  const members: ClusterMember[] = [];
  for (const entry of text.split(',')) {
    if (entry === '') continue;
    const equalsAt = entry.indexOf('=');
    const name = equalsAt === -1 ? entry : entry.slice(0, equalsAt);
    const urlText = equalsAt === -1 ? '' : entry.slice(equalsAt + 1);
    const url = formatEtcdUrl(parseEtcdUrl(urlText));
    const existing = members.find((member) => member.name === name);
    if (existing === undefined) members.push({ name, peerUrls: [url] });
    else existing.peerUrls.push(url);
  }
  return members;
}

export function formatInitialCluster(members: readonly ClusterMember[]): string {
  return members.flatMap((member) => member.peerUrls.map((url) => `${member.name}=${url}`)).join(',');
}
