// JSON ⇄ wire objects by the rules of etcd 3.4/3.5's grpc-gateway v1 (golang jsonpb with
// OrigName, EmitDefaults false), driven by the .proto reflection so every message is handled alike.
// Input: proto or lowerCamel field names, unknown fields ignored, bytes as padded standard base64,
// 64-bit integers as strings or numbers, enums as names or numbers, null as "not set".
// Output: proto field names, default values omitted (0, "", false, empty lists, enum 0), set
// messages always written (an empty one as {}), 64-bit integers as strings, bytes as base64.
// The wire objects are what src/api/grpc/translate reads and writes: the gateway reuses them.
import type protobuf from 'protobufjs';
import { JsonNumber, type JsonValue } from './json-text.js';

/** The request could not become the proto message: the gateway answers INVALID_ARGUMENT. */
export class JsonFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JsonFormatError';
  }
}

const int64Types = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const int32Types = new Set(['int32', 'uint32', 'sint32', 'fixed32', 'sfixed32']);
const goTypeNames: Record<string, string> = {
  bytes: '[]uint8', string: 'string', bool: 'bool', double: 'float64', float: 'float32',
  int64: 'int64', uint64: 'uint64', sint64: 'int64', fixed64: 'uint64', sfixed64: 'int64',
  int32: 'int32', uint32: 'uint32', sint32: 'int32', fixed32: 'uint32', sfixed32: 'int32',
};
const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const integerPattern = /^-?\d+$/;

/** protoc's json_name: underscores dropped, the letter after each one upper-cased. */
export function jsonNameOf(protoName: string): string {
  return protoName.replace(/_([a-z0-9])/g, (_match, letter: string) => letter.toUpperCase()).replace(/_/g, '');
}

function jsonKind(value: JsonValue): string {
  if (value === null) return 'null';
  if (value instanceof JsonNumber) return 'number';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'object') return 'object';
  return typeof value;
}

function cannotUnmarshal(value: JsonValue, goType: string): JsonFormatError {
  return new JsonFormatError(`json: cannot unmarshal ${jsonKind(value)} into Go value of type ${goType}`);
}

const fieldIndexes = new WeakMap<protobuf.Type, Map<string, protobuf.Field>>();

function fieldIndex(type: protobuf.Type): Map<string, protobuf.Field> {
  let index = fieldIndexes.get(type);
  if (!index) {
    index = new Map();
    for (const field of type.fieldsArray) {
      index.set(field.name, field);
      index.set(jsonNameOf(field.name), field);
    }
    fieldIndexes.set(type, index);
  }
  return index;
}

function isEnum(field: protobuf.Field): field is protobuf.Field & { resolvedType: protobuf.Enum } {
  return field.resolvedType !== null && !('fieldsArray' in field.resolvedType);
}

function isMessage(field: protobuf.Field): field is protobuf.Field & { resolvedType: protobuf.Type } {
  return field.resolvedType !== null && 'fieldsArray' in field.resolvedType;
}

function decodeBase64(text: string): Buffer {
  if (!base64Pattern.test(text)) {
    let at = 0;
    while (at < text.length && /[A-Za-z0-9+/]/.test(text[at]!)) at++;
    // Go reports the offset of the first bad character, or of the incomplete final quantum.
    if (at === text.length) at = text.length - (text.length % 4);
    throw new JsonFormatError(`illegal base64 data at input byte ${at}`);
  }
  return Buffer.from(text, 'base64');
}

