import { brotliCompressSync, constants as zlibConstants, gzipSync } from 'node:zlib';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import axios, { AxiosError } from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeHttpAdapter } from '../../../shared/acme/http-adapter.js';

/** A local HTTP peer whose answer per path is a function: status, headers and body as a test needs. */
const routes = new Map<string, (req: IncomingMessage, body: string, res: ServerResponse) => void>();
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      const route = routes.get(new URL(req.url ?? '/', 'http://x').pathname);
      if (route) route(req, body, res);
      else res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const client = axios.create({ adapter: nodeHttpAdapter, timeout: 2_000 });

describe('the HTTP adapter under acme-client', () => {
  it('sends the JSON body and headers, asks for no compression, and parses the JSON answer', async () => {
    let seen: { method?: string; type?: string; encoding?: string; length?: string; body?: string } = {};
    routes.set('/order', (req, body, res) => {
      seen = {
        method: req.method,
        type: req.headers['content-type'],
        encoding: req.headers['accept-encoding'],
        length: req.headers['content-length'],
        body,
      };
      res.writeHead(201, { 'Content-Type': 'application/json', 'Replay-Nonce': 'n1' });
      res.end('\ufeff{"status":"pending"}');
    });
    const answer = await client.post(
      `${base}/order`,
      { protected: 'p', payload: '', signature: 's' },
      {
        headers: { 'Content-Type': 'application/jose+json' },
      },
    );
    expect(answer.status).toBe(201);
    expect(answer.data).toEqual({ status: 'pending' });
    expect(answer.headers['replay-nonce']).toBe('n1');
    expect(seen).toEqual({
      method: 'POST',
      type: 'application/jose+json',
      encoding: 'identity',
      length: String(Buffer.byteLength(seen.body ?? '')),
      body: '{"protected":"p","payload":"","signature":"s"}',
    });
  });

  it('hands a refused status to validateStatus as axios does, with the parsed problem', async () => {
    routes.set('/problem', (_req, _body, res) => {
      res.writeHead(400, { 'Content-Type': 'application/problem+json' });
      res.end('{"type":"urn:ietf:params:acme:error:malformed"}');
    });
    const error = await client.get(`${base}/problem`).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(AxiosError);
    expect((error as AxiosError).code).toBe(AxiosError.ERR_BAD_REQUEST);
    expect((error as AxiosError).response?.data).toEqual({ type: 'urn:ietf:params:acme:error:malformed' });
    const accepted = await client.get(`${base}/problem`, { validateStatus: () => true });
    expect(accepted.status).toBe(400);
  });

  it('follows redirects for GET only, and not forever', async () => {
    routes.set('/moved', (_req, _body, res) => res.writeHead(301, { Location: '/dir' }).end());
    routes.set('/dir', (_req, _body, res) =>
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"newNonce":"x"}'),
    );
    routes.set('/loop', (_req, _body, res) => res.writeHead(302, { Location: '/loop' }).end());
    expect((await client.get(`${base}/moved`)).data).toEqual({ newNonce: 'x' });
    // A signed POST is never replayed at another URL.
    expect((await client.post(`${base}/moved`, '{}', { validateStatus: () => true })).status).toBe(301);
    const loop = await client.get(`${base}/loop`).catch((err: unknown) => err);
    expect((loop as AxiosError).code).toBe('ERR_FR_TOO_MANY_REDIRECTS');
  });

  it('decodes an answer compressed although no compression was asked for', async () => {
    routes.set('/gzip', (_req, _body, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
      res.end(gzipSync('{"ok":true}'));
    });
    expect((await client.get(`${base}/gzip`)).data).toEqual({ ok: true });
  });

  it('gives up after the timeout with ECONNABORTED, and refuses an answer over maxContentLength', async () => {
    routes.set('/slow', (_req, _body, res) => setTimeout(() => res.writeHead(200).end('late'), 1_000));
    const slow = await client.get(`${base}/slow`, { timeout: 100 }).catch((err: unknown) => err);
    expect((slow as AxiosError).code).toBe('ECONNABORTED');
    expect((slow as AxiosError).message).toMatch(/timeout of 100ms/);
    routes.set('/big', (_req, _body, res) => res.writeHead(200).end('x'.repeat(5_000)));
    const big = await client.get(`${base}/big`, { maxContentLength: 1_000 }).catch((err: unknown) => err);
    expect((big as AxiosError).message).toMatch(/maxContentLength/);
  });

  it('refuses a compressed answer that decompresses beyond maxContentLength, without inflating it whole', async () => {
    // About 3 KB of brotli (and 64 KB of gzip) that would become 64 MiB: a CA, or whatever
    // answers in its place, must not take the issuer's memory (issue 22, item 5).
    const bomb = Buffer.alloc(64 * 1024 * 1024);
    const br = brotliCompressSync(bomb, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 5 } });
    const gz = gzipSync(bomb, { level: 1 });
    expect(br.length).toBeLessThan(16 * 1024);
    routes.set('/br', (_req, _body, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Encoding': 'br' });
      res.end(br);
    });
    routes.set('/gz', (_req, _body, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
      res.end(gz);
    });
    for (const path of ['/br', '/gz']) {
      const error = await client.get(`${base}${path}`).catch((err: unknown) => err);
      expect(error, path).toBeInstanceOf(AxiosError);
      expect((error as AxiosError).code).toBe('ERR_BAD_RESPONSE');
      expect((error as AxiosError).message).toMatch(
        /decompressed answer exceeds maxContentLength size of 16777216/,
      );
    }
    // The cap follows maxContentLength: a small one refuses a small bomb too.
    routes.set('/small', (_req, _body, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
      res.end(gzipSync(`"${'x'.repeat(5_000)}"`));
    });
    const small = await client.get(`${base}/small`, { maxContentLength: 1_000 }).catch((err: unknown) => err);
    expect((small as AxiosError).message).toMatch(
      /decompressed answer exceeds maxContentLength size of 1000/,
    );
  });

  it('sends nothing over plain http but to this machine (RFC 8555 §6.1: ACME is HTTPS), redirects included', async () => {
    const far = await client.get('http://192.0.2.1/directory').catch((err: unknown) => err);
    expect(far).toBeInstanceOf(AxiosError);
    expect((far as AxiosError).code).toBe('ERR_BAD_REQUEST');
    expect((far as AxiosError).message).toMatch(
      /http:\/\/192\.0\.2\.1\/directory: ACME requests go over https/,
    );
    routes.set('/downgrade', (_req, _body, res) =>
      res.writeHead(302, { Location: 'http://acme.example.invalid/directory' }).end(),
    );
    const downgraded = await client.get(`${base}/downgrade`).catch((err: unknown) => err);
    expect((downgraded as AxiosError).message).toMatch(
      /http:\/\/acme\.example\.invalid\/directory: ACME requests go over https/,
    );
  });

  it('keeps the code of a network error (what transport.ts classifies)', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const refused = await client.get(`http://127.0.0.1:${port}/dir`).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(AxiosError);
    expect((refused as AxiosError).code).toBe('ECONNREFUSED');
    expect((refused as AxiosError).response).toBeUndefined();
  });
});
