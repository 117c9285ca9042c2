// Owns the few DER (ASN.1 distinguished encoding) shapes an X.509 certificate needs, so that
// --auto-tls can build a certificate with node:crypto alone (node parses X.509 but cannot write it).
const TAG_BOOLEAN = 0x01;
const TAG_INTEGER = 0x02;
const TAG_BIT_STRING = 0x03;
const TAG_OCTET_STRING = 0x04;
const TAG_OID = 0x06;
const TAG_UTF8_STRING = 0x0c;
const TAG_UTC_TIME = 0x17;
const TAG_GENERALIZED_TIME = 0x18;
const TAG_SEQUENCE = 0x30;
const TAG_SET = 0x31;

function lengthBytes(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const digits: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) digits.unshift(rest % 256);
  return Buffer.from([0x80 | digits.length, ...digits]);
}

export function tagged(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), lengthBytes(content.length), content]);
}

export function sequence(...items: Buffer[]): Buffer {
  return tagged(TAG_SEQUENCE, Buffer.concat(items));
}

export function set(...items: Buffer[]): Buffer {
  return tagged(TAG_SET, Buffer.concat(items));
}

/** A non-negative integer given as big-endian magnitude bytes. */
export function unsignedInteger(magnitude: Buffer): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  // A set high bit would make the number negative in two's complement.
  const content = trimmed.length > 0 && (trimmed[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
  return tagged(TAG_INTEGER, content.length === 0 ? Buffer.from([0]) : content);
}

export function smallInteger(value: number): Buffer {
  if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) throw new RangeError(`DER integer out of range: ${value}`);
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value);
  return unsignedInteger(bytes);
}

export function boolean(value: boolean): Buffer {
  return tagged(TAG_BOOLEAN, Buffer.from([value ? 0xff : 0x00]));
}

export function octetString(content: Buffer): Buffer {
  return tagged(TAG_OCTET_STRING, content);
}

/** A BIT STRING whose bits fill whole bytes (signatures, keys). */
export function bitString(content: Buffer): Buffer {
  return tagged(TAG_BIT_STRING, Buffer.concat([Buffer.from([0]), content]));
}

/** A named-bit BIT STRING such as keyUsage: `bits` are bit numbers, 0 being the most significant. */
export function namedBits(bits: number[]): Buffer {
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const bit of bits) bytes[Math.floor(bit / 8)]! |= 0x80 >> (bit % 8);
  const unusedBits = 7 - (highest % 8);
  return tagged(TAG_BIT_STRING, Buffer.concat([Buffer.from([unusedBits]), bytes]));
}

export function utf8String(text: string): Buffer {
  return tagged(TAG_UTF8_STRING, Buffer.from(text, 'utf8'));
}

export function objectIdentifier(dotted: string): Buffer {
  const arcs = dotted.split('.').map((arc) => Number(arc));
  if (arcs.length < 2 || arcs.some((arc) => !Number.isSafeInteger(arc) || arc < 0)) throw new Error(`bad OID ${dotted}`);
  const out: number[] = [arcs[0]! * 40 + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const groups: number[] = [];
    let rest = arc;
    do {
      groups.unshift(rest % 128);
      rest = Math.floor(rest / 128);
    } while (rest > 0);
    for (let i = 0; i < groups.length - 1; i++) groups[i]! |= 0x80;
    out.push(...groups);
  }
  return tagged(TAG_OID, Buffer.from(out));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050 on. */
export function time(date: Date): Buffer {
  const iso = date.toISOString();
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  if (date.getUTCFullYear() < 2050) return tagged(TAG_UTC_TIME, Buffer.from(`${digits.slice(2)}Z`, 'ascii'));
  return tagged(TAG_GENERALIZED_TIME, Buffer.from(`${digits}Z`, 'ascii'));
}

/** Context-specific tag `number`: constructed (explicit wrapping) or primitive (implicit). */
export function contextTag(number: number, content: Buffer, constructed: boolean): Buffer {
  return tagged((constructed ? 0xa0 : 0x80) | number, content);
}
