/**
 * Just enough of a TLS ClientHello (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2) to read the two
 * extensions a tls-alpn-01 responder decides on before it answers: server_name (RFC 6066
 * §3) and application_layer_protocol_negotiation (RFC 7301 §3.1). nginx's ssl_preread does
 * the same. Node's TLS server only hands SNI to a callback and completes a handshake that
 * offers no ALPN at all, so the responder reads the hello itself first.
 */
export type ClientHello =
  | { state: 'incomplete' }
  | { state: 'invalid'; reason: string }
  | { state: 'complete'; serverName: string | undefined; alpn: string[] };

const HANDSHAKE_RECORD = 0x16;
const CLIENT_HELLO = 0x01;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
/** RFC 8446 §5.1: a record's fragment is at most 2^14 bytes. */
const MAX_FRAGMENT = 16_384;
/** A ClientHello beyond this is no validation attempt we need to read. */
export const MAX_CLIENT_HELLO = 4 * (MAX_FRAGMENT + 5);

class Truncated extends Error {}

/** Reads the ClientHello at the start of `data` (the bytes received so far). */
export function parseClientHello(data: Buffer): ClientHello {
  // The handshake message may be split over several records: collect their fragments.
  const fragments: Buffer[] = [];
  let offset = 0;
  let needed: number | undefined;
  let have = 0;
  while (needed === undefined || have < needed) {
    if (data.length < offset + 5) return incompleteOr(data);
    if (data[offset] !== HANDSHAKE_RECORD) return { state: 'invalid', reason: 'not a TLS handshake' };
    const length = data.readUInt16BE(offset + 3);
    if (length === 0 || length > MAX_FRAGMENT) return { state: 'invalid', reason: 'bad TLS record length' };
    if (data.length < offset + 5 + length) return incompleteOr(data);
    const fragment = data.subarray(offset + 5, offset + 5 + length);
    fragments.push(fragment);
    have += fragment.length;
    offset += 5 + length;
    if (needed === undefined) {
      const joined = Buffer.concat(fragments);
      if (joined.length < 4) continue;
      if (joined[0] !== CLIENT_HELLO) return { state: 'invalid', reason: 'not a ClientHello' };
      needed = 4 + joined.readUIntBE(1, 3);
      if (needed > MAX_CLIENT_HELLO) return { state: 'invalid', reason: 'ClientHello too large' };
    }
  }
  try {
    return { state: 'complete', ...readBody(Buffer.concat(fragments).subarray(4, needed)) };
  } catch (err) {
    if (err instanceof Truncated || err instanceof RangeError) {
      return { state: 'invalid', reason: 'malformed ClientHello' };
    }
    throw err;
  }
}

function incompleteOr(data: Buffer): ClientHello {
  return data.length > MAX_CLIENT_HELLO
    ? { state: 'invalid', reason: 'ClientHello too large' }
    : { state: 'incomplete' };
}

function readBody(body: Buffer): { serverName: string | undefined; alpn: string[] } {
  const r = new Reader(body);
  r.skip(2 + 32); // legacy_version, random
  r.skip(r.u8()); // legacy_session_id
  r.skip(r.u16()); // cipher_suites
  r.skip(r.u8()); // legacy_compression_methods
  let serverName: string | undefined;
  const alpn: string[] = [];
  if (r.done()) return { serverName, alpn };
  const extensions = new Reader(r.take(r.u16()));
  while (!extensions.done()) {
    const type = extensions.u16();
    const ext = new Reader(extensions.take(extensions.u16()));
    if (type === EXT_SERVER_NAME) {
      const list = new Reader(ext.take(ext.u16()));
      while (!list.done()) {
        const nameType = list.u8();
        const name = list.take(list.u16());
        if (nameType === 0) serverName = name.toString('latin1');
      }
    } else if (type === EXT_ALPN) {
      const list = new Reader(ext.take(ext.u16()));
      while (!list.done()) alpn.push(list.take(list.u8()).toString('latin1'));
    }
  }
  return { serverName, alpn };
}

class Reader {
  private offset = 0;
  constructor(private readonly buf: Buffer) {}
  done(): boolean {
    return this.offset >= this.buf.length;
  }
  u8(): number {
    return this.take(1)[0]!;
  }
  u16(): number {
    return this.take(2).readUInt16BE(0);
  }
  skip(n: number): void {
    this.take(n);
  }
  take(n: number): Buffer {
    if (this.offset + n > this.buf.length) throw new Truncated();
    const out = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
}
