/**
 * The responders reading the bucket as the agent does, without s3:ListBucket: S3 then answers
 * 403 AccessDenied for a key that does not exist, so every made-up token or name any client
 * sends is a 403 (issue 22, item 10). moto serves the bucket; the fault proxy in front of it
 * answers the absent keys as S3 would for such a reader. A 403 there is "not found", counted,
 * and no error line; a store that really fails is a 500 and one error line, not one each.
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttp01Responder } from '../../shared/challenges/http01/responder.js';
import { S3Http01Solver } from '../../shared/challenges/http01/s3.js';
import { startTlsAlpn01Responder } from '../../shared/challenges/tlsalpn01/responder.js';
import { ObjectTlsAlpn01Solver } from '../../shared/challenges/tlsalpn01/store.js';
import type { Challenge } from '../../shared/challenges/solver.js';
import { parseIdentifier } from '../../shared/model/identifiers.js';
import type { Log } from '../../shared/model/log.js';
import { S3ObjectStore } from '../../shared/store/s3-store.js';
import { type AwsFaultProxy, type AwsFaultRule, startAwsFaultProxy } from '../support/aws-fault-proxy.js';
import { peers, s3Client, uniqueName } from '../../scripts/test-kit/peers.js';

const TOKEN = 'evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA';
const challenge = (type: Challenge['type'], identifier: string): Challenge => ({
  type,
  identifier: parseIdentifier(identifier),
  token: TOKEN,
  value: `${TOKEN}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI`,
});

/** Every challenge key but the two presented reads as S3 answers an absent key without s3:ListBucket. */
const absentDenied: AwsFaultRule = {
  match: ({ method, path }) =>
    method === 'GET' &&
    path.includes('/challenges/') &&
    !path.includes(TOKEN) &&
    !path.includes('www.example.test'),
  respond: 's3-access-denied',
};

describe('challenge responders over S3 read without s3:ListBucket (moto behind a 403 proxy)', () => {
  const bucket = uniqueName('responders');
  let proxy: AwsFaultProxy;
  let store: S3ObjectStore;
  let logged: string[];
  const log: Log = {
    debug: () => undefined,
    info: () => undefined,
    warn: (m) => void logged.push(`warn ${m}`),
    error: (m) => void logged.push(`error ${m}`),
  };

  beforeAll(async () => {
    await s3Client().send(new CreateBucketCommand({ Bucket: bucket }));
    proxy = await startAwsFaultProxy(peers().motoEndpoint);
    const client = new S3Client({
      endpoint: proxy.endpoint,
      region: peers().region,
      forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
    });
    store = new S3ObjectStore(client, { bucket });
    // Present the real ones straight to moto, then deny every other challenge key.
    const direct = new S3ObjectStore(s3Client(), { bucket });
    await new S3Http01Solver({ store: direct }).present([challenge('http-01', '192.0.2.10')]);
    await new ObjectTlsAlpn01Solver({ store: direct }).present([
      challenge('tls-alpn-01', 'www.example.test'),
    ]);
    proxy.setRule(absentDenied);
  });
  afterAll(async () => {
    await proxy?.close();
  });

  it('HTTP-01: made-up tokens (403 from S3) are 404 and counted, not 500 and an error line each; the real token is served', async () => {
    logged = [];
    const responder = await startHttp01Responder({ store, host: '127.0.0.1', port: 0, log });
    try {
      const url = (token: string) =>
        `http://127.0.0.1:${responder.address.port}/.well-known/acme-challenge/${token}`;
      for (let i = 0; i < 20; i++) {
        expect((await fetch(url(`madeUp${String(i).padStart(40, 'x')}`))).status).toBe(404);
      }
      const real = await fetch(url(TOKEN));
      expect(real.status).toBe(200);
      expect(await real.text()).toBe(challenge('http-01', '192.0.2.10').value);
      expect(proxy.injected.filter((r) => r.includes('/challenges/http-01/'))).toHaveLength(20);
      expect(responder.stats()).toMatchObject({ denied: 20, notFound: 0, storeErrors: 0, served: 1 });
      expect(logged).toEqual([]);
    } finally {
      await responder.close();
    }
  });

  it('HTTP-01: a store that really fails is a 500 each time, logged once', async () => {
    logged = [];
    const responder = await startHttp01Responder({ store, host: '127.0.0.1', port: 0, log });
    proxy.setRule({ match: ({ method }) => method === 'GET', respond: 's3-slowdown' });
    try {
      const url = `http://127.0.0.1:${responder.address.port}/.well-known/acme-challenge/${TOKEN}`;
      for (let i = 0; i < 5; i++) expect((await fetch(url)).status).toBe(500);
      expect(responder.stats().storeErrors).toBe(5);
      expect(logged).toEqual(['error http-01 responder could not read the store']);
    } finally {
      await responder.close();
      proxy.setRule(absentDenied);
    }
  });

  it('TLS-ALPN-01: a name with nothing stored (403 from S3) is refused and counted, without an error line', async () => {
    logged = [];
    const responder = await startTlsAlpn01Responder({ store, host: '127.0.0.1', port: 0, log });
    const handshake = (servername: string) =>
      new Promise<string>((resolve) => {
        const socket = connect({
          host: '127.0.0.1',
          port: responder.address.port,
          servername,
          ALPNProtocols: ['acme-tls/1'],
          rejectUnauthorized: false,
        });
        socket.once('secureConnect', () => {
          resolve(socket.getPeerCertificate().subjectaltname ?? '');
          socket.destroy();
        });
        socket.once('error', () => resolve('refused'));
        socket.once('close', () => resolve('refused'));
      });
    try {
      for (let i = 0; i < 5; i++) expect(await handshake(`other-${i}.example.test`)).toBe('refused');
      expect(await handshake('www.example.test')).toBe('DNS:www.example.test');
      expect(responder.stats()).toMatchObject({ denied: 5, storeErrors: 0, served: 1 });
      expect(logged).toEqual([]);
    } finally {
      await responder.close();
    }
  });
});
