/**
 * The test DNS server: UDP and TCP on the same 127.0.0.1 port, answering from the Route53
 * records in moto (see dns-records.ts for the rules). Pebble is started with
 * `-dnsserver 127.0.0.1:<port>` and always queries over TCP.
 *
 *   tsx scripts/peers/dns-server.ts --port N --moto http://127.0.0.1:M
 *
 * Also usable in-process: startDnsServer({ port, motoEndpoint }).
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import { Route53Client } from '@aws-sdk/client-route-53';
import dnsPacket from 'dns-packet';
import { type CaaData, Route53Resolver, type DnsAnswer, type Lookup } from './dns-records.js';

const RCODES = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4 } as const;
const TCP_IDLE_MS = 30_000;
const MAX_TCP_BUFFER = 64 * 1024;

export interface DnsServerOptions {
  readonly host?: string;
  /** 0 picks a free port (the same one for UDP and TCP). */
  readonly port: number;
  readonly motoEndpoint: string;
  readonly log?: (line: string) => void;
}

export interface RunningDnsServer {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export function route53ForMoto(endpoint: string): Route53Client {
  return new Route53Client({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 2,
  });
}

/** Builds the wire response for one query message; undefined when it must be dropped. */
export async function respond(
  resolver: Route53Resolver,
  message: Buffer,
  transport: 'udp' | 'tcp',
  log: (line: string) => void,
): Promise<Buffer | undefined> {
  let query: dnsPacket.DecodedPacket;
  try {
    query = dnsPacket.decode(message);
  } catch {
    if (message.length < 2) return undefined;
    // Echo the id with FORMERR so the client does not wait for a timeout.
    return dnsPacket.encode({
      id: message.readUInt16BE(0),
      type: 'response',
      flags: RCODES.FORMERR,
      questions: [],
    });
  }
  if (query.type !== 'query') return undefined;
  const questions = query.questions ?? [];
  const recursionDesired = (query.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
  const reply = (rcode: number, answers: dnsPacket.Answer[]): dnsPacket.Packet => ({
    id: query.id,
    type: 'response',
    flags: dnsPacket.AUTHORITATIVE_ANSWER | recursionDesired | rcode,
    questions,
    answers,
  });

  let packet: dnsPacket.Packet;
  const opcode = ((query.flags ?? 0) >> 11) & 0xf;
  if (opcode !== 0) {
    packet = reply(RCODES.NOTIMP, []);
  } else if (questions.length !== 1) {
    packet = reply(RCODES.FORMERR, []);
  } else {
    const question = questions[0] as dnsPacket.Question;
    let result: Lookup;
    if (question.class !== undefined && question.class !== 'IN') {
      result = { rcode: 'NXDOMAIN', answers: [] };
    } else {
      try {
        result = await resolver.lookup(question.name, question.type);
      } catch (err) {
        log(`error answering ${question.type} ${question.name}: ${(err as Error).message}`);
        result = { rcode: 'SERVFAIL', answers: [] };
      }
    }
    log(
      `${transport} ${question.type} ${question.name} -> ${result.rcode} (${result.answers.length} answers)`,
    );
    packet = reply(RCODES[result.rcode], result.answers.map(toPacketAnswer));
  }

  let wire = dnsPacket.encode(packet);
  if (transport === 'udp') {
    const opt = (query.additionals ?? []).find((rr) => rr.type === 'OPT') as dnsPacket.OptAnswer | undefined;
    const limit = Math.min(4096, Math.max(512, opt?.udpPayloadSize ?? 512));
    if (wire.length > limit) {
      // Too big for this UDP client: truncated, so it retries over TCP.
      wire = dnsPacket.encode({
        ...packet,
        flags: (packet.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE,
        answers: [],
      });
    }
  }
  return wire;
}

function toPacketAnswer(answer: DnsAnswer): dnsPacket.Answer {
  if (answer.type === 'CAA') {
    const { flags, tag, value } = answer.data as CaaData;
    return {
      name: answer.name,
      type: 'CAA',
      class: 'IN',
      ttl: answer.ttl,
      data: { flags, tag: tag as 'issue', value },
    };
  }
  if (answer.type === 'TXT') {
    return { name: answer.name, type: 'TXT', class: 'IN', ttl: answer.ttl, data: answer.data as Buffer[] };
  }
  return { name: answer.name, type: answer.type, class: 'IN', ttl: answer.ttl, data: answer.data as string };
}

export async function startDnsServer(options: DnsServerOptions): Promise<RunningDnsServer> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? (() => undefined);
  const resolver = new Route53Resolver(route53ForMoto(options.motoEndpoint));

  const connections = new Set<Socket>();
  const tcp = createServer((socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
    serveTcp(socket, resolver, log);
  });
  const tcpPort = await new Promise<number>((resolvePort, reject) => {
    tcp.once('error', reject);
    tcp.listen({ host, port: options.port, exclusive: true }, () => {
      tcp.off('error', reject);
      const address = tcp.address();
      resolvePort(typeof address === 'object' && address ? address.port : options.port);
    });
  });

  const udp = createSocket('udp4');
  try {
    await new Promise<void>((resolveBind, reject) => {
      udp.once('error', reject);
      udp.bind({ address: host, port: tcpPort, exclusive: true }, () => {
        udp.off('error', reject);
        resolveBind();
      });
    });
  } catch (err) {
    await new Promise((done) => tcp.close(done));
    throw err;
  }
  udp.on('message', (message, remote) => serveUdp(udp, message, remote, resolver, log));
  udp.on('error', (err) => log(`udp error: ${err.message}`));

  return {
    host,
    port: tcpPort,
    close: () => {
      for (const socket of connections) socket.destroy();
      return closeBoth(tcp, udp);
    },
  };
}

function serveUdp(
  udp: UdpSocket,
  message: Buffer,
  remote: { address: string; port: number },
  resolver: Route53Resolver,
  log: (line: string) => void,
): void {
  respond(resolver, message, 'udp', log)
    .then((wire) => {
      if (wire) udp.send(wire, remote.port, remote.address);
    })
    .catch((err: Error) => log(`udp failure: ${err.message}`));
}

/** RFC 1035 4.2.2: each message is preceded by a two-byte length; several per connection. */
function serveTcp(socket: Socket, resolver: Route53Resolver, log: (line: string) => void): void {
  let buffer = Buffer.alloc(0);
  let queue = Promise.resolve();
  socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    if (buffer.length > MAX_TCP_BUFFER) {
      socket.destroy();
      return;
    }
    while (buffer.length >= 2) {
      const length = buffer.readUInt16BE(0);
      if (buffer.length < 2 + length) break;
      const message = buffer.subarray(2, 2 + length);
      buffer = buffer.subarray(2 + length);
      // Answer in order, one at a time.
      queue = queue
        .then(() => respond(resolver, Buffer.from(message), 'tcp', log))
        .then((wire) => {
          if (!wire || socket.destroyed) return;
          const prefix = Buffer.alloc(2);
          prefix.writeUInt16BE(wire.length);
          socket.write(Buffer.concat([prefix, wire]));
        })
        .catch((err: Error) => log(`tcp failure: ${err.message}`));
    }
  });
}

