// The simulated clients of the KV simulation: each issues one operation at a time (put, delete, get,
// compare-and-swap) on a few shared keys, and their history — invoke and response times in simulated
// time, or no response at all — is what checkKvHistory judges. This module owns the choice of
// operations, their encoding as the InternalRequest a member proposes, and the history bookkeeping;
// the simulator decides where each operation goes and when it is answered.
import { CompareResult, CompareTarget, type Compare, type TxnRequest } from '../../src/mvcc/types.js';
import type { NodeId } from '../../src/raft/types.js';
import type { InternalRequest } from '../../src/server/requests.js';
import type { KvInput, KvOperation, KvOutput } from './linearizability.js';
import type { Prng } from './prng.js';

/** Few keys, so clients contend on them and a stale read has something to miss. */
export const simKeys = ['a', 'b', 'c'] as const;
/** Bounds the history of one run (and the checker's work): past it, clients stop issuing operations. */
export const clientOperationsMax = 600;

export interface PendingOperation {
  operation: KvOperation;
  memberId: NodeId;
  /** Writes: the id the proposing member waits on. */
  requestId: number | undefined;
  /** Reads: the read-index context, and the index once the member has it. */
  readContext: string | undefined;
  readIndex: number | undefined;
  /** Past this step the client gives up: the outcome becomes unknown. */
  deadlineStep: number;
}

function emptyCompare(key: Buffer): Compare {
  return { result: CompareResult.EQUAL, target: CompareTarget.VALUE, key, rangeEnd: Buffer.alloc(0), number: 0, value: Buffer.alloc(0), lease: 0n };
}

/** etcd's compare-and-swap: VALUE = expected, or CREATE = 0 for "absent" (a VALUE compare on a missing key fails). */
function casTxn(key: string, expected: string | null, value: string): TxnRequest {
  const keyBytes = Buffer.from(key);
  const compare = expected === null
    ? { ...emptyCompare(keyBytes), target: CompareTarget.CREATE, number: 0 }
    : { ...emptyCompare(keyBytes), value: Buffer.from(expected) };
  return {
    compare: [compare],
    success: [{ put: { key: keyBytes, value: Buffer.from(value), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false } }],
    failure: [],
  };
}

/** The request a member proposes for a write operation. */
export function encodeWrite(requestId: number, key: string, input: KvInput): InternalRequest {
  const keyBytes = Buffer.from(key);
  switch (input.kind) {
    case 'put':
      return { requestId, put: { key: keyBytes, value: Buffer.from(input.value), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false } };
    case 'delete':
      return { requestId, deleteRange: { key: keyBytes, rangeEnd: Buffer.alloc(0), prevKv: false } };
    case 'cas':
      return { requestId, txn: casTxn(key, input.expected, input.value) };
    case 'get':
      throw new Error('sim clients: a get is not proposed');
  }
}

export class SimClients {
  readonly history: KvOperation[] = [];
  private readonly pending = new Map<number, PendingOperation>();
  /** What each client last saw of each key: its compare-and-swaps mostly expect that. */
  private readonly lastSeen = new Map<string, string | null>();
  private valueCounter = 0;
  unknownOutcomes = 0;

  constructor(private readonly clientCount: number, private readonly prng: Prng) {}

  /** A client with no operation in flight, if any may still issue one. */
  idleClient(): number | undefined {
    if (this.history.length >= clientOperationsMax) return undefined;
    const idle = Array.from({ length: this.clientCount }, (_, i) => i).filter((id) => !this.pending.has(id));
    return this.prng.pick(idle);
  }

  /** Chooses the next operation of `clientId`. */
  chooseOperation(clientId: number): { key: string; input: KvInput } {
    const key = this.prng.pick(simKeys)!;
    const value = `c${clientId}.${this.valueCounter++}`;
    const roll = this.prng.next();
    if (roll < 0.35) return { key, input: { kind: 'get' } };
    if (roll < 0.65) return { key, input: { kind: 'put', value } };
    if (roll < 0.72) return { key, input: { kind: 'delete' } };
    const seen = this.lastSeen.get(`${clientId}/${key}`);
    const expected = seen !== undefined && this.prng.chance(0.8) ? seen : this.prng.chance(0.5) ? null : `c${clientId}.${this.valueCounter - 2}`;
    return { key, input: { kind: 'cas', expected, value } };
  }

  /** Records the invocation; the operation stays pending until answered or abandoned. */
  invoke(clientId: number, key: string, input: KvInput, nowStep: number, where: Omit<PendingOperation, 'operation'>): void {
    if (this.pending.has(clientId)) throw new Error(`sim clients: client ${clientId} already has an operation in flight`);
    const operation: KvOperation = { clientId, key, input, output: undefined, invokeMs: nowStep, completeMs: 0 };
    this.history.push(operation);
    this.pending.set(clientId, { operation, ...where });
  }

  /** The client never hears back: it may or may not have taken effect. */
  abandon(clientId: number): void {
    if (this.pending.delete(clientId)) this.unknownOutcomes++;
  }

  /** The client heard that its request was refused before it reached the log: it had no effect. */
  refused(clientId: number): void {
    const pending = this.pending.get(clientId);
    if (!pending) return;
    this.pending.delete(clientId);
    this.history.splice(this.history.indexOf(pending.operation), 1);
  }

  complete(clientId: number, output: KvOutput, nowStep: number): void {
    const pending = this.pending.get(clientId);
    if (!pending) throw new Error(`sim clients: client ${clientId} answered with nothing in flight`);
    pending.operation.output = output;
    pending.operation.completeMs = nowStep;
    this.pending.delete(clientId);
    const { key, input } = pending.operation;
    const seen = `${clientId}/${key}`;
    if (output.kind === 'get') this.lastSeen.set(seen, output.value);
    else if (input.kind === 'put') this.lastSeen.set(seen, input.value);
    else if (input.kind === 'delete') this.lastSeen.set(seen, null);
    else if (input.kind === 'cas' && output.kind === 'cas' && output.succeeded) this.lastSeen.set(seen, input.value);
  }

  /** Pending operations as [clientId, operation] pairs (a copy: callers complete or abandon while iterating). */
  inFlight(): Array<[number, PendingOperation]> {
    return [...this.pending.entries()];
  }
}
