import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fetchRenewalInfo } from '../../../shared/acme/ari.js';
import { fetchDirectory, parseDirectory } from '../../../shared/acme/directory.js';
import { checkProfile } from '../../../shared/acme/order-answers.js';
import { ACME_CLIENT_BAD_NONCE_RETRIES, AcmeTransport } from '../../../shared/acme/transport.js';
import { systemClock } from '../../../shared/model/clock.js';
import {
  AcmeProblemError,
  CertkeeperError,
  RetryLaterError,
  UnreachableError,
  ValidationError,
} from '../../../shared/model/errors.js';

type Reply = { status: number; headers?: Record<string, string>; body?: unknown };

/** A scripted HTTP peer: answers each request with the next reply, recording headers. */
let server: Server;
let base: string;
let script: Reply[] = [];
const seen: IncomingHttpHeaders[] = [];

/** This file's own transport, its waits shortened. */
const transport = new AcmeTransport({
  clock: systemClock,
  policy: { retryBaseMs: 10, maxInlineWaitMs: 2_000, timeoutMs: 2_000 },
});

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.headers);
    const reply = script.shift() ?? {
      status: 500,
      body: { type: 'urn:ietf:params:acme:error:serverInternal' },
    };
    const json = reply.body !== undefined;
    res.writeHead(reply.status, {
      ...(json
        ? { 'Content-Type': reply.status >= 400 ? 'application/problem+json' : 'application/json' }
        : {}),
      ...reply.headers,
    });
    res.end(json ? JSON.stringify(reply.body) : undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(() => {
  script = [];
  seen.length = 0;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const get = (path = '/x') => transport.axios.get(`${base}${path}`, { validateStatus: () => true });

describe('acme-client transport', () => {
  it('hands the Replay-Nonce of a POST answer to the next HEAD newNonce, once (RFC 8555 §7.2)', async () => {
    transport.clearNonces();
    script = [
      {
        status: 200,
        headers: { 'Replay-Nonce': 'nonce-from-post', 'Retry-After': '2' },
        body: { status: 'processing' },
      },
      {
        status: 400,
        headers: { 'Replay-Nonce': 'nonce-from-error' },
        body: { type: 'urn:ietf:params:acme:error:badNonce' },
      },
      { status: 200, headers: { 'Replay-Nonce': 'nonce-from-server' } },
    ];
    const posted = await transport.axios.post(`${base}/order`, {}, { validateStatus: () => true });
    expect(transport.retryAfterOf(posted.data)).toBe(2_000);
    // The error answer's nonce belongs to acme-client's badNonce retry, not to the pool.
    await transport.axios.post(`${base}/order`, {}, { validateStatus: () => true });
    const first = await transport.axios.head(`${base}/nonce`, { validateStatus: () => true });
    expect(first.headers['replay-nonce']).toBe('nonce-from-post');
    expect(seen).toHaveLength(2);
    const second = await transport.axios.head(`${base}/nonce`, { validateStatus: () => true });
    expect(second.headers['replay-nonce']).toBe('nonce-from-server');
    expect(seen).toHaveLength(3);
  });

  it("answers acme-client's GET of a directory certkeeper just fetched from memory, once", async () => {
    const dir = {
      newNonce: `${base}/nonce`,
      newAccount: `${base}/account`,
      newOrder: `${base}/order`,
    };
    script = [
      { status: 200, body: dir },
      { status: 200, body: { ...dir, newOrder: `${base}/order-2` } },
      { status: 200, body: { ...dir, newOrder: `${base}/order-3` } },
    ];
    expect((await fetchDirectory(transport, `${base}/dir`)).newOrder).toBe(`${base}/order`);
    // acme-client's first look at the directory: no second request for the same document.
    expect((await get('/dir')).data).toEqual(dir);
    expect(seen).toHaveLength(1);
    // Once only: its next GET, and certkeeper's own fetches, go to the CA.
    expect(((await get('/dir')).data as typeof dir).newOrder).toBe(`${base}/order-2`);
    expect((await fetchDirectory(transport, `${base}/dir`)).newOrder).toBe(`${base}/order-3`);
    expect(seen).toHaveLength(3);
  });

  it('sends a User-Agent naming certkeeper (RFC 8555 §6.1)', async () => {
    script = [{ status: 200, body: {} }];
    await get();
    expect(seen[0]?.['user-agent']).toMatch(/^certkeeper node-acme-client\/5\.4\.0$/);
  });

  it('retries a 503 with a short Retry-After and returns the later answer', async () => {
    script = [
      {
        status: 503,
        headers: { 'Retry-After': '0' },
        body: { type: 'urn:ietf:params:acme:error:serverInternal' },
      },
      { status: 200, body: { ok: true } },
    ];
    const response = await get();
    expect(response.data).toEqual({ ok: true });
    expect(seen).toHaveLength(2);
  });

  it('turns a long Retry-After into RetryLaterError without sleeping', async () => {
    script = [
      {
        status: 429,
        headers: { 'Retry-After': '3600' },
        body: { type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many certificates' },
      },
    ];
    const started = Date.now();
    const error = await get().catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(error).toBeInstanceOf(RetryLaterError);
    const retryAt = (error as RetryLaterError).retryAt.getTime();
    expect(retryAt).toBeGreaterThan(Date.now() + 3_500_000);
    expect((error as RetryLaterError).problemType).toBe('urn:ietf:params:acme:error:rateLimited');
    expect((error as Error).message).toContain('too many certificates');
    expect(seen).toHaveLength(1);
  });

  it('accepts an HTTP-date Retry-After', async () => {
    const at = new Date(Date.now() + 2 * 3600_000);
    script = [{ status: 503, headers: { 'Retry-After': at.toUTCString() } }];
    const error = await get().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RetryLaterError);
    expect(Math.abs((error as RetryLaterError).retryAt.getTime() - at.getTime())).toBeLessThan(2_000);
  });

  it('never resends a signed POST inline: its nonce may be spent (RFC 8555 §6.5)', async () => {
    script = [
      {
        status: 503,
        headers: { 'Retry-After': '0' },
        body: { type: 'urn:ietf:params:acme:error:serverInternal' },
      },
      { status: 200, body: { ok: true } },
    ];
    const error = await transport.axios
      .post(`${base}/new-order`, { payload: 'x' }, { validateStatus: () => true })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AcmeProblemError);
    expect((error as AcmeProblemError).retryable).toBe(true);
    expect(seen).toHaveLength(1);
  });

  it('states the Retry-After as a delay, for callers on their own clock', async () => {
    script = [
      {
        status: 429,
        headers: { 'Retry-After': '3600' },
        body: { type: 'urn:ietf:params:acme:error:rateLimited' },
      },
    ];
    const error = await get().catch((e: unknown) => e);
    expect((error as RetryLaterError).delayMs).toBe(3_600_000);
  });

  it('gives up on repeated 5xx after the bounded retries, as a retryable problem', async () => {
    script = [{ status: 500 }, { status: 502 }, { status: 500 }, { status: 200 }];
    const error = await get().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AcmeProblemError);
    expect((error as AcmeProblemError).retryable).toBe(true);
    expect(seen).toHaveLength(3);
  });

  it('turns a problem document into AcmeProblemError with subproblems', async () => {
    script = [
      {
        status: 400,
        body: {
          type: 'urn:ietf:params:acme:error:rejectedIdentifier',
          detail: 'Some identifiers were rejected',
          subproblems: [
            {
              type: 'urn:ietf:params:acme:error:rejectedIdentifier',
              detail: 'not a public address',
              identifier: { type: 'ip', value: '10.0.0.1' },
            },
          ],
        },
      },
    ];
    const error = (await get().catch((e: unknown) => e)) as AcmeProblemError;
    expect(error).toBeInstanceOf(AcmeProblemError);
    expect(error.type).toBe('urn:ietf:params:acme:error:rejectedIdentifier');
    expect(error.status).toBe(400);
    expect(error.detail).toContain('10.0.0.1: not a public address (rejectedIdentifier)');
    expect(error.retryable).toBe(false);
  });

  it('lets badNonce through for acme-client to retry with the fresh nonce (RFC 8555 §6.5)', async () => {
    script = [{ status: 400, body: { type: 'urn:ietf:params:acme:error:badNonce', detail: 'stale' } }];
    const response = await get();
    expect(response.status).toBe(400);
  });

  it('turns the badNonce acme-client will not retry into AcmeProblemError badNonce, retryable', async () => {
    // A retry chain as acme-client runs it: each request signed with the nonce the previous
    // badNonce answer carried; after ACME_CLIENT_BAD_NONCE_RETRIES retries it would give up
    // with a plain Error, so the transport must classify that last answer itself.
    const signed = (nonce: string) => ({
      protected: Buffer.from(JSON.stringify({ alg: 'ES256', nonce, url: `${base}/new-order` })).toString(
        'base64url',
      ),
      payload: '',
      signature: '',
    });
    const badNonce = (next: string): Reply => ({
      status: 400,
      headers: { 'Replay-Nonce': next },
      body: { type: 'urn:ietf:params:acme:error:badNonce', detail: 'JWS has an invalid anti-replay nonce' },
    });
    const post = (nonce: string) =>
      transport.axios.post(`${base}/new-order`, signed(nonce), { validateStatus: () => true });

    script = Array.from({ length: ACME_CLIENT_BAD_NONCE_RETRIES + 1 }, (_, i) => badNonce(`n${i + 1}`));
    let nonce = 'n0';
    for (let retry = 0; retry < ACME_CLIENT_BAD_NONCE_RETRIES; retry++) {
      const response = await post(nonce);
      expect(response.status, `retry ${retry}`).toBe(400);
      nonce = String(response.headers['replay-nonce']);
    }
    const error = await post(nonce).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AcmeProblemError);
    expect((error as AcmeProblemError).type).toBe('urn:ietf:params:acme:error:badNonce');
    expect((error as AcmeProblemError).retryable).toBe(true);
    expect((error as AcmeProblemError).detail).toContain(`after ${ACME_CLIENT_BAD_NONCE_RETRIES} retries`);

    // A fresh request (a nonce from no chain) starts its own count.
    script = [badNonce('m1')];
    expect((await post('unrelated')).status).toBe(400);
  });

  it('turns a refused connection into UnreachableError naming the URL and a fix', async () => {
    const error = (await transport.axios
      .get('http://127.0.0.1:1/dir')
      .catch((e: unknown) => e)) as UnreachableError;
    expect(error).toBeInstanceOf(UnreachableError);
    expect(error.message).toContain('http://127.0.0.1:1/dir');
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.fix).toMatch(/listening/);
    expect(error.retryable).toBe(true);
  });
});

