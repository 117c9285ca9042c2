// A data dir written by etcd itself (bbolt in member/snap/db, its WAL in member/wal) is not one
// etcd-ts can read. Started on one, etcd-ts would otherwise bootstrap a new, empty member beside it:
// the keys would seem gone, and a member of a cluster would come back as a stranger. It refuses, and
// says how to move the data over instead.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Throws when `memberDir` holds etcd's own layout and no etcd-ts state. */
export function refuseEtcdDataDir(dataDir: string, memberDir: string): void {
  if (existsSync(join(memberDir, 'db'))) return; // etcd-ts's LevelDB: ours
  const bbolt = join(memberDir, 'snap', 'db');
  const walDir = join(memberDir, 'wal');
  const hasWal = existsSync(walDir) && readdirSync(walDir).some((name) => name.endsWith('.wal'));
  if (!existsSync(bbolt) && !hasWal) return;
  throw new Error(
    `the data dir ${dataDir} was written by etcd (${existsSync(bbolt) ? 'member/snap/db' : 'member/wal'}), which etcd-ts cannot read; ` +
    'start etcd-ts on a new --data-dir and copy the keys over from the etcd it belongs to (e.g. `etcdctl make-mirror`), ' +
    'or start etcd on this one',
  );
}
