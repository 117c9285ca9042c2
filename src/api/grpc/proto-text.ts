// Requests as etcd writes them into its "request stats" log lines: Go protobuf's compact text form
// (`key:"foo" range_end:"fop" limit:5 sort_order:DESCEND `), with a put's value replaced by its
// size wherever it appears (a Put, a txn's put operations, a txn's value compares), as etcd's
// loggable request types do. Only for logs: the hot path never calls this.
//
// The form, checked against etcd 3.4's debug log for the same requests: every field in field-number
// order followed by one space; proto3 zero values left out except a set oneof member (so a compare
// on mod_revision 0 prints `mod_revision:0`); strings and bytes in double quotes with \n \r \t \"
// and \\ escaped and any other byte outside 0x20-0x7e as a three-digit octal escape; enums by name;
// a nested message as `name:<...> `. A txn is etcd's own layout: `compare:<...> success:<...>
// failure:<...>`, each list joined by single spaces.
import type protobuf from 'protobufjs';
import type { PutRequest } from '../../mvcc/types.js';

type WireObject = Record<string, unknown>;

/** Go's text escaping of a byte string (its writeString: bytes, not runes). */
export function goQuoted(bytes: Buffer | string): string {
  const buffer = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  let text = '"';
  for (const byte of buffer) {
    if (byte === 0x0a) text += '\\n';
    else if (byte === 0x0d) text += '\\r';
    else if (byte === 0x09) text += '\\t';
    else if (byte === 0x22) text += '\\"';
    else if (byte === 0x5c) text += '\\\\';
    else if (byte >= 0x20 && byte < 0x7f) text += String.fromCharCode(byte);
    else text += `\\${byte.toString(8).padStart(3, '0')}`;
  }
  return `${text}"`;
}

function isZero(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '0' || value === '') return true;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return value.length === 0;
  return false;
}

function sortedFields(type: protobuf.Type): protobuf.Field[] {
  return [...type.fieldsArray].sort((a, b) => a.id - b.id);
}

function scalarText(field: protobuf.Field, value: unknown): string {
  const resolved = field.resolvedType;
  if (resolved !== null && 'valuesById' in resolved) {
    const name = (resolved as protobuf.Enum).valuesById[Number(value)];
    return name ?? String(value);
  }
  if (field.type === 'bytes' || field.type === 'string') return goQuoted(value as Buffer | string);
  return String(value);
}

/**
 * Go's CompactTextString of `message` (a decoded request as the gRPC loader gives it: fields by
 * their .proto names, 64-bit integers as strings, enums as numbers, bytes as Buffers).
 */
export function compactText(type: protobuf.Type, message: WireObject): string {
  let text = '';
  for (const field of sortedFields(type)) {
    const value = message[field.name];
    if (value === undefined || value === null) continue;
    const values = field.repeated ? (value as unknown[]) : [value];
    for (const item of values) {
      const nested = field.resolvedType;
      if (nested !== null && 'fieldsArray' in nested) {
        text += `${field.name}:<${compactText(nested as protobuf.Type, item as WireObject)}> `;
        continue;
      }
      if (!field.repeated && field.partOf === null && isZero(item)) continue;
      text += `${field.name}:${scalarText(field, item)} `;
    }
  }
  return text;
}

/** etcd's loggable put: key, value_size, lease, prev_kv, ignore_value, ignore_lease. */
function loggablePutText(key: Buffer | undefined, valueSize: number, lease: string, prevKv: boolean, ignoreValue: boolean, ignoreLease: boolean): string {
  let text = '';
  if (key !== undefined && key.length > 0) text += `key:${goQuoted(key)} `;
  if (valueSize !== 0) text += `value_size:${valueSize} `;
  if (lease !== '0' && lease !== '') text += `lease:${lease} `;
  if (prevKv) text += 'prev_kv:true ';
  if (ignoreValue) text += 'ignore_value:true ';
  if (ignoreLease) text += 'ignore_lease:true ';
  return text;
}

/**
 * What the request stats line needs of a Put, without the request: its key (a copy) and value size.
 * A put's key and value are views of the socket read they arrived in, and a put waits for its Raft
 * cycle with a thousand others: its call must not hold them through that wait (see the server's
 * answerPut).
 */
export interface LoggablePut {
  key: Buffer;
  valueSize: number;
  lease: bigint;
  prevKv: boolean;
  ignoreValue: boolean;
  ignoreLease: boolean;
}

export function loggablePut(request: PutRequest): LoggablePut {
  return {
    key: Buffer.from(request.key), valueSize: request.value.length, lease: request.lease,
    prevKv: request.prevKv, ignoreValue: request.ignoreValue, ignoreLease: request.ignoreLease,
  };
}

export function loggablePutRequestText(put: LoggablePut): string {
  return loggablePutText(put.key, put.valueSize, put.lease.toString(), put.prevKv, put.ignoreValue, put.ignoreLease);
}

function loggableWirePut(put: WireObject): string {
  const value = put.value as Buffer | undefined;
  return loggablePutText(
    put.key as Buffer | undefined, value?.length ?? 0, String(put.lease ?? '0'), put.prev_kv === true, put.ignore_value === true, put.ignore_lease === true,
  );
}

/** A value compare with its value as value_size (etcd's loggableValueCompare). */
function loggableValueCompare(compareType: protobuf.Type, compare: WireObject): string {
  const result = compareType.fields.result!;
  const target = compareType.fields.target!;
  let text = '';
  if (!isZero(compare.result)) text += `result:${scalarText(result, compare.result)} `;
  if (!isZero(compare.target)) text += `target:${scalarText(target, compare.target)} `;
  if (!isZero(compare.key)) text += `key:${goQuoted(compare.key as Buffer)} `;
  const valueSize = (compare.value as Buffer).length;
  if (valueSize !== 0) text += `value_size:${valueSize} `;
  if (!isZero(compare.range_end)) text += `range_end:${goQuoted(compare.range_end as Buffer)} `;
  return text;
}

function loggableRequestOp(opType: protobuf.Type, op: WireObject): string {
  if (op.request_put !== undefined && op.request_put !== null) return `request_put:<${loggableWirePut(op.request_put as WireObject)}>`;
  if (op.request_txn !== undefined && op.request_txn !== null) {
    return `request_txn:<${loggableTxnRequestText(opType.fields.request_txn!.resolvedType as protobuf.Type, op.request_txn as WireObject)}>`;
  }
  return compactText(opType, op);
}

/** etcd's loggable txn: `compare:<...> success:<...> failure:<...>`, values as sizes. */
export function loggableTxnRequestText(txnType: protobuf.Type, txn: WireObject): string {
  const compareType = txnType.fields.compare!.resolvedType as protobuf.Type;
  const opType = txnType.fields.success!.resolvedType as protobuf.Type;
  const compares = ((txn.compare as WireObject[] | undefined) ?? []).map((compare) =>
    (compare.value !== undefined && compare.value !== null ? loggableValueCompare(compareType, compare) : compactText(compareType, compare)));
  const ops = (list: unknown) => ((list as WireObject[] | undefined) ?? []).map((op) => loggableRequestOp(opType, op)).join(' ');
  return `compare:<${compares.join(' ')}> success:<${ops(txn.success)}> failure:<${ops(txn.failure)}>`;
}
