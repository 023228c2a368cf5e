import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { asCertkeeperError } from '../../model/errors.js';
import { listenResponder, type ListeningResponder } from '../listen.js';
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
}

export type Http01Responder = ListeningResponder;

const CHALLENGE_PATH = /^\/\.well-known\/acme-challenge\/([^/?#]+)$/;

/**
 * Serves `/.well-known/acme-challenge/<token>` from the object store (RFC 8555 §8.3) and 404
 * for anything else, so it can sit on port 80 without exposing the rest of the store.
 */
export async function startHttp01Responder(options: Http01ResponderOptions): Promise<Http01Responder> {
  const log = options.log ?? silentLog;
  const server = createServer((req, res) => {
    respond(options.store, req, res).catch((err: unknown) => {
      log.error('http-01 responder could not read the store', { error: asCertkeeperError(err).message });
      if (!res.headersSent) send(res, 500, 'store unavailable\n');
      else res.destroy();
    });
  });
  // Keep-alive connections (the CA's validators) must not hold the shutdown open.
  return listenResponder(server, options, () => server.closeAllConnections());
}

async function respond(store: ObjectStore, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '').split('?')[0] ?? '';
  const token = CHALLENGE_PATH.exec(path)?.[1];
  if ((req.method !== 'GET' && req.method !== 'HEAD') || !token || !TOKEN_PATTERN.test(token)) {
    return send(res, 404, 'not found\n');
  }
  const keyAuthorization = await store.get(http01Key(token));
  if (keyAuthorization === undefined) return send(res, 404, 'not found\n');
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
