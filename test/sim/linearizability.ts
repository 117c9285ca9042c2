// Owns the linearizability check of client histories against a key-value store made of one
// register per key (put, delete, get, compare-and-swap by value): the history is split by key (each op
// touches one key, and linearizability is compositional), and each key's sub-history is searched
// Wing–Gong style (as porcupine does) with a cache of (linearized set, state) already explored.
// An operation whose outcome the client never learned (timeout, unavailable) has no return: it may
// take effect at any point after its invocation, or never.

export type RegisterValue = string | null;

export type KvInput =
  | { kind: 'get' }
  | { kind: 'put'; value: string }
  | { kind: 'delete' }
  | { kind: 'cas'; expected: RegisterValue; value: string };

export type KvOutput =
  | { kind: 'get'; value: RegisterValue }
  | { kind: 'put' }
  | { kind: 'delete' }
  | { kind: 'cas'; succeeded: boolean };

export interface KvOperation {
  clientId: number;
  key: string;
  input: KvInput;
  /** Undefined when the outcome is unknown (the op may or may not have taken effect). */
  output: KvOutput | undefined;
  invokeMs: number;
  /** Ignored when output is undefined: such an op returns at +infinity. */
  completeMs: number;
}

export interface LinearizabilityResult {
  ok: boolean;
  /** The first key whose history cannot be linearized. */
  failedKey?: string;
  /** That key's operations, sorted by invocation, for the failure message. */
  failedHistory?: KvOperation[];
  /** Ops checked (unknown reads are dropped: they constrain nothing). */
  operationsChecked: number;
}

/** Searches that explore more (linearized set, state) pairs than this give up rather than hang a test run. */
export const exploredStatesMax = 2_000_000;

/** The register model: whether `input` with `output` may happen in `state`, and the state after it. */
function step(state: RegisterValue, input: KvInput, output: KvOutput | undefined): { ok: boolean; next: RegisterValue } {
  switch (input.kind) {
    case 'get':
      return { ok: output?.kind === 'get' && output.value === state, next: state };
    case 'put':
      return { ok: true, next: input.value };
    case 'delete':
      return { ok: true, next: null };
    case 'cas': {
      const matches = state === input.expected;
      // With an unknown outcome the comparison decides: a CAS cannot both fail to match and apply.
      if (output === undefined) return { ok: true, next: matches ? input.value : state };
      if (output.kind !== 'cas') return { ok: false, next: state };
      return { ok: output.succeeded === matches, next: matches ? input.value : state };
    }
  }
}

interface EventNode {
  isCall: boolean;
  id: number;
  timeMs: number;
  /** The call's matching return node (calls only). */
  match: EventNode | undefined;
  prev: EventNode | undefined;
  next: EventNode | undefined;
}

function buildEventList(operations: readonly KvOperation[]): EventNode {
  const events: EventNode[] = [];
  operations.forEach((operation, id) => {
    const returned: EventNode = {
      isCall: false, id, timeMs: operation.output === undefined ? Number.POSITIVE_INFINITY : operation.completeMs,
      match: undefined, prev: undefined, next: undefined,
    };
    events.push({ isCall: true, id, timeMs: operation.invokeMs, match: returned, prev: undefined, next: undefined }, returned);
  });
  // At equal times calls go first: treating the two ops as concurrent is the permissive reading.
  events.sort((a, b) => a.timeMs - b.timeMs || Number(b.isCall) - Number(a.isCall));
  const head: EventNode = { isCall: false, id: -1, timeMs: Number.NEGATIVE_INFINITY, match: undefined, prev: undefined, next: undefined };
  let last = head;
  for (const event of events) {
    last.next = event;
    event.prev = last;
    last = event;
  }
  return head;
}

/** Takes a call and its return out of the list (they are linearized). */
function lift(call: EventNode): void {
  const returned = call.match;
  if (!returned || !call.prev || !returned.prev) throw new Error('lift: malformed event list');
  call.prev.next = call.next;
  if (call.next) call.next.prev = call.prev;
  returned.prev.next = returned.next;
  if (returned.next) returned.next.prev = returned.prev;
}

