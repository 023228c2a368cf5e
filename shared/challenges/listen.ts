import { isIP, isIPv6, type AddressInfo, type Server, type Socket } from 'node:net';
import { type Clock, systemClock } from '../model/clock.js';
import { ValidationError } from '../model/errors.js';
import type { Log } from '../model/log.js';

/** "0.0.0.0:80", "[::]:80", "localhost:8402" → host and port. */
export function parseListen(text: string, field: string): { host: string; port: number } {
  const i = text.lastIndexOf(':');
  const host = text.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  const port = Number(text.slice(i + 1));
  if (
    i <= 0 ||
    !Number.isInteger(port) ||
    port < 0 ||
    port > 65535 ||
    (host.includes(':') && isIP(host) !== 6)
  ) {
    throw new ValidationError(
      field,
      `"${text}" is not host:port`,
      'write it as "0.0.0.0:80", "[::]:80" or "127.0.0.1:8402"',
    );
  }
  return { host, port };
}

/**
 * What a responder did since it started, counted rather than logged: it answers anyone on
 * ports 80 and 443, so a log line per made-up token or refused connection would let any
 * client fill the logs.
 */
export interface ResponderStats {
  /** Connections taken in. */
  accepted: number;
  /** Refused because `maxConnections` were open. */
  refusedBusy: number;
  /** Refused because `maxPerAddress` were open from the same client. */
  refusedAddress: number;
  /** Closed at the connection deadline. */
  timedOut: number;
  /** Token (HTTP-01) or validation certificate (TLS-ALPN-01) served. */
  served: number;
  /** Asked for a token or name with nothing stored. */
  notFound: number;
  /** The store refused the read: S3 answers 403 for a key that does not exist to a reader without s3:ListBucket, as the agent is; answered as not found. */
  denied: number;
  /** The store failed otherwise (answered 500, or the handshake refused). */
  storeErrors: number;
  /** TLS-ALPN-01: connections refused after their ClientHello (no acme-tls/1, no SNI, malformed, too large). */
  refused: number;
  /** TLS-ALPN-01: bytes the ClientHello reader examined, in proportion to the bytes received. */
  helloWork: number;
}

/** A challenge responder listening: where, what it did, and how to stop it. */
export interface ListeningResponder {
  readonly address: { host: string; port: number };
  stats(): ResponderStats;
  close(): Promise<void>;
}

export interface ConnectionLimits {
  /** Connections open at once, all clients together. Default 128. */
  maxConnections?: number;
  /**
   * Connections open at once from one client (an IPv6 /64 counts as one). Default 8, or no
   * cap when the responder listens on a loopback address: every connection then comes from
   * the local proxy in front of it (nginx `stream`, HAProxy), which should cap per client.
   */
  maxPerAddress?: number;
  /**
   * How long a connection may stay open at all, from accept, whatever it sends: an absolute
   * deadline for the ClientHello or the request headers, not an idle timer that each byte
   * restarts. A validation takes a fraction of it. Default 10 s.
   */
  deadlineMs?: number;
}

const DEFAULT_LIMITS = { maxConnections: 128, maxPerAddress: 8, deadlineMs: 10_000 };

export const newStats = (): ResponderStats => ({
  accepted: 0,
  refusedBusy: 0,
  refusedAddress: 0,
  timedOut: 0,
  served: 0,
  notFound: 0,
  denied: 0,
  storeErrors: 0,
  refused: 0,
  helloWork: 0,
});

/**
 * Starts `server` on host:port (0 picks a free port) with `limits` in force, and resolves
 * once it listens, or rejects with the listen error (EADDRINUSE, EACCES) for the caller to
 * explain. `close` stops it and drops what is still connected (`dropConnections`), so a
 * validator's keep-alive connection cannot hold the shutdown open.
 */
export async function listenResponder(
  server: Server,
  where: { host?: string; port: number; limits?: ConnectionLimits },
  stats: ResponderStats,
  dropConnections: () => void,
): Promise<ListeningResponder> {
  limitConnections(server, where.host, where.limits ?? {}, stats);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(where.port, where.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return {
    address: { host: bound.address, port: bound.port },
    stats: () => ({ ...stats }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        dropConnections();
      }),
  };
}

/**
 * The caps and the deadline, before the responder sees a connection: the total through
 * Node's own `maxConnections` (the socket is closed on accept), the rest here, on a listener
 * that runs before the responder's.
 */
function limitConnections(
  server: Server,
  host: string | undefined,
  limits: ConnectionLimits,
  stats: ResponderStats,
): void {
  server.maxConnections = limits.maxConnections ?? DEFAULT_LIMITS.maxConnections;
  server.on('drop', () => void stats.refusedBusy++);
  const perAddress = limits.maxPerAddress ?? (isLoopback(host) ? Infinity : DEFAULT_LIMITS.maxPerAddress);
  const deadlineMs = limits.deadlineMs ?? DEFAULT_LIMITS.deadlineMs;
  const open = new Map<string, number>();
  server.prependListener('connection', (socket: Socket) => {
    const group = addressGroup(socket.remoteAddress ?? '');
    const count = (open.get(group) ?? 0) + 1;
    if (count > perAddress) {
      stats.refusedAddress++;
      socket.destroy();
      return;
    }
    stats.accepted++;
    open.set(group, count);
    const timer = setTimeout(() => {
      stats.timedOut++;
      socket.destroy();
    }, deadlineMs);
    timer.unref();
    socket.once('close', () => {
      clearTimeout(timer);
      const left = (open.get(group) ?? 1) - 1;
      if (left > 0) open.set(group, left);
      else open.delete(group);
    });
  });
}

/** What counts as one client: an IPv4 address (also when IPv4-mapped), or an IPv6 /64. */
export function addressGroup(address: string): string {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (v4) return v4[1]!;
  if (!isIPv6(address)) return address;
  const [head = '', tail] = address.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

const isLoopback = (host: string | undefined): boolean =>
  host !== undefined && (/^127\./.test(host) || host === '::1' || host === 'localhost');

/**
 * Log lines an unauthenticated client could cause, at most one per kind per interval: the
 * first of a kind is logged as it comes, later ones in the same interval are counted and
 * the count goes with the next line of that kind.
 */
export function throttledLog(log: Log, intervalMs = 60_000, clock: Clock = systemClock) {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (
    level: 'info' | 'warn' | 'error',
    kind: string,
    message: string,
    extra: Record<string, unknown> = {},
  ): void => {
    const now = clock.now().getTime();
    const seen = last.get(kind);
    if (seen && now - seen.at < intervalMs) {
      seen.suppressed++;
      return;
    }
    last.set(kind, { at: now, suppressed: 0 });
    log[level](message, seen?.suppressed ? { ...extra, alsoSinceLastLogged: seen.suppressed } : extra);
  };
}
