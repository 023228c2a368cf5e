import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { AccessDeniedError, asCertkeeperError } from '../../model/errors.js';
import {
  type ConnectionLimits,
  listenResponder,
  type ListeningResponder,
  newStats,
  type ResponderStats,
  throttledLog,
} from '../listen.js';
import type { Clock } from '../../model/clock.js';
import { type Log, silentLog } from '../../model/log.js';
import { http01Key, TOKEN_PATTERN } from '../../store/layout.js';
import type { ObjectStore } from '../../store/store.js';

export interface Http01ResponderOptions {
  store: ObjectStore;
  /** Defaults to all interfaces, as the CA connects from outside. */
  host?: string;
  /** 80 in production; 0 picks a free port. */
  port: number;
  log?: Log;
  /** When a suppressed log line may be written again (the system clock by default). */
  clock?: Clock;
  /** Connection caps and the deadline for the whole connection, request headers included. */
  limits?: ConnectionLimits;
}

export type Http01Responder = ListeningResponder;

const CHALLENGE_PATH = /^\/\.well-known\/acme-challenge\/([^/?#]+)$/;

/**
 * Serves `/.well-known/acme-challenge/<token>` from the object store (RFC 8555 §8.3) and 404
 * for anything else, so it can sit on port 80 without exposing the rest of the store. Any
 * client can ask for made-up tokens: they are counted (`stats()`), not logged one by one.
 */
export async function startHttp01Responder(options: Http01ResponderOptions): Promise<Http01Responder> {
  const note = throttledLog(options.log ?? silentLog, undefined, options.clock);
  const stats = newStats();
  const server = createServer((req, res) => {
    respond(options.store, req, res, stats).catch((err: unknown) => {
      stats.storeErrors++;
      note('error', 'store', 'http-01 responder could not read the store', {
        error: asCertkeeperError(err).message,
      });
      if (!res.headersSent) send(res, 500, 'store unavailable\n');
      else res.destroy();
    });
  });
  // Keep-alive connections (the CA's validators) must not hold the shutdown open.
  return listenResponder(server, options, stats, () => server.closeAllConnections());
}

async function respond(
  store: ObjectStore,
  req: IncomingMessage,
  res: ServerResponse,
  stats: ResponderStats,
): Promise<void> {
  const path = (req.url ?? '').split('?')[0] ?? '';
  const token = CHALLENGE_PATH.exec(path)?.[1];
  if ((req.method !== 'GET' && req.method !== 'HEAD') || !token || !TOKEN_PATTERN.test(token)) {
    stats.notFound++;
    return send(res, 404, 'not found\n');
  }
  // S3 answers 403 for a key that does not exist to a reader without s3:ListBucket (the
  // agent): a made-up token, so not found, not a store failure.
  const keyAuthorization = await store.get(http01Key(token)).catch((err: unknown) => {
    if (!(err instanceof AccessDeniedError)) throw err;
    stats.denied++;
    return null;
  });
  if (keyAuthorization === undefined) stats.notFound++;
  if (keyAuthorization === undefined || keyAuthorization === null) return send(res, 404, 'not found\n');
  stats.served++;
  send(res, 200, keyAuthorization, req.method === 'HEAD');
}

function send(res: ServerResponse, status: number, body: string, headOnly = false): void {
  res.writeHead(status, {
    'Content-Type': status === 200 ? 'application/octet-stream' : 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(headOnly ? undefined : body);
}