/** Puts back what lift() took out, in reverse order. */
function unlift(call: EventNode): void {
  const returned = call.match;
  if (!returned || !call.prev || !returned.prev) throw new Error('unlift: malformed event list');
  returned.prev.next = returned;
  if (returned.next) returned.next.prev = returned;
  call.prev.next = call;
  if (call.next) call.next.prev = call;
}

/** Whether one key's operations can be linearized, starting from an absent key (null). */
export function checkRegister(operations: readonly KvOperation[]): boolean {
  const head = buildEventList(operations);
  const linearized = new Uint8Array(operations.length);
  const cache = new Set<string>();
  const stack: Array<{ call: EventNode; state: RegisterValue }> = [];
  let state: RegisterValue = null;
  let entry = head.next;
  while (head.next !== undefined) {
    if (entry === undefined) throw new Error('checkRegister: ran past the end of the history');
    if (entry.isCall) {
      const operation = operations[entry.id];
      if (!operation) throw new Error('checkRegister: bad op id');
      const result = step(state, operation.input, operation.output);
      if (result.ok) {
        linearized[entry.id] = 1;
        const key = `${Buffer.from(linearized).toString('base64')}|${result.next === null ? '\u0000' : result.next}`;
        if (!cache.has(key)) {
          if (cache.size >= exploredStatesMax) throw new Error(`linearizability search explored more than ${exploredStatesMax} states`);
          cache.add(key);
          stack.push({ call: entry, state });
          state = result.next;
          lift(entry);
          entry = head.next;
          continue;
        }
        linearized[entry.id] = 0;
      }
      entry = entry.next;
    } else {
      // Only unknown ops return at +infinity, after every known return: what is left can all take
      // effect at the very end, where nothing observes it.
      if (entry.timeMs === Number.POSITIVE_INFINITY) return true;
      const top = stack.pop();
      if (!top) return false;
      state = top.state;
      linearized[top.call.id] = 0;
      unlift(top.call);
      entry = top.call.next;
    }
  }
  return true;
}

/** Checks a whole multi-key history, key by key. */
export function checkKvHistory(operations: readonly KvOperation[]): LinearizabilityResult {
  const byKey = new Map<string, KvOperation[]>();
  let operationsChecked = 0;
  for (const operation of operations) {
    // A read whose answer never arrived constrains nothing.
    if (operation.input.kind === 'get' && operation.output === undefined) continue;
    let list = byKey.get(operation.key);
    if (!list) byKey.set(operation.key, list = []);
    list.push(operation);
    operationsChecked++;
  }
  for (const [key, list] of byKey) {
    if (!checkRegister(list)) {
      return { ok: false, failedKey: key, failedHistory: [...list].sort((a, b) => a.invokeMs - b.invokeMs), operationsChecked };
    }
  }
  return { ok: true, operationsChecked };
}

/** One line per op, for failure messages: client, times, input and output. */
export function formatHistory(operations: readonly KvOperation[]): string {
  return operations.map((operation) => {
    const input = operation.input.kind === 'get' || operation.input.kind === 'delete' ? operation.input.kind
      : operation.input.kind === 'put' ? `put ${operation.input.value}`
        : `cas ${String(operation.input.expected)} -> ${operation.input.value}`;
    const output = operation.output === undefined ? 'UNKNOWN'
      : operation.output.kind === 'get' ? `= ${String(operation.output.value)}`
        : operation.output.kind === 'cas' ? (operation.output.succeeded ? 'succeeded' : 'failed') : 'ok';
    const end = operation.output === undefined ? '?' : operation.completeMs.toFixed(1);
    return `c${operation.clientId} [${operation.invokeMs.toFixed(1)}, ${end}] ${operation.key} ${input} ${output}`;
  }).join('\n');
}
