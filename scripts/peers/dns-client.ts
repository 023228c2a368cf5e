/**
 * A minimal DNS client (UDP or TCP, one question, bounded by a timeout) for health probes
 * and tests of the test DNS server.
 */
import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import dnsPacket from 'dns-packet';

const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

export interface DnsQueryOptions {
  readonly transport: 'udp' | 'tcp';
  readonly timeoutMs?: number;
}

export interface DnsReply {
  readonly rcode: string;
  readonly truncated: boolean;
  readonly answers: dnsPacket.Answer[];
  /** TXT answers, each joined from its character-strings. */
  readonly txt: string[];
  /** A answers. */
  readonly a: string[];
}

/** Sends one query to `server` ("host:port") and decodes the reply. */
export async function dnsQuery(
  server: string,
  name: string,
  type: dnsPacket.RecordType,
  options: DnsQueryOptions,
): Promise<DnsReply> {
  const [host = '127.0.0.1', portText = ''] = splitHostPort(server);
  const port = Number.parseInt(portText, 10);
  if (!Number.isInteger(port)) throw new Error(`bad DNS server address ${server} (want host:port)`);
  const id = randomInt(0, 0x10000);
  const query = dnsPacket.encode({
    id,
    type: 'query',
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type, class: 'IN' }],
  });
  const timeoutMs = options.timeoutMs ?? 3_000;
  const wire =
    options.transport === 'udp'
      ? await udpExchange(host, port, query, timeoutMs)
      : await tcpExchange(host, port, query, timeoutMs);
  const reply = dnsPacket.decode(wire);
  if (reply.id !== id) throw new Error(`DNS reply id ${reply.id} does not match query id ${id}`);
  const answers = reply.answers ?? [];
  return {
    rcode: RCODE_NAMES[(reply.flags ?? 0) & 0xf] ?? `RCODE_${(reply.flags ?? 0) & 0xf}`,
    truncated: reply.flag_tc === true,
    answers,
    txt: answers
      .filter((answer): answer is dnsPacket.TxtAnswer => answer.type === 'TXT')
      .map((answer) => {
        const data = answer.data as unknown;
        const parts = Array.isArray(data) ? (data as (string | Buffer)[]) : [data as string | Buffer];
        return parts.map((part) => (Buffer.isBuffer(part) ? part.toString('utf8') : part)).join('');
      }),
    a: answers.flatMap((answer) => (answer.type === 'A' ? [String(answer.data)] : [])),
  };
}

function splitHostPort(server: string): [string | undefined, string | undefined] {
  const index = server.lastIndexOf(':');
  if (index < 0) return [server, undefined];
  return [server.slice(0, index).replace(/^\[|\]$/g, ''), server.slice(index + 1)];
}

function udpExchange(host: string, port: number, query: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolveReply, reject) => {
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const timer = setTimeout(
      () => finish(new Error(`DNS over UDP to ${host}:${port}: no reply in ${timeoutMs}ms`)),
      timeoutMs,
    );
    const finish = (err: Error | undefined, reply?: Buffer): void => {
      clearTimeout(timer);
      socket.close();
      if (err) reject(err);
      else resolveReply(reply as Buffer);
    };
    socket.on('error', (err) => finish(err));
    socket.on('message', (message) => finish(undefined, message));
    socket.send(query, port, host);
  });
}

function tcpExchange(host: string, port: number, query: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolveReply, reject) => {
    const socket = connect({ host, port });
    let buffer = Buffer.alloc(0);
    let done = false;
    const finish = (err: Error | undefined, reply?: Buffer): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolveReply(reply as Buffer);
    };
    const timer = setTimeout(
      () => finish(new Error(`DNS over TCP to ${host}:${port}: no reply in ${timeoutMs}ms`)),
      timeoutMs,
    );
    socket.on('error', (err) => finish(err));
    socket.on('connect', () => {
      const prefix = Buffer.alloc(2);
      prefix.writeUInt16BE(query.length);
      socket.write(Buffer.concat([prefix, query]));
    });
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (buffer.length >= 2 && buffer.length >= 2 + buffer.readUInt16BE(0)) {
        finish(undefined, buffer.subarray(2, 2 + buffer.readUInt16BE(0)));
      }
    });
    socket.on('close', () => finish(new Error(`DNS over TCP to ${host}:${port}: closed before a reply`)));
  });
}
