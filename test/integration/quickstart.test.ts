// The quickstart: the server under test with no flags at all, started in an empty directory, serves
// `etcdctl put foo bar && etcdctl get foo` on etcd's default 127.0.0.1:2379 and keeps its data in
// `<cwd>/default.etcd`. Skipped when 2379 or 2380 is taken (another server on this machine).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { etcdctl } from '../helpers/etcdctl.js';
import { selfCheck, startServerUnderTest } from '../helpers/etcd-process.js';
import { isPortFree } from '../helpers/ports.js';
import { makeTempDir } from '../helpers/process-registry.js';

test(`no flags: serves on 127.0.0.1:2379 with data in ./default.etcd (${selfCheck ? 'real etcd' : 'etcd-ts'})`, async (context) => {
  if (!(await isPortFree(2379)) || !(await isPortFree(2380))) {
    context.skip('port 2379 or 2380 is in use on this machine');
    return;
  }
  const cwd = makeTempDir('quickstart');
  const server = await startServerUnderTest({
    argsOverride: [],
    cwd,
    clientUrlOverride: 'http://127.0.0.1:2379',
    dataDir: join(cwd, 'default.etcd'),
  });
  try {
    // No --endpoints: etcdctl's own default, exactly as a user would type it.
    const put = await etcdctl('', ['put', 'foo', 'bar']);
    expect(put, put.stderr).toMatchObject({ exitCode: 0, stdout: 'OK\n' });
    const get = await etcdctl('', ['get', 'foo']);
    expect(get, get.stderr).toMatchObject({ exitCode: 0, stdout: 'foo\nbar\n' });
    const members = await etcdctl('', ['member', 'list']);
    expect(members.stdout).toMatch(/^[0-9a-f]+, started, default, http:\/\/localhost:2380, http:\/\/localhost:2379, false\n$/);
    expect(existsSync(join(cwd, 'default.etcd')), 'data dir <cwd>/default.etcd').toBe(true);
  } finally {
    await server.stop();
  }
});
