// /health (etcd 3.5's JSON answer), /livez and /readyz (etcd 3.5.11+'s named checks). Every answer
// comes from asking the server now: its alarms, whether it knows a leader, and a Range that must
// succeed (linearizable unless the probe asks for serializable), bounded by healthCheckTimeoutMs.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { EtcdError } from '../../errors.js';
import { AlarmAction, AlarmType, type EtcdServerApi } from '../../server/server-api.js';

export interface HealthOptions {
  server: EtcdServerApi;
  /** etcd gives the probe's Range the request timeout (5 s + 2 × election timeout). */
  healthCheckTimeoutMs: number;
  /** Counts /health outcomes (etcd_server_health_success / _failures). */
  onHealthChecked?: (healthy: boolean) => void;
}

export interface HealthAnswer {
  health: 'true' | 'false';
  reason: string;
}

const alarmNames: Record<number, string> = { [AlarmType.NONE]: 'NONE', [AlarmType.NOSPACE]: 'NOSPACE', [AlarmType.CORRUPT]: 'CORRUPT' };

function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new EtcdError('Timeout')), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Health checks read the member's own state, as etcd's do: they pass auth. */
const INTERNAL = { internal: true } as const;

async function activeAlarms(server: EtcdServerApi): Promise<number[]> {
  const { alarms } = await server.alarm(AlarmAction.GET, 0n, AlarmType.NONE, INTERNAL);
  return alarms.map((alarm) => alarm.alarm);
}

async function rangeProbe(server: EtcdServerApi, serializable: boolean, timeoutMs: number): Promise<void> {
  await withTimeout(server.range({
    key: Buffer.from('health'), rangeEnd: Buffer.alloc(0), limit: 1, revision: 0, sortOrder: 0, sortTarget: 0,
    serializable, keysOnly: true, countOnly: false, minModRevision: 0, maxModRevision: 0, minCreateRevision: 0,
    maxCreateRevision: 0,
  }, INTERNAL), timeoutMs);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** etcd's checkHealth: alarms not excluded, then the leader (unless serializable), then a Range. */
export async function checkHealth(options: HealthOptions, excludedAlarms: Set<string>, serializable: boolean): Promise<HealthAnswer> {
  const { server } = options;
  try {
    for (const alarm of await withTimeout(activeAlarms(server), options.healthCheckTimeoutMs)) {
      const name = alarmNames[alarm] ?? 'UNKNOWN';
      if (excludedAlarms.has(name)) continue;
      return { health: 'false', reason: `ALARM ${name}` };
    }
    if (!serializable && (await withTimeout(server.status(INTERNAL), options.healthCheckTimeoutMs)).leader === 0n) {
      return { health: 'false', reason: 'RAFT NO LEADER' };
    }
    await rangeProbe(server, serializable, options.healthCheckTimeoutMs);
  } catch (error) {
    return { health: 'false', reason: `RANGE ERROR:${errorText(error)}` };
  }
  return { health: 'true', reason: '' };
}

function queryValues(request: FastifyRequest, name: string): string[] {
  const value = (request.query as Record<string, string | string[] | undefined>)[name];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** As Go's http.Error: plain text, nosniff, a trailing newline. */
async function plainError(reply: FastifyReply, status: number, text: string): Promise<void> {
  await reply.code(status).type('text/plain; charset=utf-8').header('X-Content-Type-Options', 'nosniff').send(`${text}\n`);
}

async function methodNotAllowed(reply: FastifyReply): Promise<void> {
  reply.header('Allow', 'GET');
  await plainError(reply, 405, 'Method Not Allowed');
}

type NamedCheck = (options: HealthOptions) => Promise<void>;

const serializableRead: NamedCheck = (options) => rangeProbe(options.server, true, options.healthCheckTimeoutMs);
const linearizableRead: NamedCheck = (options) => rangeProbe(options.server, false, options.healthCheckTimeoutMs);
const dataCorruption: NamedCheck = async (options) => {
  if ((await activeAlarms(options.server)).includes(AlarmType.CORRUPT)) throw new Error('alarm activated: CORRUPT');
};
const nonLearner: NamedCheck = async (options) => {
  if ((await withTimeout(options.server.status(INTERNAL), options.healthCheckTimeoutMs)).isLearner) throw new Error('this member is a learner');
};

const probeChecks: Record<'livez' | 'readyz', Array<[string, NamedCheck]>> = {
  livez: [['serializable_read', serializableRead]],
  readyz: [['data_corruption', dataCorruption], ['serializable_read', serializableRead], ['linearizable_read', linearizableRead], ['non_learner', nonLearner]],
};

async function runChecks(options: HealthOptions, checks: Array<[string, NamedCheck]>, excluded: Set<string>): Promise<{ ok: boolean; report: string }> {
  let ok = true;
  let report = '';
  for (const [name, check] of checks) {
    if (excluded.has(name)) {
      report += `[+]${name} excluded: ok\n`;
      continue;
    }
    try {
      await check(options);
      report += `[+]${name} ok\n`;
    } catch (error) {
      ok = false;
      report += `[-]${name} failed: ${errorText(error)}\n`;
    }
  }
  return { ok, report };
}

export function registerHealth(app: FastifyInstance, options: HealthOptions): void {
  app.all('/health', async (request, reply) => {
    if (request.method !== 'GET') { await methodNotAllowed(reply); return; }
    const excluded = new Set(queryValues(request, 'exclude'));
    const serializable = queryValues(request, 'serializable')[0] === 'true';
    const answer = await checkHealth(options, excluded, serializable);
    options.onHealthChecked?.(answer.health === 'true');
    const body = JSON.stringify(answer);
    if (answer.health !== 'true') { await plainError(reply, 503, body); return; }
    await reply.code(200).type('text/plain; charset=utf-8').send(body);
  });

  for (const probe of ['livez', 'readyz'] as const) {
    const checks = probeChecks[probe];
    const serve = async (request: FastifyRequest, reply: FastifyReply, selected: Array<[string, NamedCheck]>): Promise<void> => {
      if (request.method !== 'GET') { await methodNotAllowed(reply); return; }
      const { ok, report } = await runChecks(options, selected, new Set(queryValues(request, 'exclude')));
      if (!ok) { await plainError(reply, 503, `${report}${probe} check failed`); return; }
      const verbose = (request.query as Record<string, unknown>).verbose !== undefined;
      await reply.code(200).type('text/plain; charset=utf-8').header('X-Content-Type-Options', 'nosniff')
        .send(verbose ? `${report}${probe} check passed\n` : 'ok\n');
    };
    app.all(`/${probe}`, (request, reply) => serve(request, reply, checks));
    for (const check of checks) app.all(`/${probe}/${check[0]}`, (request, reply) => serve(request, reply, [check]));
  }
}
