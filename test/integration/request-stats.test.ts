// etcd's "request stats" log line for unary calls: at debug level for every call, and as a warning
// for a call slower than --warning-unary-request-duration. The debug lines are checked against
// etcd-ts and, with COMPAT_SELF_CHECK=1, a real etcd 3.4 (which logs the same line at debug level):
// the figures and request texts below are what etcd 3.4 logged for these etcdctl commands. etcd 3.4
// has no warning flag (3.5 added it), so the warning is checked against etcd-ts only.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { etcdctl, selfCheck, startEtcdTs, startServerUnderTest, type EtcdProcess } from '../helpers/index.js';

let debugServer: EtcdProcess;
let warnServer: EtcdProcess | undefined;

beforeAll(async () => {
  [debugServer, warnServer] = await Promise.all([
    startServerUnderTest({ extraArgs: ['--logger=zap', '--log-level=debug'] }),
    selfCheck ? Promise.resolve(undefined) : startEtcdTs({ extraArgs: ['--warning-unary-request-duration=1ns'] }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([debugServer?.stop(), warnServer?.stop()]);
});

type StatsLine = Record<string, unknown>;

function statsLines(server: EtcdProcess): StatsLine[] {
  return server.output().split('\n').filter((line) => line.includes('"request stats"')).map((line) => JSON.parse(line) as StatsLine);
}

async function run(server: EtcdProcess, args: string[], input?: string): Promise<void> {
  const result = await etcdctl(server.clientUrl, args, input === undefined ? {} : { input });
  expect(result.exitCode, result.stderr).toBe(0);
}

/** The line for the last call of `method` once it is logged (a line is written after the answer). */
async function lastLineOf(server: EtcdProcess, method: string): Promise<StatsLine> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const line = statsLines(server).filter((candidate) => candidate['response type'] === method).at(-1);
    if (line !== undefined || Date.now() > deadline) {
      expect(line, `no request stats line for ${method}`).toBeDefined();
      return line!;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const txnInput = 'mod("foo") = "0"\nvalue("x") = "y"\ncreate("c") > "2"\n\nput foo bar2\nget a b\ndel zz\n\nput foo bar3\nget q\n\n';

describe(`request stats (${selfCheck ? 'real etcd' : 'etcd-ts'})`, () => {
  test('every unary call is logged at debug level with etcd\'s figures and its request in text form', async () => {
    const expectations: Array<{ args: string[]; input?: string; method: string; figures: StatsLine }> = [
      {
        args: ['put', 'foo', 'bar'], method: '/etcdserverpb.KV/Put',
        figures: { 'request count': 1, 'request size': 10, 'response count': 0, 'request content': 'key:"foo" value_size:3 ' },
      },
      {
        // Quotes and backslashes escaped, the value only as its size.
        args: ['put', '--prev-kv', 'we"ird\\key', 'v\n1'], method: '/etcdserverpb.KV/Put',
        figures: { 'request count': 1, 'request size': 19, 'request content': 'key:"we\\"ird\\\\key" value_size:3 prev_kv:true ' },
      },
      {
        args: ['get', 'foo', '--prefix', '--limit', '5', '--order', 'DESCEND', '--sort-by', 'MODIFY'], method: '/etcdserverpb.KV/Range',
        figures: {
          'request count': 0, 'request size': 16, 'response count': 1,
          'request content': 'key:"foo" range_end:"fop" limit:5 sort_order:DESCEND sort_target:MOD ',
        },
      },
      {
        args: ['del', 'foo'], method: '/etcdserverpb.KV/DeleteRange',
        figures: { 'request count': 0, 'request size': 5, 'response count': 1, 'request content': 'key:"foo" ' },
      },
      {
        // Bytes outside printable ASCII as octal escapes.
        args: ['get', '\u0001bin~'], method: '/etcdserverpb.KV/Range',
        figures: { 'request count': 0, 'request size': 7, 'response count': 0, 'request content': 'key:"\\001bin~" ' },
      },
      {
        // The failure branch ran: its two operations are the request.
        args: ['txn'], input: txnInput, method: '/etcdserverpb.KV/Txn',
        figures: {
          'request count': 2, 'request size': 18, 'response count': 0,
          'request content': 'compare:<target:MOD key:"foo" mod_revision:0  target:VALUE key:"x" value_size:1  result:GREATER target:CREATE key:"c" create_revision:2 > '
            + 'success:<request_put:<key:"foo" value_size:4 > request_range:<key:"a" range_end:"b" >  request_delete_range:<key:"zz" > > '
            + 'failure:<request_put:<key:"foo" value_size:4 > request_range:<key:"q" > >',
        },
      },
      {
        args: ['lease', 'grant', '100'], method: '/etcdserverpb.Lease/LeaseGrant',
        figures: { 'request count': -1, 'request size': -1, 'response count': -1, 'response size': -1, 'request content': '' },
      },
    ];
    for (const { args, input, method, figures } of expectations) {
      const before = statsLines(debugServer).length;
      await run(debugServer, args, input);
      const line = await lastLineOf(debugServer, method);
      expect(statsLines(debugServer).length).toBeGreaterThan(before);
      expect(line, args.join(' ')).toMatchObject({ level: 'debug', ...figures });
      expect(line.remote).toMatch(/^127\.0\.0\.1:\d+$/);
      // Response sizes include the header, whose member and cluster IDs (and so their lengths)
      // depend on the test's ports: only their presence is checked.
      if (figures['response count'] !== -1) expect(line['response size']).toBeGreaterThan(0);
      expect(line['time spent']).toMatch(/^\d+(\.\d+)?(ns|µs|ms|s)$/);
      expect(Number.isNaN(Date.parse(String(line['start time'])))).toBe(false);
    }
  });

  test.skipIf(selfCheck)('a call slower than --warning-unary-request-duration is a warning', async () => {
    await run(warnServer!, ['put', 'slow/key', 'value']);
    const line = await lastLineOf(warnServer!, '/etcdserverpb.KV/Put');
    expect(line).toMatchObject({ level: 'warn', 'request count': 1, 'request content': 'key:"slow/key" value_size:5 ' });
    // At info level, and over the threshold only: every line is a warning.
    expect(statsLines(warnServer!).every((candidate) => candidate.level === 'warn')).toBe(true);
  });

  test.skipIf(selfCheck)('at the default threshold (300 ms) and info level, quick calls are not logged', async () => {
    const server = await startEtcdTs();
    try {
      await run(server, ['put', 'quick', 'value']);
      await run(server, ['get', 'quick']);
      expect(statsLines(server)).toEqual([]);
    } finally {
      await server.stop();
    }
  });
});
