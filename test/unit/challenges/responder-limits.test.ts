/**
 * The challenge responders listen on the Internet's ports 80 and 443 without authentication
 * (issue 22, items 3 and 10): over real sockets, a connection that trickles its ClientHello or
 * its request headers is closed at an absolute deadline, connections beyond the caps (in all
 * and per client address) are refused, a hello sent in 6-byte TLS records costs work in
 * proportion to its size, and made-up tokens are counted, not logged one by one.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHttp01Responder } from '../../../shared/challenges/http01/responder.js';
import { addressGroup, type ListeningResponder } from '../../../shared/challenges/listen.js';
import { ClientHelloReader, MAX_CLIENT_HELLO } from '../../../shared/challenges/tlsalpn01/client-hello.js';
import { startTlsAlpn01Responder } from '../../../shared/challenges/tlsalpn01/responder.js';
import type { Log } from '../../../shared/model/log.js';
import { FsObjectStore } from '../../../shared/store/fs-store.js';
import { clientHelloBytes } from '../../support/client-hello.js';

let root: string;
let store: FsObjectStore;
let logged: string[];
const log: Log = {
  debug: () => undefined,
  info: (m) => void logged.push(`info ${m}`),
  warn: (m) => void logged.push(`warn ${m}`),
  error: (m) => void logged.push(`error ${m}`),
};
const open: ListeningResponder[] = [];
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'certkeeper-responder-limits-'));
  store = new FsObjectStore({ root });
  logged = [];
});
afterEach(async () => {
  for (const responder of open.splice(0)) await responder.close();
  await rm(root, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** A real ClientHello offering acme-tls/1. */
const clientHello = (servername = 'www.example.test'): Promise<Buffer> =>
  clientHelloBytes({ servername, ALPNProtocols: ['acme-tls/1'] });

/** A handshake message in TLS records of `size` fragment bytes each. */
function records(message: Buffer, size: number): Buffer {
  const out: Buffer[] = [];
  for (let at = 0; at < message.length; at += size) {
    const fragment = message.subarray(at, at + size);
    out.push(Buffer.from([0x16, 3, 1, 0, fragment.length]), fragment);
  }
  return Buffer.concat(out);
}
/** The handshake message of a hello in one record. */
const messageOf = (hello: Buffer): Buffer => hello.subarray(5, 5 + hello.readUInt16BE(3));

/** Connects and resolves with the socket once connected (or closed straight away). */
function connectTo(responder: ListeningResponder): Promise<Socket> {
  return new Promise((resolve) => {
    const socket = netConnect(responder.address.port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.once('connect', () => resolve(socket));
    socket.once('close', () => resolve(socket));
  });
}

/** Resolves 'closed' when the server closes the socket, 'open' if it still is after `ms`. */
function closedWithin(socket: Socket, ms: number): Promise<'closed' | 'open'> {
  if (socket.destroyed || socket.readyState === 'closed') return Promise.resolve('closed');
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('open'), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
  });
}

/** Sends `data` a byte every `everyMs` until the socket closes; resolves with the bytes sent. */
async function trickle(socket: Socket, data: Buffer, everyMs: number): Promise<number> {
  let sent = 0;
  while (sent < data.length && !socket.destroyed && socket.writable) {
    socket.write(data.subarray(sent, sent + 1));
    sent++;
    await sleep(everyMs);
  }
  return sent;
}

const start = {
  'TLS-ALPN-01': (limits: object) =>
    startTlsAlpn01Responder({ store, host: '127.0.0.1', port: 0, log, limits }),
  'HTTP-01': (limits: object) => startHttp01Responder({ store, host: '127.0.0.1', port: 0, log, limits }),
};
async function started(kind: keyof typeof start, limits: object): Promise<ListeningResponder> {
  const responder = await start[kind](limits);
  open.push(responder);
  return responder;
}

