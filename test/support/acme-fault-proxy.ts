/**
 * A fault-injecting HTTPS reverse proxy in front of Pebble, for tests of how certkeeper
 * behaves when the CA misbehaves: down, answering 500/503, rate limiting with a long
 * Retry-After, or sending a Date header off by a given skew.
 *
 * It listens on 127.0.0.1:<free port> with Pebble's own TLS certificate (SAN 127.0.0.1),
 * so a client that trusts PEBBLE_CA_CERT trusts the proxy too, and forwards every request
 * to Pebble. Every URL Pebble hands out must lead back through the proxy, or later requests
 * (nonce, account, order, authz, finalize, certificate, renewalInfo) would bypass the faults:
 *
 * - The Host header is forwarded unchanged. Pebble builds its URLs from it, and checks the
 *   JWS `url` header (RFC 8555 §6.4) against https://<Host><path>: a client that signed the
 *   proxy's URL is only accepted if Pebble sees the proxy's host.
 * - As a safety net, Pebble's own origin is rewritten to the proxy's in JSON bodies and in the
 *   Location and Link headers (URLs Pebble might build from its configuration).
 *
 * Faults can be switched at any time with `setFault`; new-nonce is always passed through
 * unless the proxy is down, so a client can always get a nonce to try again with.
 */
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Agent, createServer, request as httpsRequest } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { peers } from '../../scripts/test-kit/peers.js';

export type Fault =
  /** Forward everything. */
  | { kind: 'pass' }
  /**
   * The CA is down. `refuse` (default) stops listening and drops open connections, so
   * clients see ECONNREFUSED; `reset` keeps the port but destroys every connection as it
   * arrives (ECONNRESET).
   */
  | { kind: 'down'; how?: 'refuse' | 'reset' }
  /**
   * A `serverInternal` problem with this status, on every path matching `match` (default:
   * all), its detail `detail` when given (what a CA, or whatever answers for it, may say).
   */
  | { kind: 'status'; status: 500 | 502 | 503; match?: RegExp; retryAfterSeconds?: number; detail?: string }
  /** 429 `rateLimited` with Retry-After, on every path matching `match` (default: all). */
  | { kind: 'rateLimited'; retryAfterSeconds: number; match?: RegExp }
  /**
   * Forward everything, but move the HTTP `Date` response header by `offsetSeconds`
   * (positive: the CA's clock runs ahead), as a CA whose clock disagrees with ours looks.
   */
  | { kind: 'skewDate'; offsetSeconds: number };

export interface FaultProxyOptions {
  /** Pebble's directory URL. */
  upstream: string;
  /** PEM of the CA that signed Pebble's HTTPS certificate (to trust the upstream). */
  caPem: string;
  /** The certificate and key the proxy serves (Pebble's own: SAN 127.0.0.1). */
  certPem: string;
  keyPem: string;
}

export interface FaultProxy {
  /** The directory URL to give the client instead of Pebble's. */
  readonly directoryUrl: string;
  /** https://127.0.0.1:<port> */
  readonly origin: string;
  /** The fault now in force. */
  readonly fault: Fault;
  /** Switches the fault; resolves once the listener is in the matching state. */
  setFault(fault: Fault): Promise<void>;
  /** Every request answered, as "METHOD /path status" (faults included; not 'down'). */
  readonly requests: string[];
  close(): Promise<void>;
}

