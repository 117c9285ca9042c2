// Checks that every known field of an incoming protobuf message uses the wire type its declaration
// requires, before protobufjs decodes it. protobufjs reads a field by its declared type whatever the
// wire says, so a varint sent for a bytes field would be decoded as a length and yield garbage
// rather than an error; Go's decoder (and so etcd) rejects it. Unknown fields are skipped.
import protobuf from 'protobufjs';

const WireType = { VARINT: 0, FIXED64: 1, LENGTH_DELIMITED: 2, FIXED32: 5 } as const;

/** protobufjs decodes nested messages recursively; the same bound protects both. */
export const messageNestingDepthMax = 100;

interface FieldRule {
  wireType: number;
  /** Repeated scalars may also arrive packed (length-delimited). */
  packable: boolean;
  message?: protobuf.Type;
}

const rulesByType = new WeakMap<protobuf.Type, Map<number, FieldRule>>();

function scalarWireType(type: string): number {
  const basic = (protobuf.types.basic as Record<string, number | undefined>)[type];
  return basic ?? WireType.LENGTH_DELIMITED;
}

function rulesOf(type: protobuf.Type): Map<number, FieldRule> {
  let rules = rulesByType.get(type);
  if (rules) return rules;
  rules = new Map();
  for (const field of type.fieldsArray) {
    field.resolve();
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) {
      rules.set(field.id, { wireType: WireType.LENGTH_DELIMITED, packable: false, message: resolved });
    } else {
      const wireType = resolved instanceof protobuf.Enum ? WireType.VARINT : scalarWireType(field.type);
      rules.set(field.id, { wireType, packable: field.repeated && wireType !== WireType.LENGTH_DELIMITED });
    }
  }
  rulesByType.set(type, rules);
  return rules;
}

export class WireTypeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireTypeError';
  }
}

function check(type: protobuf.Type, reader: protobuf.Reader, end: number, depth: number): void {
  if (depth > messageNestingDepthMax) throw new WireTypeError(`messages nested deeper than ${messageNestingDepthMax}`);
  const rules = rulesOf(type);
  while (reader.pos < end) {
    const tag = reader.uint32();
    const fieldNumber = tag >>> 3;
    const wireType = tag & 7;
    if (fieldNumber === 0) throw new WireTypeError(`${type.name}: illegal field number 0`);
    const rule = rules.get(fieldNumber);
    if (rule === undefined) {
      reader.skipType(wireType);
      continue;
    }
    if (rule.message !== undefined && wireType === WireType.LENGTH_DELIMITED) {
      const length = reader.uint32();
      const nestedEnd = reader.pos + length;
      if (nestedEnd > end) throw new WireTypeError(`${type.name}: field ${fieldNumber} overruns its message`);
      check(rule.message, reader, nestedEnd, depth + 1);
      continue;
    }
    if (wireType !== rule.wireType && !(rule.packable && wireType === WireType.LENGTH_DELIMITED)) {
      throw new WireTypeError(`${type.name}: field ${fieldNumber} has wire type ${wireType}, expected ${rule.wireType}`);
    }
    reader.skipType(wireType);
  }
  if (reader.pos !== end) throw new WireTypeError(`${type.name}: truncated message`);
}

/** Throws WireTypeError (or protobufjs's range error on truncation) when `bytes` cannot be a `type`. */
export function checkWireTypes(type: protobuf.Type, bytes: Uint8Array): void {
  const reader = protobuf.Reader.create(bytes);
  check(type, reader, bytes.length, 0);
}