describe.each(['TLS-ALPN-01', 'HTTP-01'] as const)('%s responder: connection limits', (kind) => {
  const request = async () =>
    kind === 'TLS-ALPN-01'
      ? await clientHello()
      : Buffer.from(
          'GET /.well-known/acme-challenge/made-up-token-0123456789 HTTP/1.1\r\nHost: 192.0.2.1\r\n\r\n',
        );

  it('a connection trickling its hello or headers a byte at a time is closed at the deadline, not kept alive by each byte', async () => {
    const responder = await started(kind, { deadlineMs: 1000 });
    const socket = await connectTo(responder);
    const data = await request();
    // A byte every 100 ms: the old idle timer restarted on each one and never fired.
    const sending = trickle(socket, data, 100);
    expect(await closedWithin(socket, 6000)).toBe('closed');
    const sent = await sending;
    expect(sent).toBeLessThan(data.length);
    expect(sent).toBeLessThan(40);
    expect(responder.stats().timedOut).toBe(1);
  });

  it('refuses the connection beyond the total cap, and accepts again once one closed', async () => {
    const responder = await started(kind, { maxConnections: 3, maxPerAddress: 10 });
    const held = [await connectTo(responder), await connectTo(responder), await connectTo(responder)];
    await sleep(100);
    const extra = await connectTo(responder);
    expect(await closedWithin(extra, 3000)).toBe('closed');
    for (const socket of held) expect(await closedWithin(socket, 50)).toBe('open');
    expect(responder.stats().refusedBusy).toBe(1);
    held[0]!.destroy();
    await sleep(200);
    const again = await connectTo(responder);
    expect(await closedWithin(again, 300)).toBe('open');
    for (const socket of [...held, again]) socket.destroy();
  });

  it('refuses the connection beyond the per-address cap', async () => {
    const responder = await started(kind, { maxConnections: 10, maxPerAddress: 2 });
    const held = [await connectTo(responder), await connectTo(responder)];
    await sleep(100);
    const extra = await connectTo(responder);
    expect(await closedWithin(extra, 3000)).toBe('closed');
    for (const socket of held) expect(await closedWithin(socket, 50)).toBe('open');
    expect(responder.stats().refusedAddress).toBe(1);
    for (const socket of held) socket.destroy();
  });
});

describe('addressGroup: what the per-address cap counts as one client', () => {
  it('an IPv4 address (mapped or not) is itself; an IPv6 address counts by its /64', () => {
    expect(addressGroup('192.0.2.7')).toBe('192.0.2.7');
    expect(addressGroup('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressGroup('2001:db8:1:2::1')).toBe(addressGroup('2001:db8:1:2:ffff:eeee:dddd:cccc'));
    expect(addressGroup('2001:db8:1:2::1')).not.toBe(addressGroup('2001:db8:1:3::1'));
    expect(addressGroup('2001:db8::1')).toBe('2001:db8:0:0::/64');
  });
});

describe('ClientHello in 6-byte TLS records', () => {
  it('a real hello cut into 1-byte fragments reads the same, pushed a record at a time, for work in proportion to its size', async () => {
    const hello = await clientHello('www.example.test');
    const cut = records(messageOf(hello), 1);
    const reader = new ClientHelloReader();
    let result = reader.push(Buffer.alloc(0));
    for (let at = 0; at < cut.length; at += 6) result = reader.push(cut.subarray(at, at + 6));
    expect(result).toEqual({ state: 'complete', serverName: 'www.example.test', alpn: ['acme-tls/1'] });
    expect(reader.work).toBeLessThanOrEqual(2 * cut.length);
  });

  it('64 KiB of 6-byte records over a real socket: refused as too large, the work bounded by the bytes', async () => {
    const responder = await started('TLS-ALPN-01', {});
    const hello = await clientHello();
    // A handshake header announcing a 60,000-byte ClientHello, then the rest one byte per
    // record: 6 bytes on the wire for each byte of the message.
    const body = Buffer.concat([messageOf(hello).subarray(4), Buffer.alloc(60_000)]).subarray(0, 60_000);
    const data = records(Buffer.concat([Buffer.from([1, 0, 0xea, 0x60]), body]), 1).subarray(
      0,
      64 * 1024 + 1200,
    );
    expect(data.length).toBeGreaterThan(MAX_CLIENT_HELLO);
    const socket = await connectTo(responder);
    socket.setNoDelay(true);
    let sent = 0;
    for (let at = 0; at < data.length && !socket.destroyed; at += 6) {
      socket.write(data.subarray(at, at + 6));
      sent += 6;
      // Each record on its own turn of the event loop, so the responder reads them one by one.
      await new Promise((done) => setImmediate(done));
    }
    expect(await closedWithin(socket, 5000)).toBe('closed');
    const stats = responder.stats();
    expect(stats.refused).toBe(1);
    // Each received byte looked at a small number of times: the old responder copied and
    // re-parsed everything received so far on every chunk (hundreds of MB for this hello).
    expect(stats.helloWork).toBeGreaterThan(0);
    expect(stats.helloWork).toBeLessThanOrEqual(3 * sent);
  });
});

describe('HTTP-01 responder: made-up tokens', () => {
  it('are answered 404 and counted, without a log line each', async () => {
    const responder = await started('HTTP-01', {});
    const url = (token: string) =>
      `http://127.0.0.1:${responder.address.port}/.well-known/acme-challenge/${token}`;
    for (let i = 0; i < 50; i++) {
      const res = await fetch(url(`madeUpToken${String(i).padStart(40, '0')}`));
      expect(res.status).toBe(404);
    }
    expect(responder.stats().notFound).toBe(50);
    expect(logged).toEqual([]);
  });
});
