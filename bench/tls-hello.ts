/**
 * What a hostile ClientHello costs the TLS-ALPN-01 responder: 64 KiB sent as 6-byte TLS
 * records (one byte of handshake each), the shape that cost seconds of CPU when every chunk
 * re-read everything received so far. Not a test: it prints figures.
 *
 *   npm run bench:hello   (tsx bench/tls-hello.ts [--runs N])
 *
 * Rows: the incremental reader fed a record at a time; the same records re-parsed whole on
 * every chunk (the old responder's shape, for comparison); and the real responder over a
 * loopback socket, a record per write, as CPU time of this process (client included).
 */
import { connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ClientHelloReader, parseClientHello } from '../shared/challenges/tlsalpn01/client-hello.js';
import { startTlsAlpn01Responder } from '../shared/challenges/tlsalpn01/responder.js';
import { FsObjectStore } from '../shared/store/fs-store.js';

/** A handshake header announcing a 60,000-byte ClientHello, then zeros, one byte per record. */
function hostileHello(): Buffer[] {
  const message = Buffer.concat([Buffer.from([1, 0, 0xea, 0x60]), Buffer.alloc(60_000)]);
  const records: Buffer[] = [];
  for (let at = 0; at < message.length && records.length * 6 < 64 * 1024 + 1200; at++) {
    records.push(Buffer.concat([Buffer.from([0x16, 3, 1, 0, 1]), message.subarray(at, at + 1)]));
  }
  return records;
}

const cpuMs = (since: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
};

function incremental(records: Buffer[]): { ms: number; work: number } {
  const start = process.cpuUsage();
  const reader = new ClientHelloReader();
  for (const record of records) if (reader.push(record).state !== 'incomplete') break;
  return { ms: cpuMs(start), work: reader.work };
}

function reparsed(records: Buffer[]): { ms: number; work: number } {
  const start = process.cpuUsage();
  let received = Buffer.alloc(0);
  let work = 0;
  for (const record of records) {
    received = Buffer.concat([received, record]);
    work += 2 * received.length;
    if (parseClientHello(received).state !== 'incomplete') break;
  }
  return { ms: cpuMs(start), work };
}

async function overSocket(records: Buffer[]): Promise<{ ms: number; work: number }> {
  const root = await mkdtemp(path.join(tmpdir(), 'certkeeper-bench-hello-'));
  const responder = await startTlsAlpn01Responder({
    store: new FsObjectStore({ root }),
    host: '127.0.0.1',
    port: 0,
  });
  try {
    const start = process.cpuUsage();
    const socket = connect(responder.address.port, '127.0.0.1');
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    await new Promise((done) => socket.once('connect', done));
    const closed = new Promise((done) => socket.once('close', done));
    for (const record of records) {
      if (socket.destroyed) break;
      socket.write(record);
      await new Promise((done) => setImmediate(done));
    }
    await closed;
    return { ms: cpuMs(start), work: responder.stats().helloWork };
  } finally {
    await responder.close();
    await rm(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '1' } } });
  const runs = Math.max(1, Number(values.runs));
  const records = hostileHello();
  const bytes = records.length * 6;
  const rows: [string, { ms: number; work: number }[]][] = [
    ['reader, a record at a time', []],
    ['re-parsed whole per chunk (old shape)', []],
    ['responder over a socket', []],
  ];
  for (let run = 0; run < runs; run++) {
    rows[0]![1].push(incremental(records));
    rows[1]![1].push(reparsed(records));
    rows[2]![1].push(await overSocket(records));
  }
  console.log(`ClientHello of ${bytes} bytes in ${records.length} six-byte records, ${runs} run(s), median:`);
  for (const [label, results] of rows) {
    const ms = results.map((r) => r.ms).sort((a, b) => a - b)[results.length >> 1]!;
    const work = results[0]!.work;
    console.log(
      `  ${label.padEnd(40)} ${ms.toFixed(1).padStart(9)} ms CPU   ${(work / bytes).toFixed(1).padStart(8)} bytes examined per byte received`,
    );
  }
}

await main();
