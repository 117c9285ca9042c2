// Owns the normalisation of etcdctl output before etcd and etcd-ts transcripts are compared: every
// value that legitimately differs between two fresh servers is replaced by a named placeholder.
// Each rule says why the value may differ; anything not covered here must be byte-identical.

/** Values of one server that the rules need: its URLs and the 64-bit ids it chose. */
export interface ServerFacts {
  clientUrl: string;
  peerUrl: string;
  /** Decimal uint64 strings, as etcdctl -w json prints them. */
  clusterId: string;
  memberId: string;
  /** Lease ids granted during the session, by the name the session gave them. */
  leases: Map<string, bigint>;
  /** Snapshot files written during the session (each server writes its own). */
  snapshotPaths: string[];
}

export interface NormaliseRule {
  name: string;
  reason: string;
  apply(text: string, facts: ServerFacts): string;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function replaceAllLiteral(text: string, literal: string, replacement: string): string {
  return literal === '' ? text : text.split(literal).join(replacement);
}

/** Replaces a uint64 id in the forms etcdctl prints: decimal (json/fields), %016x (leases), %x (members). */
function replaceId(text: string, decimal: bigint, placeholder: string): string {
  const forms = [decimal.toString(10), decimal.toString(16).padStart(16, '0'), decimal.toString(16)];
  let result = text;
  for (const form of new Set(forms)) {
    // Word boundaries keep `123` from matching inside `91234`; ids are never shorter than 2 digits
    // in practice, and the lease ids a session uses (e.g. 1234) are not registered.
    result = result.replace(new RegExp(`(?<![0-9a-fA-F])${escapeRegExp(form)}(?![0-9a-fA-F])`, 'g'), placeholder);
  }
  return result;
}

const goDuration = String.raw`\d+(?:\.\d+)?(?:ns|µs|us|ms|s|m)(?:\d+(?:\.\d+)?(?:ns|µs|us|ms|s))*`;

export const normaliseRules: readonly NormaliseRule[] = [
  {
    name: 'snapshot-paths',
    reason: 'each server saves its snapshot in its own temp dir',
    apply: (text, facts) => facts.snapshotPaths.reduce((t, path) => replaceAllLiteral(t, path, '<snapshot-file>'), text),
  },
  {
    name: 'urls',
    reason: 'each server listens on random free ports',
    apply: (text, facts) => {
      let result = replaceAllLiteral(text, facts.clientUrl, '<client-url>');
      result = replaceAllLiteral(result, facts.peerUrl, '<peer-url>');
      result = replaceAllLiteral(result, facts.clientUrl.replace(/^https?:\/\//, ''), '<client-addr>');
      return replaceAllLiteral(result, facts.peerUrl.replace(/^https?:\/\//, ''), '<peer-addr>');
    },
  },
  {
    name: 'cluster-and-member-ids',
    reason: 'member and cluster ids are hashed from the peer URLs (random ports) and, in etcd-ts, may be random',
    apply: (text, facts) => {
      let result = text;
      if (facts.clusterId !== '') result = replaceId(result, BigInt(facts.clusterId), '<cluster-id>');
      if (facts.memberId !== '') result = replaceId(result, BigInt(facts.memberId), '<member-id>');
      return result;
    },
  },
  {
    name: 'lease-ids',
    reason: 'lease ids are generated from the member id and the clock; the session names each lease it grants',
    apply: (text, facts) => {
      let result = text;
      for (const [name, id] of facts.leases) result = replaceId(result, id, `<lease:${name}>`);
      return result;
    },
  },
  {
    name: 'raft-term',
    reason: 'how many elections a fresh single member needs before it leads is not part of the API',
    apply: (text) => text
      .replace(/"raft_term":"?\d+"?/g, '"raft_term":<raft-term>')
      .replace(/"raftTerm":"?\d+"?/g, '"raftTerm":<raft-term>')
      .replace(/"RaftTerm" : \d+/g, '"RaftTerm" : <raft-term>'),
  },
  {
    name: 'endpoint-status',
    reason: 'server version string, db file size and raft log indexes (which count internal entries such as ' +
      'membership and cluster-version records) are implementation details of the storage and log',
    apply: (text) => text
      .replace(/"version":"\d+\.\d+\.\d+[^"]*"/g, '"version":"<version>"')
      .replace(/"(dbSize|dbSizeInUse|raftIndex|raftAppliedIndex)":\d+/g, '"$1":<$1>')
      // simple: `<client-url>, <member-id>, 3.4.23, 20 kB, true, false, <term>, 5, 5, `
      .replace(/^(<client-url>, <member-id>, )[^,]+, [^,]+, (true|false), (true|false), \d+, \d+, \d+, /gm,
        '$1<version>, <db-size>, $2, $3, <raft-term>, <raft-index>, <raft-applied-index>, ')
      // table row: | <client-url> | <member-id> |  3.4.23 |   20 kB |  true | false | 2 | 5 | 5 |  |
      .replace(/^(\| +<client-url> \| +<member-id> \|) +[^|]+\| +[^|]+\|( +(?:true|false) \| +(?:true|false) \|) +\d+ \| +\d+ \| +\d+ \|/gm,
        '$1 <version> | <db-size> |$2 <raft-term> | <raft-index> | <raft-applied-index> |'),
  },
  {
    name: 'hashes',
    reason: 'etcd hashes its bbolt key encoding; equal data in another storage layout hashes differently',
    apply: (text) => text
      .replace(/"hash":\d+/g, '"hash":<hash>')
      .replace(/^(<client-url>, )\d+$/gm, '$1<hash>')
      .replace(/^(\| +<client-url> \|) +\d+ \|/gm, '$1 <hash> |'),
  },
  {
    name: 'durations',
    reason: 'how long a health check or snapshot took is timing, not behaviour',
    apply: (text) => text
      .replace(new RegExp(`took = ${goDuration}`, 'g'), 'took = <duration>')
      .replace(new RegExp(`"took":"${goDuration}"`, 'g'), '"took":"<duration>"')
      .replace(/"took":\d+(?:\.\d+)?(?:e-?\d+)?/g, '"took":<duration>')
      .replace(new RegExp(`^(\\| +<client-url> \\| +(?:true|false) \\|) +${goDuration} \\|`, 'gm'), '$1 <duration> |'),
  },
  {
    name: 'lease-remaining-ttl',
    reason: 'the remaining TTL counts down with the wall clock; a lease granted seconds apart on two servers ' +
      'may be a second apart (only values within 5 s of the granted TTL are accepted)',
    apply: (text) => text
      .replace(/granted with TTL\((\d+)s\), remaining\((\d+)s\)/g, (whole, granted: string, remaining: string) =>
        Number(granted) - Number(remaining) <= 5 && Number(remaining) <= Number(granted)
          ? `granted with TTL(${granted}s), remaining(<remaining>)` : whole)
      .replace(/"ttl":(\d+),"granted-ttl":(\d+)/g, (whole, remaining: string, granted: string) =>
        Number(granted) - Number(remaining) <= 5 && Number(remaining) <= Number(granted)
          ? `"ttl":<remaining>,"granted-ttl":${granted}` : whole),
  },
  {
    name: 'lease-attached-keys-order',
    reason: "etcd lists a lease's attached keys in Go map order, which is random: the set is compared, sorted",
    apply: (text) => text
      .replace(/attached keys\(\[([^\]]*)\]\)/g, (_, keys: string) => `attached keys([${keys.split(' ').sort().join(' ')}])`)
      .replace(/("granted-ttl":\d+,"keys":)\[([^\]]*)\]/g, (_, prefix: string, keys: string) => `${prefix}[${keys.split(',').sort().join(',')}]`),
  },
  {
    name: 'client-log-lines',
    reason: "etcdctl's own zap log lines carry the client's clock, a random client uuid and the snapshot size",
    apply: (text) => text
      .replace(/"ts":"[^"]*"/g, '"ts":"<ts>"')
      .replace(/"ts":\d+(?:\.\d+)?(?:e[+-]?\d+)?/g, '"ts":<ts>')
      .replace(/client-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'client-<uuid>')
      .replace(/"size":"[^"]*"/g, '"size":"<size>"'),
  },
  {
    name: 'table-padding',
    reason: 'table column widths follow the length of the values above that were normalised',
    apply: (text) => text.split('\n').map((line) => {
      if (line.startsWith('+')) return line.replace(/-+/g, '-');
      if (line.startsWith('|')) return line.replace(/ +/g, ' ');
      return line;
    }).join('\n'),
  },
];

export function normalise(text: string, facts: ServerFacts): string {
  return normaliseRules.reduce((result, rule) => rule.apply(result, facts), text);
}
