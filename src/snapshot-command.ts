// `etcd-ts snapshot restore <file> [flags]` and `etcd-ts snapshot status <file> [-w simple|json|table]`:
// etcdutl's (and etcdctl 3.4's) snapshot commands for etcd-ts's snapshot files, with their flags,
// defaults and output formats. etcdctl and etcdutl read bbolt files only, so a snapshot saved from
// etcd-ts is checked and restored with these (server/snapshot-restore.ts, server/snapshot-status.ts).
import { formatEtcdUrl, parseInitialCluster, parseUrlList } from './config/urls.js';
import { restoreSnapshot } from './server/snapshot-restore.js';
import { humanBytes, snapshotStatus, type SnapshotStatus } from './server/snapshot-status.js';

const restoreFlags: Record<string, string> = {
  'name': 'default',
  'data-dir': '',
  'wal-dir': '',
  'initial-cluster': 'default=http://localhost:2380',
  'initial-cluster-token': 'etcd-cluster',
  'initial-advertise-peer-urls': 'http://localhost:2380',
};

export const snapshotUsage = `Usage:
  etcd-ts snapshot restore <filename> [options]
  etcd-ts snapshot status <filename> [-w simple|json|table]

Restores an etcd-ts snapshot (etcdctl snapshot save against etcd-ts) to a new data dir, as a member
of a new cluster: keys, revisions, leases, users and roles come from the snapshot.

Options:
  --name                          human-readable name for this member (default "default")
  --data-dir                      path to the data directory (default "<name>.etcd")
  --wal-dir                       path to the raft log directory (default "<data-dir>/member/raft-wal")
  --initial-cluster               initial cluster configuration for restore bootstrap (default "default=http://localhost:2380")
  --initial-cluster-token         initial cluster token for the etcd cluster during restore bootstrap (default "etcd-cluster")
  --initial-advertise-peer-urls   list of this member's peer URLs to advertise to the rest of the cluster (default "http://localhost:2380")
`;

/** Runs the subcommand; returns the process exit code. */
export async function snapshotCommand(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === 'status') return statusCommand(rest, out, err);
  if (verb !== 'restore') {
    err.write(verb === undefined || verb === '--help' || verb === '-h' ? snapshotUsage : `Error: unknown command "${verb}" for "etcd-ts snapshot"\n\n${snapshotUsage}`);
    return verb === undefined || verb === '--help' || verb === '-h' ? 0 : 2;
  }
  const values = { ...restoreFlags };
  const positional: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (arg === '--help' || arg === '-h') {
      out.write(snapshotUsage);
      return 0;
    }
    if (!arg.startsWith('-')) {
      positional.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, '');
    const equalsAt = body.indexOf('=');
    const name = equalsAt === -1 ? body : body.slice(0, equalsAt);
    if (!(name in restoreFlags)) {
      err.write(`Error: unknown flag: --${name}\n`);
      return 2;
    }
    let value: string | undefined = equalsAt === -1 ? rest[++i] : body.slice(equalsAt + 1);
    if (value === undefined) {
      err.write(`Error: flag needs an argument: --${name}\n`);
      return 2;
    }
    values[name] = value;
  }
  if (positional.length !== 1) {
    err.write('Error: snapshot restore requires exactly one argument\n');
    return 2;
  }
  try {
    const dataDir = values['data-dir'] === '' ? `${values.name}.etcd` : values['data-dir']!;
    const restored = await restoreSnapshot({
      snapshotPath: positional[0]!,
      name: values.name!,
      dataDir,
      walDir: values['wal-dir']!,
      initialCluster: parseInitialCluster(values['initial-cluster']!),
      initialClusterToken: values['initial-cluster-token']!,
      initialAdvertisePeerUrls: parseUrlList(values['initial-advertise-peer-urls']!).map(formatEtcdUrl),
    });
    out.write(`restored snapshot to ${dataDir} as member ${restored.memberId.toString(16)} of cluster ${restored.clusterId.toString(16)}\n`);
    return 0;
  } catch (error) {
    err.write(`Error: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

async function statusCommand(args: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  let format = 'simple';
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const inline = /^--?(?:w|write-out)=(.*)$/.exec(arg);
    if (inline) format = inline[1]!;
    else if (arg === '-w' || arg === '--write-out') format = args[++i] ?? '';
    else if (arg.startsWith('-')) {
      err.write(`Error: unknown flag: ${arg}\n`);
      return 2;
    } else positional.push(arg);
  }
  if (positional.length !== 1) {
    err.write('Error: snapshot status requires exactly one argument\n');
    return 2;
  }
  if (format !== 'simple' && format !== 'json' && format !== 'table') {
    err.write(`Error: unsupported output format ${JSON.stringify(format)} (simple, json or table)\n`);
    return 2;
  }
  let status: SnapshotStatus;
  try {
    status = await snapshotStatus(positional[0]!);
  } catch (error) {
    err.write(`Error: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  const row = [status.hash.toString(16), String(status.revision), String(status.totalKey), humanBytes(status.totalSize)];
  if (format === 'json') out.write(`${JSON.stringify(status)}\n`);
  else if (format === 'simple') out.write(`${row.join(', ')}\n`);
  else out.write(statusTable(['HASH', 'REVISION', 'TOTAL KEYS', 'TOTAL SIZE'], row));
  return 0;
}

/** etcdctl's table: headers centred, cells right-aligned, one space of padding. */
function statusTable(header: string[], row: string[]): string {
  const widths = header.map((title, i) => Math.max(title.length, row[i]!.length));
  const rule = `+${widths.map((width) => '-'.repeat(width + 2)).join('+')}+\n`;
  const centred = header.map((title, i) => {
    const gap = widths[i]! - title.length;
    return ' '.repeat(Math.floor(gap / 2)) + title + ' '.repeat(Math.ceil(gap / 2));
  });
  const cells = row.map((cell, i) => cell.padStart(widths[i]!));
  return `${rule}| ${centred.join(' | ')} |\n${rule}| ${cells.join(' | ')} |\n${rule}`;
}