describe('directory parsing', () => {
  const minimal = {
    newNonce: 'https://ca.test/nonce',
    newAccount: 'https://ca.test/account',
    newOrder: 'https://ca.test/order',
  };

  it('ignores unknown keys and reads profiles and renewalInfo', () => {
    const dir = parseDirectory('https://ca.test/dir', {
      ...minimal,
      renewalInfo: 'https://ca.test/ari',
      'vendor-extra': { anything: [1, 2] },
      meta: {
        profiles: { classic: 'The default', shortlived: 'Six days' },
        termsOfService: 'https://ca.test/tos',
        somethingNew: true,
      },
    });
    expect(dir.renewalInfo).toBe('https://ca.test/ari');
    expect(dir.profiles).toEqual({ classic: 'The default', shortlived: 'Six days' });
    expect(dir.termsOfService).toBe('https://ca.test/tos');
    expect(dir.externalAccountRequired).toBe(false);
  });

  it('refuses a body that is not a directory, naming the URL', () => {
    expect(() => parseDirectory('https://ca.test/oops', { hello: 'world' })).toThrow(
      /https:\/\/ca\.test\/oops/,
    );
  });

  it('checks a requested profile against the directory', () => {
    const dir = parseDirectory('https://ca.test/dir', {
      ...minimal,
      meta: { profiles: { classic: '', shortlived: '' } },
    });
    expect(() => checkProfile(undefined, dir)).not.toThrow();
    expect(() => checkProfile('shortlived', dir)).not.toThrow();
    const error = (() => {
      try {
        checkProfile('nope', dir);
      } catch (e) {
        return e as ValidationError;
      }
    })();
    expect(error).toBeInstanceOf(ValidationError);
    expect(error?.field).toBe('profile');
    expect(error?.message).toBe('profile: "nope" is not offered by the CA; offered: classic, shortlived');
    expect(() => checkProfile('classic', parseDirectory('https://ca.test/dir', minimal))).toThrow(
      /advertises no profiles/,
    );
  });
});