async function closeBoth(tcp: Server, udp: UdpSocket): Promise<void> {
  await Promise.all([
    new Promise<void>((done) => tcp.close(() => done())),
    new Promise<void>((done) => udp.close(() => done())),
  ]);
}

function parseArgs(argv: string[]): { port: number; moto: string } {
  const value = (flag: string): string | undefined => {
    const index = argv.indexOf(flag);
    return index >= 0 ? argv[index + 1] : undefined;
  };
  const port = Number.parseInt(value('--port') ?? '', 10);
  const moto = value('--moto');
  if (!Number.isInteger(port) || port < 0 || port > 65535 || !moto) {
    throw new Error('usage: dns-server.ts --port N --moto http://127.0.0.1:M');
  }
  return { port, moto };
}

async function main(): Promise<void> {
  const { port, moto } = parseArgs(process.argv.slice(2));
  const server = await startDnsServer({
    port,
    motoEndpoint: moto,
    log: (line) => console.log(`${new Date().toISOString()} ${line}`),
  });
  console.log(`test DNS server listening on ${server.host}:${server.port} (udp+tcp), records from ${moto}`);
  const shutdown = (): void => {
    // Bounded: exit even if a TCP client keeps its connection open.
    setTimeout(() => process.exit(0), 2_000).unref();
    void server.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: Error) => {
    console.error(err.message);
    process.exit(1);
  });
}
