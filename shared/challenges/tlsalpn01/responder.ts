import { Duplex } from 'node:stream';
import { createServer as createNetServer, type Socket } from 'node:net';
import { createSecureContext, createServer as createTlsServer } from 'node:tls';
import { AccessDeniedError, asCertkeeperError } from '../../model/errors.js';
import type { Clock } from '../../model/clock.js';
import { type Log, silentLog } from '../../model/log.js';
import { ACME_TLS_ALPN } from '../../pki/tls-alpn.js';
import type { ObjectStore } from '../../store/store.js';
import {
  type ConnectionLimits,
  listenResponder,
  type ListeningResponder,
  newStats,
  throttledLog,
} from '../listen.js';
import { ClientHelloReader } from './client-hello.js';
import { readTlsAlpn01Material } from './store.js';

export interface TlsAlpn01ResponderOptions {
  store: ObjectStore;
  /** Defaults to all interfaces. Behind nginx or HAProxy: 127.0.0.1. */
  host?: string;
  /** 443 when the CA connects directly; any port behind a proxy that routes acme-tls/1; 0: a free one. */
  port: number;
  log?: Log;
  /** When a suppressed log line may be written again (the system clock by default). */
  clock?: Clock;
  /** Connection caps and the deadline for the whole connection, ClientHello included. */
  limits?: ConnectionLimits;
}

export type TlsAlpn01Responder = ListeningResponder;

/**
 * Answers tls-alpn-01 validations (RFC 8737 §3): a connection whose ClientHello offers ALPN
 * `acme-tls/1` and names a server for which the issuer stored a validation certificate gets
 * that certificate, with `acme-tls/1` negotiated. Every other connection is closed before
 * any certificate is sent: no ALPN, another protocol, no SNI, or a name with nothing stored.
 * It serves nothing else, so it never stands in for the real web server.
 */
export async function startTlsAlpn01Responder(
  options: TlsAlpn01ResponderOptions,
): Promise<TlsAlpn01Responder> {
  const log = options.log ?? silentLog;
  const note = throttledLog(log, undefined, options.clock);
  const stats = newStats();
  const tls = createTlsServer({
    // RFC 8737 §4: TLS 1.2 or later; only acme-tls/1 (the hello check already required it).
    minVersion: 'TLSv1.2',
    ALPNProtocols: [ACME_TLS_ALPN],
    // The connection's own deadline (listen.ts) closes it sooner; this is Node's backstop.
    handshakeTimeout: options.limits?.deadlineMs ?? 10_000,
    SNICallback: (servername, done) => {
      const sni = servername.toLowerCase().replace(/\.$/, '');
      readTlsAlpn01Material(options.store, sni)
        .then((material) => {
          if (!material) stats.notFound++;
          if (!material) return done(new Error(`no tls-alpn-01 validation certificate for ${sni}`));
          // Counted here: the client may close as soon as it has the certificate.
          stats.served++;
          done(null, createSecureContext({ cert: material.certPem, key: material.keyPem }));
        })
        .catch((err: unknown) => {
          // A name with nothing stored reads as 403 from S3 without s3:ListBucket: any
          // client can cause it, so it is counted as not found, not logged as an error.
          if (err instanceof AccessDeniedError) stats.denied++;
          else {
            stats.storeErrors++;
            note('error', 'store', 'tls-alpn-01 responder could not read the store', {
              error: asCertkeeperError(err).message,
            });
          }
          done(err instanceof Error ? err : new Error(String(err)));
        });
    },
  });
  // The validation connection ends after the handshake (RFC 8737 §3): nothing is read or written.
  tls.on('secureConnection', (socket) => {
    log.info('tls-alpn-01 validation certificate served', { servername: socket.servername });
    socket.end();
  });
  tls.on('tlsClientError', (err, socket) => {
    const unknown = /^no tls-alpn-01 validation certificate/.test(err.message);
    note('info', unknown ? 'unknown-name' : 'handshake', 'tls-alpn-01 handshake refused', {
      error: err.message,
    });
    socket.destroy();
  });

  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    if (socket.destroyed) return;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const reader = new ClientHelloReader();
    // Kept as received and joined once: the TLS server reads the hello again.
    const received: Buffer[] = [];
    const onData = (chunk: Buffer): void => {
      received.push(chunk);
      const before = reader.work;
      const hello = reader.push(chunk);
      stats.helloWork += reader.work - before;
      if (hello.state === 'incomplete') return;
      socket.off('data', onData);
      socket.pause();
      const refusal =
        hello.state === 'invalid'
          ? { kind: 'invalid', reason: hello.reason }
          : !hello.alpn.includes(ACME_TLS_ALPN)
            ? {
                kind: 'alpn',
                reason: `ALPN ${hello.alpn.length ? hello.alpn.join(',') : 'absent'}, not ${ACME_TLS_ALPN}`,
              }
            : hello.serverName === undefined
              ? { kind: 'sni', reason: 'no server name (SNI)' }
              : undefined;
      if (refusal !== undefined) {
        stats.refused++;
        note('info', refusal.kind, 'tls-alpn-01 connection refused', { reason: refusal.reason });
        socket.destroy();
        return;
      }
      // The TLS server takes the connection as if it had accepted it, hello included. Not
      // the socket itself: TLS would read its handle directly and miss the bytes read here.
      tls.emit('connection', replay(socket, Buffer.concat(received)));
    };
    socket.on('data', onData);
  });
  return listenResponder(server, options, stats, () => {
    for (const socket of sockets) socket.destroy();
  });
}

/** A stream that yields `head` and then whatever else `socket` receives, and writes to it. */
function replay(socket: Socket, head: Buffer): Duplex {
  const stream = new Duplex({
    read: () => void socket.resume(),
    write: (chunk: Buffer, _encoding, done) => void socket.write(chunk, done),
    final: (done) => void socket.end(done),
    destroy: (err, done) => {
      socket.destroy();
      done(err);
    },
  });
  stream.push(head);
  socket.on('data', (chunk: Buffer) => {
    if (!stream.push(chunk)) socket.pause();
  });
  socket.once('end', () => stream.push(null));
  socket.once('close', () => stream.destroy());
  return stream;
}
