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

const invalid = (reason: string): ClientHello => ({ state: 'invalid', reason });

/**
 * Reads a ClientHello as its bytes arrive: each received byte is looked at once, whatever
 * the record sizes. A hello may come in any number of records (RFC 8446 §5.1), down to one
 * byte of handshake each; re-reading everything received on every chunk made 64 KiB of
 * 6-byte records cost seconds of CPU.
 */
export class ClientHelloReader {
  /** Bytes examined: stays within twice the bytes pushed (tests and bench/tls-hello.ts read it). */
  work = 0;
  private received = 0;
  private result: ClientHello = { state: 'incomplete' };
  /** The record header being read, and how much of the current record's fragment is still to come. */
  private readonly recordHeader = Buffer.alloc(5);
  private recordHeaderHave = 0;
  private fragmentLeft = 0;
  /** The handshake message: its 4-byte header (type, length), then its body, sized once known. */
  private readonly messageHeader = Buffer.alloc(4);
  private messageHeaderHave = 0;
  private body: Buffer | undefined;
  private bodyHave = 0;

  /** Takes the next bytes received; the answer stays the same once it is not 'incomplete'. */
  push(chunk: Buffer): ClientHello {
    if (this.result.state !== 'incomplete') return this.result;
    this.received += chunk.length;
    let at = 0;
    while (at < chunk.length && this.result.state === 'incomplete') {
      if (this.fragmentLeft === 0) {
        const n = Math.min(5 - this.recordHeaderHave, chunk.length - at);
        chunk.copy(this.recordHeader, this.recordHeaderHave, at, at + n);
        this.recordHeaderHave += n;
        this.work += n;
        at += n;
        if (this.recordHeaderHave < 5) break;
        this.recordHeaderHave = 0;
        const length = this.recordHeader.readUInt16BE(3);
        if (this.recordHeader[0] !== HANDSHAKE_RECORD) this.result = invalid('not a TLS handshake');
        else if (length === 0 || length > MAX_FRAGMENT) this.result = invalid('bad TLS record length');
        else this.fragmentLeft = length;
        continue;
      }
      const n = Math.min(this.fragmentLeft, chunk.length - at);
      this.fragmentLeft -= n;
      this.message(chunk.subarray(at, at + n));
      at += n;
    }
    if (this.result.state === 'incomplete' && this.received > MAX_CLIENT_HELLO) {
      this.result = invalid('ClientHello too large');
    }
    return this.result;
  }

  /** Bytes of the handshake message, in order. */
  private message(bytes: Buffer): void {
    this.work += bytes.length;
    let at = 0;
    if (!this.body) {
      at = Math.min(4 - this.messageHeaderHave, bytes.length);
      bytes.copy(this.messageHeader, this.messageHeaderHave, 0, at);
      this.messageHeaderHave += at;
      if (this.messageHeaderHave < 4) return;
      if (this.messageHeader[0] !== CLIENT_HELLO) return void (this.result = invalid('not a ClientHello'));
      const length = this.messageHeader.readUIntBE(1, 3);
      if (4 + length > MAX_CLIENT_HELLO) return void (this.result = invalid('ClientHello too large'));
      this.body = Buffer.alloc(length);
    }
    this.bodyHave += bytes.copy(this.body, this.bodyHave, at);
    if (this.bodyHave < this.body.length) return;
    try {
      this.result = { state: 'complete', ...readBody(this.body) };
    } catch (err) {
      if (!(err instanceof Truncated || err instanceof RangeError)) throw err;
      this.result = invalid('malformed ClientHello');
    }
  }
}

/** Reads the ClientHello at the start of `data`, all received at once. */
export const parseClientHello = (data: Buffer): ClientHello => new ClientHelloReader().push(data);

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