const PROBLEM = 'urn:ietf:params:acme:error:';
/** Request headers that describe one hop, not the request (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const upstreamUrl = new URL(options.upstream);
  const upstreamOrigin = upstreamUrl.origin;
  const upstreamAgent = new Agent({ ca: options.caPem, keepAlive: true });
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  let fault: Fault = { kind: 'pass' };
  let listening = false;
  let closed = false;
  let port = 0;

  // The nonce path comes from Pebble's directory: always passed through unless down.
  const directory = await forward(upstreamAgent, upstreamUrl, {
    method: 'GET',
    path: upstreamUrl.pathname,
    headers: { 'user-agent': 'certkeeper-fault-proxy', accept: 'application/json' },
    body: Buffer.alloc(0),
  });
  if (directory.status !== 200) {
    throw new Error(
      `fault proxy: ${options.upstream} answered ${directory.status}: ${directory.body.toString()}`,
    );
  }
  const newNonce = (JSON.parse(directory.body.toString('utf8')) as { newNonce?: unknown }).newNonce;
  const noncePath = typeof newNonce === 'string' ? new URL(newNonce).pathname : '/nonce-plz';

  const server = createServer({ cert: options.certPem, key: options.keyPem }, (req, res) => {
    void handle(req, res).catch((err: Error) => {
      if (!res.headersSent) answer(res, 502, { 'Content-Type': 'text/plain' }, `fault proxy: ${err.message}`);
      else res.destroy(err);
    });
  });
  server.keepAliveTimeout = 5_000;
  server.on('connection', (socket: Socket) => {
    if (fault.kind === 'down' || closed) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // A client whose connection we destroyed mid-handshake is not an error of the proxy.
  server.on('tlsClientError', () => undefined);

  await listen();
  const origin = `https://127.0.0.1:${port}`;
  const directoryUrl = `${origin}${upstreamUrl.pathname}${upstreamUrl.search}`;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const method = req.method ?? 'GET';
    const path = new URL(req.url ?? '/', origin).pathname;
    const record = (status: number) => requests.push(`${method} ${path} ${status}`);
    const current = fault;

    if (current.kind === 'down') {
      res.destroy();
      return;
    }
    const faulty =
      (current.kind === 'status' || current.kind === 'rateLimited') &&
      path !== noncePath &&
      (current.match === undefined || current.match.test(path));
    if (faulty) {
      const status = current.kind === 'rateLimited' ? 429 : current.status;
      const type = current.kind === 'rateLimited' ? 'rateLimited' : 'serverInternal';
      const detail =
        current.kind === 'rateLimited'
          ? `fault proxy: too many requests to ${path}, retry after ${current.retryAfterSeconds} s`
          : (current.detail ?? `fault proxy: injected ${status} for ${path}`);
      const headers: OutgoingHttpHeaders = {
        'Content-Type': 'application/problem+json',
        'Cache-Control': 'public, max-age=0, no-cache',
        Link: `<${directoryUrl}>;rel="index"`,
      };
      if (current.retryAfterSeconds !== undefined) headers['Retry-After'] = String(current.retryAfterSeconds);
      // RFC 8555 §6.5: error answers to a POST should carry a fresh nonce too.
      if (method === 'POST') {
        const nonce = await freshNonce(req.headers).catch(() => undefined);
        if (nonce) headers['Replay-Nonce'] = nonce;
      }
      record(status);
      answer(res, status, headers, JSON.stringify({ type: `${PROBLEM}${type}`, detail, status }));
      return;
    }

    const upstream = await forward(upstreamAgent, upstreamUrl, {
      method,
      path: req.url ?? '/',
      headers: forwardedHeaders(req.headers),
      body,
    });
    record(upstream.status);
    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(upstream.headers)) {
      if (value === undefined || HOP_BY_HOP.has(name) || name === 'content-length') continue;
      headers[name] =
        name === 'location' || name === 'link'
          ? Array.isArray(value)
            ? value.map((v) => rewrite(v))
            : rewrite(value)
          : value;
    }
    if (current.kind === 'skewDate') {
      const date = Date.parse(String(upstream.headers.date ?? '')) || Date.now();
      headers.date = new Date(date + current.offsetSeconds * 1000).toUTCString();
    }
    const json = /json/i.test(String(upstream.headers['content-type'] ?? ''));
    answer(res, upstream.status, headers, json ? rewrite(upstream.body.toString('utf8')) : upstream.body);
  }

  function rewrite(text: string): string {
    return text.split(upstreamOrigin).join(origin);
  }

  async function freshNonce(incoming: IncomingHttpHeaders): Promise<string | undefined> {
    const reply = await forward(upstreamAgent, upstreamUrl, {
      method: 'HEAD',
      path: noncePath,
      headers: { host: incoming.host ?? upstreamUrl.host, 'user-agent': 'certkeeper-fault-proxy' },
      body: Buffer.alloc(0),
    });
    const nonce = reply.headers['replay-nonce'];
    return typeof nonce === 'string' ? nonce : undefined;
  }

  function listen(): Promise<void> {
    if (listening) return Promise.resolve();
    return new Promise((resolveListen, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
        server.off('error', reject);
        port = (server.address() as AddressInfo).port;
        listening = true;
        resolveListen();
      });
    });
  }

  function stopListening(): Promise<void> {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    if (!listening) return Promise.resolve();
    listening = false;
    return new Promise((resolveClose) => server.close(() => resolveClose()));
  }

  return {
    directoryUrl,
    origin,
    get fault() {
      return fault;
    },
    async setFault(next: Fault): Promise<void> {
      if (closed) throw new Error('fault proxy: closed');
      fault = next;
      if (next.kind === 'down') {
        if ((next.how ?? 'refuse') === 'refuse') {
          await stopListening();
        } else {
          for (const socket of sockets) socket.destroy();
          sockets.clear();
          await listen();
        }
      } else {
        // The same port again: the client keeps the directory URL it was given.
        await listen();
      }
    },
    requests,
    async close(): Promise<void> {
      closed = true;
      await stopListening();
      upstreamAgent.destroy();
    },
  };
}

/**
 * The proxy in front of the test run's Pebble, serving Pebble's own HTTPS certificate
 * (scripts/peers/tls.ts writes it next to PEBBLE_CA_CERT).
 */
