import { isIPv4, isIPv6 } from 'node:net';

/**
 * A minimal DER (ITU-T X.690) reader and writer. The reader walks an X.509 certificate or a
 * PKCS#10 request for the fields node:crypto does not expose (the serial's exact bytes, the
 * Authority Key Identifier, SANs with canonical IPs, the CSR's public key); the writer builds
 * the few structures certkeeper signs itself (the PKCS#10 request, csr.ts), so issuing loads
 * no ASN.1 library.
 */
export interface Tlv {
  /** The identifier octet (class, constructed bit and tag number; we only need low tags). */
  tag: number;
  /** Content octets. */
  value: Buffer;
  /** The whole element, header included (what a signature or SPKI parser wants). */
  raw: Buffer;
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Context-specific tag `[n]`, constructed (EXPLICIT or a constructed IMPLICIT type). */
export const contextConstructed = (n: number): number => 0xa0 | n;
/** Context-specific tag `[n]`, primitive (an IMPLICIT primitive type). */
export const contextPrimitive = (n: number): number => 0x80 | n;

export class DerError extends Error {}

/** Reads the element starting at `offset`. */
export function readTlv(buf: Buffer, offset = 0): Tlv {
  if (offset + 2 > buf.length) throw new DerError('truncated DER header');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte DER tags are not supported');
  let length = buf[offset + 1]!;
  let header = 2;
  if (length & 0x80) {
    // Long form (X.690 §8.1.3.5): the low bits say how many length octets follow.
    const count = length & 0x7f;
    if (count === 0 || count > 4) throw new DerError('unsupported DER length');
    if (offset + 2 + count > buf.length) throw new DerError('truncated DER length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[offset + 2 + i]!;
    header += count;
  }
  const end = offset + header + length;
  if (end > buf.length) throw new DerError('DER element runs past the end of its container');
  return { tag, value: buf.subarray(offset + header, end), raw: buf.subarray(offset, end) };
}

/** The elements inside a constructed element's content octets. */
export function children(value: Buffer): Tlv[] {
  const out: Tlv[] = [];
  let offset = 0;
  while (offset < value.length) {
    const tlv = readTlv(value, offset);
    out.push(tlv);
    offset += tlv.raw.length;
  }
  return out;
}

/** Reads a constructed element of the expected tag and returns its children. */
export function expectConstructed(tlv: Tlv | undefined, tag: number, what: string): Tlv[] {
  if (!tlv || tlv.tag !== tag) throw new DerError(`expected ${what}`);
  return children(tlv.value);
}

/** Dotted-decimal form of an OBJECT IDENTIFIER's content octets (X.690 §8.19). */
export function decodeOid(value: Buffer): string {
  if (value.length === 0) throw new DerError('empty OBJECT IDENTIFIER');
  const first = value[0]!;
  const arcs: number[] = [
    Math.min(2, Math.floor(first / 40)),
    first - 40 * Math.min(2, Math.floor(first / 40)),
  ];
  let acc = 0;
  for (let i = 1; i < value.length; i++) {
    const byte = value[i]!;
    acc = acc * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      arcs.push(acc);
      acc = 0;
    }
  }
  return arcs.join('.');
}

/** UTCTime or GeneralizedTime (RFC 5280 §4.1.2.5: always UTC, "Z", seconds present). */
export function decodeTime(tlv: Tlv): Date {
  const text = tlv.value.toString('latin1');
  let m: RegExpExecArray | null;
  if (tlv.tag === TAG.UTC_TIME && (m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text))) {
    // RFC 5280 §4.1.2.5.1: YY >= 50 is 19YY, otherwise 20YY.
    const yy = Number(m[1]);
    return utc(yy >= 50 ? 1900 + yy : 2000 + yy, m.slice(2));
  }
  if (tlv.tag === TAG.GENERALIZED_TIME && (m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text))) {
    return utc(Number(m[1]), m.slice(2));
  }
  throw new DerError(`unsupported time encoding "${text}"`);
}

function utc(year: number, rest: string[]): Date {
  const [mo, d, h, mi, s] = rest.map(Number) as [number, number, number, number, number];
  const date = new Date(0);
  // setUTCFullYear keeps years below 100 literal (Date.UTC would map 1 to 1901).
  date.setUTCFullYear(year, mo - 1, d);
  date.setUTCHours(h, mi, s, 0);
  return date;
}

/** One element: the tag, the definite length (X.690 §8.1.3: short form below 128), the content. */
export function encodeTlv(tag: number, ...content: Buffer[]): Buffer {
  const value = Buffer.concat(content);
  const length = value.length;
  let header: Buffer;
  if (length < 0x80) header = Buffer.from([tag, length]);
  else {
    const octets: number[] = [];
    for (let n = length; n > 0; n = Math.floor(n / 256)) octets.unshift(n % 256);
    header = Buffer.from([tag, 0x80 | octets.length, ...octets]);
  }
  return Buffer.concat([header, value]);
}

export const encodeSequence = (...items: Buffer[]): Buffer => encodeTlv(TAG.SEQUENCE, ...items);

/** A non-negative INTEGER small enough for a number (versions). */
export function encodeSmallInteger(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 127) throw new DerError(`unsupported INTEGER ${n}`);
  return encodeTlv(TAG.INTEGER, Buffer.from([n]));
}

/** OBJECT IDENTIFIER from its dotted-decimal form (X.690 §8.19: base 128, first two arcs joined). */
export function encodeOid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0)) {
    throw new DerError(`"${dotted}" is not an OBJECT IDENTIFIER`);
  }
  const out: number[] = [];
  for (const arc of [arcs[0]! * 40 + arcs[1]!, ...arcs.slice(2)]) {
    const digits = [arc % 128];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) digits.unshift((n % 128) | 0x80);
    out.push(...digits);
  }
  return encodeTlv(TAG.OID, Buffer.from(out));
}

/** BIT STRING of whole octets, or with `unusedBits` trailing zero bits in the last one. */
export const encodeBitString = (bytes: Buffer, unusedBits = 0): Buffer =>
  encodeTlv(TAG.BIT_STRING, Buffer.from([unusedBits]), bytes);

export const encodeOctetString = (bytes: Buffer): Buffer => encodeTlv(TAG.OCTET_STRING, bytes);

/** The 4 or 16 octets of an IP address in text form (IPv6 with "::" and a dotted IPv4 tail). */
export function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  if (!isIPv6(ip)) throw new DerError(`"${ip}" is not an IP address`);
  let text = ip;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const groups = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const fill = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  const out = Buffer.alloc(16);
  [...left, ...fill, ...right].forEach((group, i) => out.writeUInt16BE(parseInt(group, 16), i * 2));
  return out;
}
