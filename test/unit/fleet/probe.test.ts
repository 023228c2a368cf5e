/**
 * The fleet probe against real sockets on 127.0.0.1: a TLS server with a certificate made
 * at run time, a closed port, a port that accepts and never answers, and one that is not TLS.
 */
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createSecureContext, createServer as createTlsServer } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { evaluateFleet } from '../../../shared/fleet/evaluate.js';
import { ProbeError, readServedCertificate } from '../../../shared/fleet/probe.js';
import { MINUTE } from '../../../shared/model/clock.js';
import { parseCertificateSpec } from '../../../shared/model/spec.js';
import { createTestCa } from '../../support/test-ca.js';

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((done) => s.close(done))));
});

async function listen(server: Server): Promise<number> {
  servers.push(server);
  server.on('connection', (s: Socket) => sockets.push(s));
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return (server.address() as { port: number }).port;
}

async function serving(identifiers: string[]) {
  const leaf = await (await createTestCa()).issue({ identifiers });
  const server = createTlsServer({ cert: leaf.bundle.fullchain, key: leaf.bundle.privkey });
  return { leaf, port: await listen(server) };
}

async function failure(port: number, timeoutMs = 5000): Promise<ProbeError> {
  const err = await readServedCertificate({ host: '127.0.0.1', port }, timeoutMs).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProbeError);
  return err as ProbeError;
}

describe('readServedCertificate', () => {
  it('reads the served leaf: serial, notAfter and names', async () => {
    const { leaf, port } = await serving(['www.example.com', '203.0.113.10']);
    const served = await readServedCertificate({ host: '127.0.0.1', port, sni: 'www.example.com' }, 5000);
    expect(served).toEqual({
      serial: leaf.serial,
      notAfter: leaf.meta.notAfter,
      names: ['www.example.com', '203.0.113.10'],
    });
  });

  it('writes IPv6 names as the spec does (RFC 5952), so they compare with the identifiers', async () => {
    const { port } = await serving(['2001:db8::1']);
    const served = await readServedCertificate({ host: '127.0.0.1', port }, 5000);
    expect(served.names).toEqual(['2001:db8::1']);

    // An older serial of this same certificate is updating inside the lag, not another certificate.
    const spec = parseCertificateSpec({
      name: 'v6',
      identifiers: ['2001:db8::1'],
      probes: [`127.0.0.1:${port}`],
    });
    const now = new Date();
    const { status } = evaluateFleet(
      [
        {
          spec,
          state: {
            status: 'valid',
            attempts: 0,
            current: {
              serial: '0A',
              notBefore: now.toISOString(),
              notAfter: served.notAfter,
              manifestKey: 'x',
            },
            lastSuccessAt: new Date(now.getTime() - MINUTE).toISOString(),
            updatedAt: now.toISOString(),
          },
        },
      ],
      { reports: new Map(), probes: new Map([['v6', new Map([[`127.0.0.1:${port}`, served]])]]) },
      undefined,
      now,
    );
    expect(status.certificates.v6!.targets[0]!.health).toBe('updating');
  });

  it('sends the host name as SNI when none is given (as curl and browsers do), and none for an IP', async () => {
    const ca = await createTestCa();
    const [fallback, named] = await Promise.all([
      ca.issue({ identifiers: ['default.example.net'] }),
      ca.issue({ identifiers: ['localhost'] }),
    ]);
    // Like a server with name-based virtual hosts: without SNI, the default site's certificate.
    const server = createTlsServer({
      cert: fallback.bundle.fullchain,
      key: fallback.bundle.privkey,
      SNICallback: (name, done) =>
        done(
          null,
          name === 'localhost'
            ? createSecureContext({ cert: named.bundle.fullchain, key: named.bundle.privkey })
            : undefined,
        ),
    });
    const port = await listen(server);

    expect((await readServedCertificate({ host: 'localhost', port }, 5000)).serial).toBe(named.serial);
    expect((await readServedCertificate({ host: '127.0.0.1', port }, 5000)).serial).toBe(fallback.serial);
  });

  it('says closed when nothing listens on the port', async () => {
    const port = await listen(createNetServer());
    await new Promise((done) => servers.pop()!.close(done));
    const err = await failure(port);
    expect(err.kind).toBe('closed');
    expect(err.message).toBe(`127.0.0.1:${port}: connection refused (nothing listens on that port?)`);
  });

  it('says timeout when the port accepts but no handshake comes', async () => {
    const port = await listen(createNetServer());
    const err = await failure(port, 300);
    expect(err.kind).toBe('timeout');
    expect(err.message).toBe(`127.0.0.1:${port}: no TLS handshake within 300 ms`);
  });

  it('says tls when the port answers something that is not TLS', async () => {
    const port = await listen(
      createNetServer((s) => s.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n')),
    );
    const err = await failure(port);
    expect(err.kind).toBe('tls');
    expect(err.message).toMatch(new RegExp(`^127\\.0\\.0\\.1:${port}: TLS failed: `));
  });
});