export function startPebbleFaultProxy(): Promise<FaultProxy> {
  const { directoryUrl, caCertPath, caPem } = peers().pebble;
  const dir = dirname(caCertPath);
  return startFaultProxy({
    upstream: directoryUrl,
    caPem,
    certPem: readFileSync(join(dir, 'tls-server.pem'), 'utf8'),
    keyPem: readFileSync(join(dir, 'tls-server.key'), 'utf8'),
  });
}

interface Forwarded {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function forward(
  agent: Agent,
  upstream: URL,
  request: { method: string; path: string; headers: OutgoingHttpHeaders; body: Buffer },
): Promise<Forwarded> {
  return new Promise((resolveReply, reject) => {
    const req = httpsRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: request.method,
        path: request.path,
        headers: request.body.length
          ? { ...request.headers, 'content-length': String(request.body.length) }
          : request.headers,
        agent,
        timeout: 30_000,
      },
      (res) => {
        readBody(res).then(
          (body) => resolveReply({ status: res.statusCode ?? 502, headers: res.headers, body }),
          reject,
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${upstream.origin} in time`)));
    req.on('error', reject);
    req.end(request.body);
  });
}

/** The client's headers minus hop-by-hop ones; Host is kept (see the file comment). */
function forwardedHeaders(incoming: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || name === 'content-length') continue;
    // Identity bodies only, so JSON can be rewritten.
    if (name === 'accept-encoding') continue;
    out[name] = value;
  }
  return out;
}

function readBody(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolveBody(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

function answer(
  res: ServerResponse,
  status: number,
  headers: OutgoingHttpHeaders,
  body: string | Buffer,
): void {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  // No body, no length for 204/304 (RFC 9110 §8.6); HEAD answers carry none either.
  const bodiless = status === 204 || status === 304 || res.req.method === 'HEAD';
  res.writeHead(status, bodiless ? headers : { ...headers, 'Content-Length': String(bytes.length) });
  res.end(bodiless ? undefined : bytes);
}
