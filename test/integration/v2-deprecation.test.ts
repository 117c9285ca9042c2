// --v2-deprecation (etcd 3.5): from write-only on the v2 API cannot be enabled, and a member that
// restarts holding v2 data refuses to start (at not-yet it warns), with etcd 3.5's messages. etcd
// 3.4 has no such flag, so this runs against etcd-ts only.
import { afterAll, describe, expect, test } from 'vitest';
import { startEtcdTs, type EtcdProcess } from '../helpers/index.js';

const started: EtcdProcess[] = [];

afterAll(async () => {
  await Promise.all(started.map((server) => server.stop()));
});

async function start(options: Parameters<typeof startEtcdTs>[0]): Promise<EtcdProcess> {
  const server = await startEtcdTs({ startTimeoutMs: 30_000, ...options });
  started.push(server);
  return server;
}

/** The startup error of a member expected to exit: the helper's message carries its output. */
async function startupFailure(options: Parameters<typeof startEtcdTs>[0]): Promise<string> {
  try {
    await start(options);
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  throw new Error('the member started');
}

describe('--v2-deprecation', () => {
  test('--enable-v2 with a stage past not-yet is refused', async () => {
    for (const stage of ['write-only', 'gone']) {
      const message = await startupFailure({ extraArgs: ['--enable-v2', `--v2-deprecation=${stage}`] });
      expect(message).toContain(`--enable-v2 and --v2-deprecation=${stage} are mutually exclusive`);
    }
  });

  test('a restarted member with v2 data warns at not-yet and refuses to start from write-only on', async () => {
    const first = await start({ extraArgs: ['--enable-v2'] });
    const put = await fetch(`${first.clientUrl}/v2/keys/services/web`, {
      method: 'PUT', body: new URLSearchParams({ value: '10.0.0.1:80' }), signal: AbortSignal.timeout(5000),
    });
    expect(put.status).toBe(201);
    await first.stop();
    const again = { dataDir: first.dataDir, clientPort: first.clientPort, peerPort: first.peerPort };

    for (const stage of ['write-only', 'write-only-drop-data', 'gone']) {
      const message = await startupFailure({ ...again, extraArgs: [`--v2-deprecation=${stage}`] });
      expect(message).toContain(`detected disallowed custom content in v2store for stage --v2-deprecation=${stage}`);
    }

    // Refused before anything changed: the member starts at not-yet, warns, and still has the data.
    const restarted = await start({ ...again, extraArgs: ['--enable-v2'] });
    expect(restarted.output()).toContain(
      'detected custom v2store content. Etcd v3.5 is the last version allowing to access it using API v2. Please remove the content.',
    );
    const get = await fetch(`${restarted.clientUrl}/v2/keys/services/web`, { signal: AbortSignal.timeout(5000) });
    expect(((await get.json()) as { node: { value: string } }).node.value).toBe('10.0.0.1:80');
    await restarted.stop();
  });

  test('a restarted member without v2 data starts at write-only, without the warning', async () => {
    const first = await start({});
    await first.stop();
    const restarted = await start({
      dataDir: first.dataDir, clientPort: first.clientPort, peerPort: first.peerPort, extraArgs: ['--v2-deprecation=write-only'],
    });
    expect(restarted.output()).not.toContain('custom v2store content');
    await restarted.stop();
  });
});
