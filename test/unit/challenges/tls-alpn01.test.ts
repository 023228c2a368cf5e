import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type ConnectionOptions, type PeerCertificate } from 'node:tls';
import * as x509 from '@peculiar/x509';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseClientHello } from '../../../shared/challenges/tlsalpn01/client-hello.js';
import {
  startTlsAlpn01Responder,
  type TlsAlpn01Responder,
} from '../../../shared/challenges/tlsalpn01/responder.js';
import { ObjectTlsAlpn01Solver, tlsAlpn01Material } from '../../../shared/challenges/tlsalpn01/store.js';
import type { Challenge } from '../../../shared/challenges/solver.js';
import { ValidationError } from '../../../shared/model/errors.js';
import { parseIdentifier } from '../../../shared/model/identifiers.js';
import { ACME_IDENTIFIER_OID, acmeIdentifierValue } from '../../../shared/pki/tls-alpn.js';
import { FsObjectStore } from '../../../shared/store/fs-store.js';
import { clientHelloBytes } from '../../support/client-hello.js';

const token = (c: string): string => c.repeat(43);
const challengeFor = (identifier: string, t = token('a')): Challenge => ({
  type: 'tls-alpn-01',
  identifier: parseIdentifier(identifier),
  token: t,
  value: `${t}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI`,
});

let root: string;
let store: FsObjectStore;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'certkeeper-tlsalpn01-'));
  store = new FsObjectStore({ root });
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('parseClientHello', () => {
  it('reads SNI and ALPN from a real ClientHello, and waits for the rest of a partial one', async () => {
    const hello = await clientHelloBytes({
      servername: 'www.example.test',
      ALPNProtocols: ['acme-tls/1', 'h2'],
    });
    expect(parseClientHello(hello)).toEqual({
      state: 'complete',
      serverName: 'www.example.test',
      alpn: ['acme-tls/1', 'h2'],
    });
    expect(parseClientHello(hello.subarray(0, 3))).toEqual({ state: 'incomplete' });
    expect(parseClientHello(hello.subarray(0, hello.length - 1))).toEqual({ state: 'incomplete' });
  });

  it('reports a hello without SNI or ALPN as such', async () => {
    const hello = await clientHelloBytes({ host: '127.0.0.1' });
    expect(parseClientHello(hello)).toEqual({ state: 'complete', serverName: undefined, alpn: [] });
  });

  it('refuses what is not a TLS ClientHello', () => {
    expect(parseClientHello(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))).toMatchObject({
      state: 'invalid',
    });
    // A handshake record that holds a ServerHello (type 2).
    expect(parseClientHello(Buffer.from([0x16, 3, 1, 0, 4, 2, 0, 0, 0]))).toMatchObject({
      state: 'invalid',
      reason: 'not a ClientHello',
    });
    // A ClientHello whose extensions run past its end.
    const body = Buffer.concat([Buffer.alloc(34), Buffer.from([0, 0, 2, 0x13, 0x01, 1, 0, 0, 9, 0, 0])]);
    const hs = Buffer.concat([Buffer.from([1, 0, 0, body.length]), body]);
    const record = Buffer.concat([Buffer.from([0x16, 3, 1, 0, hs.length]), hs]);
    expect(parseClientHello(record)).toEqual({ state: 'invalid', reason: 'malformed ClientHello' });
  });
});

