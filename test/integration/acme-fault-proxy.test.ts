/**
 * The fault-injecting proxy itself (test/support/acme-fault-proxy.ts), in front of the real
 * Pebble and, for the URL rewriting, in front of a scripted upstream that ignores Host.
 */
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import acme from 'acme-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AcmeTransport } from '../../shared/acme/transport.js';
import { systemClock } from '../../shared/model/clock.js';
import { type FaultProxy, startFaultProxy, startPebbleFaultProxy } from '../support/acme-fault-proxy.js';
import { peers } from '../../scripts/test-kit/peers.js';

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request on a fresh connection (no keep-alive), trusting Pebble's TLS CA. */
function call(url: string, method = 'GET', body?: string): Promise<Reply> {
  return new Promise((resolveReply, reject) => {
    const req = request(
      url,
      {
        method,
        agent: false,
        ca: peers().pebble.caPem,
        timeout: 10_000,
        headers: {
          'User-Agent': 'certkeeper-fault-proxy-test',
          ...(body ? { 'Content-Type': 'application/jose+json' } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolveReply({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url}`)));
    req.on('error', reject);
    req.end(body);
  });
}

const errorCode = (promise: Promise<unknown>): Promise<string> =>
  promise.then(
    () => 'answered',
    (err: NodeJS.ErrnoException) => err.code ?? err.message,
  );

let proxy: FaultProxy;
let pebbleOrigin: string;

beforeAll(async () => {
  pebbleOrigin = new URL(peers().pebble.directoryUrl).origin;
  proxy = await startPebbleFaultProxy();
});

afterAll(async () => {
  await proxy.close();
});

describe('pass', () => {
  it('serves the directory with every URL on the proxy', async () => {
    const reply = await call(proxy.directoryUrl);
    expect(reply.status).toBe(200);
    const directory = JSON.parse(reply.body) as Record<string, unknown>;
    const urls = Object.values(directory).filter(
      (v): v is string => typeof v === 'string' && /^https:/.test(v),
    );
    expect(urls.length).toBeGreaterThanOrEqual(5);
    for (const url of urls) expect(url.startsWith(`${proxy.origin}/`)).toBe(true);
    expect(reply.body).not.toContain(pebbleOrigin);
    expect(proxy.requests).toContain(`GET ${new URL(proxy.directoryUrl).pathname} 200`);
  });

  it('passes nonces through', async () => {
    const reply = await call(`${proxy.origin}/nonce-plz`, 'HEAD');
    expect(reply.status).toBe(200);
    expect(reply.headers['replay-nonce']).toMatch(/^[\w-]+$/);
  });

  it('carries a whole ACME conversation: account and order URLs lead back through the proxy', async () => {
    const transport = new AcmeTransport({ clock: systemClock });
    transport.trust(proxy.directoryUrl, peers().pebble.caPem);
    const client = transport.attach(
      new acme.Client({
        directoryUrl: proxy.directoryUrl,
        accountKey: await acme.crypto.createPrivateKey(),
      }),
    );
    await client.createAccount({ termsOfServiceAgreed: true });
    expect(client.getAccountUrl().startsWith(`${proxy.origin}/`)).toBe(true);

    const order = await client.createOrder({
      identifiers: [{ type: 'dns', value: 'proxy.test' }],
      profile: 'classic',
    } as Parameters<typeof client.createOrder>[0]);
    expect(order.url.startsWith(`${proxy.origin}/`)).toBe(true);
    expect(order.finalize.startsWith(`${proxy.origin}/`)).toBe(true);
    const authorizations = await client.getAuthorizations(order);
    expect(authorizations).toHaveLength(1);
    for (const challenge of authorizations[0]!.challenges) {
      expect(challenge.url.startsWith(`${proxy.origin}/`)).toBe(true);
    }
    expect(proxy.requests.filter((r) => / \/sign-me-up 20\d$/.test(r))).toHaveLength(1);
    expect(proxy.requests.filter((r) => / \/order-plz 201$/.test(r))).toHaveLength(1);
  });
});

describe('status faults', () => {
  afterAll(() => proxy.setFault({ kind: 'pass' }));

  it('answers 500 serverInternal on matching paths only, with a nonce for POSTs', async () => {
    await proxy.setFault({ kind: 'status', status: 500, match: /order-plz/ });
    const order = await call(`${proxy.origin}/order-plz`, 'POST', '{}');
    expect(order.status).toBe(500);
    expect(order.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(order.body)).toMatchObject({
      type: 'urn:ietf:params:acme:error:serverInternal',
      status: 500,
    });
    expect(order.headers['replay-nonce']).toMatch(/^[\w-]+$/);
    expect(order.headers['retry-after']).toBeUndefined();
    expect((await call(proxy.directoryUrl)).status).toBe(200);
    expect(proxy.requests.slice(-2)).toEqual([
      'POST /order-plz 500',
      `GET ${new URL(proxy.directoryUrl).pathname} 200`,
    ]);
  });

  it('answers 503 everywhere without a match, except new-nonce', async () => {
    await proxy.setFault({ kind: 'status', status: 503 });
    expect((await call(proxy.directoryUrl)).status).toBe(503);
    expect((await call(`${proxy.origin}/sign-me-up`, 'POST', '{}')).status).toBe(503);
    const nonce = await call(`${proxy.origin}/nonce-plz`, 'HEAD');
    expect(nonce.status).toBe(200);
    expect(nonce.headers['replay-nonce']).toBeDefined();
  });

  it('answers 429 rateLimited with Retry-After on matching paths only', async () => {
    await proxy.setFault({ kind: 'rateLimited', retryAfterSeconds: 3600, match: /new-order|order-plz/ });
    const order = await call(`${proxy.origin}/order-plz`, 'POST', '{}');
    expect(order.status).toBe(429);
    expect(order.headers['retry-after']).toBe('3600');
    expect(JSON.parse(order.body)).toMatchObject({
      type: 'urn:ietf:params:acme:error:rateLimited',
      status: 429,
    });
    // Not matching: Pebble's own answer (a malformed JWS).
    const account = await call(`${proxy.origin}/sign-me-up`, 'POST', '{}');
    expect(account.status).toBe(400);
    expect(JSON.parse(account.body)).toMatchObject({ type: 'urn:ietf:params:acme:error:malformed' });
    expect((await call(proxy.directoryUrl)).status).toBe(200);
  });
});

describe('down', () => {
  afterAll(() => proxy.setFault({ kind: 'pass' }));

  it('refuses connections, then serves the same URL again once passed', async () => {
    await proxy.setFault({ kind: 'down' });
    expect(await errorCode(call(proxy.directoryUrl))).toBe('ECONNREFUSED');
    expect(await errorCode(call(`${proxy.origin}/nonce-plz`, 'HEAD'))).toBe('ECONNREFUSED');
    await proxy.setFault({ kind: 'pass' });
    expect((await call(proxy.directoryUrl)).status).toBe(200);
  });

  it('drops open keep-alive connections when it goes down', async () => {
    const agent = new Agent({ keepAlive: true, ca: peers().pebble.caPem });
    try {
      const get = () =>
        new Promise<number>((resolveStatus, reject) => {
          const req = request(proxy.directoryUrl, { agent, headers: { 'User-Agent': 'test' } }, (res) => {
            res.resume();
            res.on('end', () => resolveStatus(res.statusCode ?? 0));
          });
          req.on('error', reject);
          req.end();
        });
      expect(await get()).toBe(200);
      await proxy.setFault({ kind: 'down' });
      expect(await errorCode(get())).toMatch(/ECONNREFUSED|ECONNRESET/);
    } finally {
      agent.destroy();
    }
  });

  it("in 'reset' mode keeps the port but destroys every connection", async () => {
    await proxy.setFault({ kind: 'down', how: 'reset' });
    expect(await errorCode(call(proxy.directoryUrl))).toMatch(/ECONNRESET|EPIPE|socket hang up/);
    await proxy.setFault({ kind: 'pass' });
    expect((await call(proxy.directoryUrl)).status).toBe(200);
  });
});

describe('rewriting, in front of an upstream that ignores Host', () => {
  let upstream: Server;
  let rewriting: FaultProxy;
  let upstreamOrigin: string;

  beforeAll(async () => {
    const dir = dirname(peers().pebble.caCertPath);
    const tls = {
      cert: readFileSync(join(dir, 'tls-server.pem'), 'utf8'),
      key: readFileSync(join(dir, 'tls-server.key'), 'utf8'),
    };
    upstream = createServer(tls, (req, res) => {
      const self = upstreamOrigin;
      if (req.url === '/directory') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(
          JSON.stringify({ newNonce: `${self}/nonce`, newOrder: `${self}/order`, meta: { website: self } }),
        );
      } else if (req.url === '/order') {
        res.writeHead(201, {
          'Content-Type': 'application/json; charset=utf-8',
          Location: `${self}/order/1`,
          Link: [`<${self}/directory>;rel="index"`, `<${self}/alt/1>;rel="alternate"`],
          'Replay-Nonce': 'nonce-1',
        });
        res.end(JSON.stringify({ finalize: `${self}/finalize/1`, authorizations: [`${self}/authz/1`] }));
      } else {
        res.writeHead(200, { 'Content-Type': 'application/pem-certificate-chain' });
        res.end(`not JSON, left alone: ${self}\n`);
      }
    });
    await new Promise<void>((done) => upstream.listen(0, '127.0.0.1', done));
    upstreamOrigin = `https://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    rewriting = await startFaultProxy({
      upstream: `${upstreamOrigin}/directory`,
      caPem: peers().pebble.caPem,
      certPem: tls.cert,
      keyPem: tls.key,
    });
  });

  afterAll(async () => {
    await rewriting.close();
    await new Promise((done) => upstream.close(done));
  });

  it('rewrites the upstream origin in JSON bodies, Location and Link, keeping other headers', async () => {
    const directory = await call(rewriting.directoryUrl);
    expect(JSON.parse(directory.body)).toEqual({
      newNonce: `${rewriting.origin}/nonce`,
      newOrder: `${rewriting.origin}/order`,
      meta: { website: rewriting.origin },
    });
    const order = await call(`${rewriting.origin}/order`, 'POST', '{}');
    expect(order.status).toBe(201);
    expect(order.headers.location).toBe(`${rewriting.origin}/order/1`);
    expect(order.headers.link).toBe(
      `<${rewriting.origin}/directory>;rel="index", <${rewriting.origin}/alt/1>;rel="alternate"`,
    );
    expect(order.headers['replay-nonce']).toBe('nonce-1');
    expect(JSON.parse(order.body)).toEqual({
      finalize: `${rewriting.origin}/finalize/1`,
      authorizations: [`${rewriting.origin}/authz/1`],
    });
  });

  it('leaves non-JSON bodies alone', async () => {
    const cert = await call(`${rewriting.origin}/cert/1`);
    expect(cert.body).toBe(`not JSON, left alone: ${upstreamOrigin}\n`);
  });
});
