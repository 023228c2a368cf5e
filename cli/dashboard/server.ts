/**
 * The dashboard's HTTP server: on 127.0.0.1 only, GET only, the page's three files and two
 * JSON answers. Read-only by construction: no route writes, and the sources it reads from
 * are opened with the operator's own credentials by the command.
 *
 * A page on 127.0.0.1 can still be reached by other sites through the browser, so: the Host
 * header must name this server (DNS rebinding, RFC 9110 §7.2), no CORS header lets another
 * origin read an answer, and the CSP lets the page load and connect to nothing but itself.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ValidationError } from '../../shared/model/errors.js';
import type { PageAssets } from './assets.js';
import type { Answer, SnapshotService } from './snapshots.js';

export const DASHBOARD_HOST = '127.0.0.1';

export interface DashboardServerOptions {
  service: SnapshotService;
  assets: PageAssets;
  /** 0: a free port. */
  port: number;
  refreshSeconds: number;
}

export interface DashboardServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};

const TYPES = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  json: 'application/json; charset=utf-8',
  text: 'text/plain; charset=utf-8',
};

/** Starts the server; `--port` taken is a usage error naming the flag (exit 2). */
export async function startDashboardServer(options: DashboardServerOptions): Promise<DashboardServer> {
  const page = options.assets['index.html'].replace('__REFRESH_SECONDS__', String(options.refreshSeconds));
  let port = options.port;
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => send(res, 500, TYPES.text, `internal error: ${String(err)}`));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const host = req.headers.host ?? '';
    if (host !== `${DASHBOARD_HOST}:${port}` && host !== `localhost:${port}`) {
      send(res, 421, TYPES.text, `this dashboard answers only at http://${DASHBOARD_HOST}:${port}/\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      send(res, 405, TYPES.text, 'the dashboard is read-only: GET only\n');
      return;
    }
    const path = new URL(req.url ?? '/', `http://${host}`).pathname;
    if (path === '/' || path === '/index.html') return send(res, 200, TYPES.html, page);
    if (path === '/app.js') return send(res, 200, TYPES.js, options.assets['app.js']);
    if (path === '/app.css') return send(res, 200, TYPES.css, options.assets['app.css']);
    if (path === '/api/snapshot') return answer(res, await options.service.snapshot());
    const detail = /^\/api\/certificates\/([^/]+)$/.exec(path);
    if (detail) {
      let name: string;
      try {
        name = decodeURIComponent(detail[1]!);
      } catch {
        return send(res, 400, TYPES.text, 'not a certificate name\n');
      }
      return answer(res, await options.service.history(name));
    }
    send(res, 404, TYPES.text, 'not found\n');
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new ValidationError(
              '--port',
              `${DASHBOARD_HOST}:${options.port} is in use`,
              'pick another port with --port, or leave --port out for a free one',
            )
          : err.code === 'EACCES'
            ? new ValidationError(
                '--port',
                `port ${options.port} needs privileges`,
                'use a port above 1023, or leave --port out for a free one',
              )
            : err,
      );
    });
    server.listen(options.port, DASHBOARD_HOST, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://${DASHBOARD_HOST}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function answer(res: ServerResponse, a: Answer): void {
  send(res, a.status, TYPES.json, a.json);
}

/**
 * Every answer goes out through here, and none carrying key material does: whatever bug
 * upstream put a private key into the data, the answer is refused whole (the snapshot is
 * made from states and reports that never hold one).
 */
function send(res: ServerResponse, status: number, type: string, body: string): void {
  if (body.includes('PRIVATE KEY')) {
    status = 500;
    type = TYPES.text;
    body = 'refused: the answer contained private key material; this is a bug, report it\n';
  }
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