function scalarFromJson(field: protobuf.Field, value: JsonValue): unknown {
  if (isMessage(field)) return messageFromJson(field.resolvedType, value);
  if (isEnum(field)) {
    if (typeof value === 'string') {
      const number = field.resolvedType.values[value];
      if (number === undefined) {
        throw new JsonFormatError(`unknown value ${JSON.stringify(value)} for enum ${goEnumName(field.resolvedType)}`);
      }
      return number;
    }
    if (value instanceof JsonNumber && integerPattern.test(value.text)) return Number(value.text);
    throw cannotUnmarshal(value, goEnumName(field.resolvedType));
  }
  const type = field.type;
  if (type === 'bytes') {
    if (typeof value !== 'string') throw cannotUnmarshal(value, '[]uint8');
    return decodeBase64(value);
  }
  if (type === 'string') {
    if (typeof value !== 'string') throw cannotUnmarshal(value, 'string');
    return value;
  }
  if (type === 'bool') {
    if (typeof value !== 'boolean') throw cannotUnmarshal(value, 'bool');
    return value;
  }
  // jsonpb takes integers quoted or bare; the translators range-check the decimal text exactly.
  const text = value instanceof JsonNumber ? value.text : typeof value === 'string' ? value : undefined;
  if (int64Types.has(type) || int32Types.has(type)) {
    if (text === undefined || !integerPattern.test(text)) throw cannotUnmarshal(value, goTypeNames[type] ?? type);
    return int64Types.has(type) ? text : Number(text);
  }
  if (type === 'double' || type === 'float') {
    const number = text === undefined ? Number.NaN : Number(text);
    if (Number.isNaN(number) && text !== 'NaN') throw cannotUnmarshal(value, goTypeNames[type]!);
    return number;
  }
  throw new JsonFormatError(`unsupported field type ${type}`);
}

/** Go names a nested enum Outer_Inner in its messages: keep the same text for clients that match it. */
function goEnumName(enumType: protobuf.Enum): string {
  const parts = [enumType.name];
  let parent = enumType.parent;
  while (parent && 'fieldsArray' in parent) {
    parts.unshift(parent.name);
    parent = parent.parent;
  }
  const packageName = parent && parent.parent ? parent.fullName.replace(/^\./, '') : '';
  return packageName ? `${packageName}.${parts.join('_')}` : parts.join('_');
}

/** A JSON document ⇒ the wire object the translators read (proto field names). */
export function messageFromJson(type: protobuf.Type, value: JsonValue): Record<string, unknown> {
  if (value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value) || value instanceof JsonNumber) {
    throw cannotUnmarshal(value, 'map[string]json.RawMessage');
  }
  const index = fieldIndex(type);
  const wire: Record<string, unknown> = {};
  for (const [key, fieldValue] of Object.entries(value)) {
    const field = index.get(key);
    // etcd's gateway ignores fields it does not know (grpc-gateway's allowUnknownFields default).
    if (!field || fieldValue === null) continue;
    if (field.repeated) {
      if (!Array.isArray(fieldValue)) throw cannotUnmarshal(fieldValue, `[]${goTypeNames[field.type] ?? field.type}`);
      wire[field.name] = fieldValue.filter((element) => element !== null).map((element) => scalarFromJson(field, element));
    } else {
      wire[field.name] = scalarFromJson(field, fieldValue);
    }
  }
  return wire;
}

function isDefaultScalar(value: unknown): boolean {
  if (value === 0 || value === '' || value === false || value === '0' || value === 0n) return true;
  if (value instanceof Uint8Array) return value.length === 0;
  return false;
}

function scalarToJson(field: protobuf.Field, value: unknown): unknown {
  if (isMessage(field)) return messageToJson(field.resolvedType, value as Record<string, unknown>);
  if (isEnum(field)) return field.resolvedType.valuesById[value as number] ?? value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  if (int64Types.has(field.type)) return String(value);
  return value;
}

/** A wire object from the translators ⇒ the JSON-ready object grpc-gateway v1 would write. */
export function messageToJson(type: protobuf.Type, wire: Record<string, unknown>): Record<string, unknown> {
  const json: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    const value = wire[field.name];
    if (value === undefined || value === null) continue;
    if (field.repeated) {
      const list = value as unknown[];
      if (list.length === 0) continue;
      json[field.name] = list.map((element) => scalarToJson(field, element));
      continue;
    }
    if (!isMessage(field) && isDefaultScalar(value)) continue;
    json[field.name] = scalarToJson(field, value);
  }
  return json;
}