describe('ARI renewalInfo (RFC 9773 §4.2)', () => {
  const now = new Date();

  it('GETs <renewalInfo>/<certID> and reads the window, explanation and Retry-After', async () => {
    script = [
      {
        status: 200,
        headers: { 'Retry-After': '21600' },
        body: {
          suggestedWindow: { start: '2027-01-02T04:00:00Z', end: '2027-01-03T04:00:00Z' },
          explanationURL: 'https://ca.test/why',
        },
      },
    ];
    const info = await fetchRenewalInfo(
      transport,
      `${base}/ari/`,
      'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE',
      now,
    );
    expect(info.suggestedWindow.start.toISOString()).toBe('2027-01-02T04:00:00.000Z');
    expect(info.suggestedWindow.end.toISOString()).toBe('2027-01-03T04:00:00.000Z');
    expect(info.explanationURL).toBe('https://ca.test/why');
    expect(info.retryAfter?.getTime()).toBe(now.getTime() + 21_600_000);
  });

  it('refuses a window that ends before it starts', async () => {
    script = [
      {
        status: 200,
        body: { suggestedWindow: { start: '2027-01-03T00:00:00Z', end: '2027-01-02T00:00:00Z' } },
      },
    ];
    const error = await fetchRenewalInfo(transport, base, 'a.b', now).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CertkeeperError);
    expect((error as CertkeeperError).retryable).toBe(true);
  });
});