describe('ObjectTlsAlpn01Solver', () => {
  it('stores a validation certificate per SNI name, with its throwaway key, and removes it on cleanup', async () => {
    const solver = new ObjectTlsAlpn01Solver({ store });
    const challenges = [challengeFor('127.0.0.1'), challengeFor('www.example.test', token('b'))];
    await solver.present(challenges);
    await solver.waitReady(challenges);
    expect((await readdir(join(root, 'challenges', 'tls-alpn-01'))).sort()).toEqual([
      '1.0.0.127.in-addr.arpa',
      'www.example.test',
    ]);
    const stored = tlsAlpn01Material.parse(
      JSON.parse((await store.get('challenges/tls-alpn-01/www.example.test'))!),
    );
    expect(stored.token).toBe(token('b'));
    const ext = new x509.X509Certificate(stored.certPem).getExtension(ACME_IDENTIFIER_OID)!;
    expect(Buffer.from(ext.value).equals(acmeIdentifierValue(challenges[1]!.value))).toBe(true);
    await solver.cleanup(challenges);
    expect(await readdir(join(root, 'challenges', 'tls-alpn-01'))).toEqual([]);
    await solver.cleanup(challenges); // idempotent
  });

  it('leaves material another order wrote for the same name since', async () => {
    const first = new ObjectTlsAlpn01Solver({ store });
    const second = new ObjectTlsAlpn01Solver({ store });
    await first.present([challengeFor('www.example.test')]);
    await second.present([challengeFor('www.example.test', token('c'))]);
    await first.cleanup([challengeFor('www.example.test')]);
    expect(await store.get('challenges/tls-alpn-01/www.example.test')).toContain(token('c'));
  });

  it('refuses a wildcard or another challenge type before writing anything', async () => {
    const solver = new ObjectTlsAlpn01Solver({ store });
    const wildcard = challengeFor('*.example.test');
    const error = await solver.present([challengeFor('a.example.test'), wildcard]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).message).toMatch(/challenges\[1\]\.identifier: .*wildcard.*RFC 8737/);
    const http = { ...challengeFor('a.example.test'), type: 'http-01' as const };
    await expect(solver.present([http])).rejects.toThrow(/challenges\[0\]\.type: is http-01/);
    expect(await store.get('challenges/tls-alpn-01/a.example.test')).toBeUndefined();
  });
});

describe('startTlsAlpn01Responder', () => {
  let responder: TlsAlpn01Responder;
  let refusals: string[];
  beforeEach(async () => {
    refusals = [];
    responder = await startTlsAlpn01Responder({
      store,
      host: '127.0.0.1',
      port: 0,
      log: {
        debug: () => undefined,
        warn: () => undefined,
        error: () => undefined,
        info: (message, extra) => {
          if (message !== 'tls-alpn-01 validation certificate served')
            refusals.push(String(extra?.reason ?? extra?.error));
        },
      },
    });
    await new ObjectTlsAlpn01Solver({ store }).present([
      challengeFor('127.0.0.1'),
      challengeFor('www.example.test', token('b')),
    ]);
  });
  afterEach(async () => {
    await responder.close();
  });

  const handshake = (options: ConnectionOptions): Promise<{ alpn: string | false; cert: PeerCertificate }> =>
    new Promise((resolve, reject) => {
      const socket = connect({
        host: '127.0.0.1',
        port: responder.address.port,
        rejectUnauthorized: false,
        ...options,
      });
      socket.once('secureConnect', () => {
        resolve({ alpn: socket.alpnProtocol ?? false, cert: socket.getPeerCertificate() });
        socket.destroy();
      });
      socket.once('error', reject);
      socket.once('close', () => reject(new Error('closed before the handshake')));
    });

  it('serves the validation certificate for the SNI name, with acme-tls/1 negotiated', async () => {
    const dns = await handshake({ servername: 'www.example.test', ALPNProtocols: ['acme-tls/1'] });
    expect(dns.alpn).toBe('acme-tls/1');
    expect(dns.cert.subjectaltname).toBe('DNS:www.example.test');
    const ip = await handshake({ servername: '1.0.0.127.in-addr.arpa', ALPNProtocols: ['acme-tls/1'] });
    expect(ip.cert.subjectaltname).toBe('IP Address:127.0.0.1');
  });

  it('refuses a handshake without ALPN, before any certificate is sent', async () => {
    await expect(handshake({ servername: 'www.example.test' })).rejects.toThrow();
    expect(refusals).toEqual(['ALPN absent, not acme-tls/1']);
  });

  it('refuses a handshake that offers other protocols only', async () => {
    await expect(
      handshake({ servername: 'www.example.test', ALPNProtocols: ['h2', 'http/1.1'] }),
    ).rejects.toThrow();
    expect(refusals).toEqual(['ALPN h2,http/1.1, not acme-tls/1']);
  });

  it('refuses a handshake without SNI, and one for a name with nothing stored', async () => {
    await expect(handshake({ ALPNProtocols: ['acme-tls/1'] })).rejects.toThrow();
    await expect(
      handshake({ servername: 'other.example.test', ALPNProtocols: ['acme-tls/1'] }),
    ).rejects.toThrow();
    expect(refusals).toEqual([
      'no server name (SNI)',
      'no tls-alpn-01 validation certificate for other.example.test',
    ]);
  });
});
