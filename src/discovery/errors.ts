// Owns the discovery error catalogue: etcd's exact messages (operators grep logs for them).
export const discoveryErrorMessages = {
  InvalidUrl: 'discovery: invalid URL',
  BadSizeKey: 'discovery: size key is bad',
  SizeNotFound: 'discovery: size key not found',
  TokenNotFound: 'discovery: token not found',
  DuplicateId: 'discovery: found duplicate id',
  DuplicateName: 'discovery: found duplicate name',
  DuplicateUrl: 'discovery: found duplicate url',
  FullCluster: 'discovery: cluster is full',
  TooManyRetries: 'discovery: too many retries',
  BadDiscoveryEndpoint: 'discovery: bad discovery endpoint',
} as const;

export type DiscoveryErrorName = keyof typeof discoveryErrorMessages;

export class DiscoveryError extends Error {
  constructor(readonly errorName: DiscoveryErrorName, detail?: string) {
    super(detail ? `${discoveryErrorMessages[errorName]}: ${detail}` : discoveryErrorMessages[errorName]);
  }
}

/** etcd's URLsMap.String(): every `name=url` pair, sorted, comma-joined. */
export function urlsMapString(name: string, peerUrls: readonly string[]): string {
  return peerUrls.map((url) => `${name}=${url}`).sort().join(',');
}

/** The cluster the discovered values describe; duplicate names or URLs are etcd's errors. */
export function membersFromValues(values: readonly string[], size: number): Array<{ name: string; peerUrls: string[] }> {
  const byName = new Map<string, string[]>();
  const seenUrls = new Set<string>();
  for (const value of values) {
    const names = new Set<string>();
    for (const pair of value.split(',')) {
      const at = pair.indexOf('=');
      if (at <= 0) throw new DiscoveryError('BadDiscoveryEndpoint', `bad member value ${JSON.stringify(value)}`);
      const name = pair.slice(0, at);
      const url = pair.slice(at + 1);
      if (seenUrls.has(url)) throw new DiscoveryError('DuplicateUrl', url);
      seenUrls.add(url);
      if (byName.has(name) && !names.has(name)) throw new DiscoveryError('DuplicateName', name);
      names.add(name);
      byName.set(name, [...(byName.get(name) ?? []), url]);
    }
  }
  if (byName.size !== size) throw new DiscoveryError('DuplicateName');
  return [...byName].map(([name, peerUrls]) => ({ name, peerUrls }));
}
