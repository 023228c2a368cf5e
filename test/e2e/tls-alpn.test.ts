/**
 * TLS-ALPN-01 (RFC 8737, RFC 8738 §6 for IPs) end to end on the real peers: a Pebble of this
 * file's own validates `127.0.0.1` and a DNS name (resolved to 127.0.0.1 by the test DNS
 * server, from an A record in moto's Route53) on its TLS port, where a real front shares the
 * port between the web server and the responder, as agent/README.md documents it: nginx's
 * `stream` block (ssl_preread), then HAProxy. Through the same port an ordinary HTTPS
 * request still reaches the web server. The issuer path (the Lambda handler over moto's S3)
 * stores the validation certificates for the agent's responder and leaves none behind;
 * local mode (`certkeeper issue --tls-alpn01-listen`) answers in-process.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgentTlsAlpn01 } from '../../agent/tlsalpn01.js';
import { handler as issuer } from '../../functions/issuer.js';
import { sqsEvent } from '../../scripts/stand-in-stack/pipeline.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { freePorts } from '../../scripts/peers/ports.js';
import type { TlsAlpn01Responder } from '../../shared/challenges/tlsalpn01/responder.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import { type Log, silentLog } from '../../shared/model/log.js';
import { S3ObjectStore } from '../../shared/store/s3-store.js';
import { TLSALPN01_PREFIX } from '../../shared/store/layout.js';
import { declareCertificate } from '../../shared/usecases/declare-certificates.js';
import { runToEnd } from '../../scripts/test-kit/child.js';
import { startHaproxy } from '../support/haproxy.js';
import { startNginx, type Nginx } from '../../scripts/test-kit/nginx.js';
import { type SwitchedPebble, startPebbleWith } from '../../scripts/test-kit/pebble-switches.js';
import { peers, uniqueName } from '../../scripts/test-kit/peers.js';
import {
  createPeerStack,
  issuerMessage,
  listKeys,
  pointHandlersAt,
  putRecord,
} from '../../scripts/test-kit/stack.js';
import { createTestCa, type IssuedBundle } from '../support/test-ca.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TSX = join(REPO, 'node_modules', '.bin', 'tsx');
const ZONE = `alpn-${uniqueName('z').slice(2, 14)}.test`;
const WEB_BODY = 'certkeeper e2e\n';

let stack: StandInStack;
let inventory: DynamoInventory;
let pebble: SwitchedPebble;
let web: IssuedBundle;
let webCaPem: string;
let work: string;
/** Where the front sends acme-tls/1: the agent's responder, or local mode's. */
let responderPort: number;

/** The test DNS server answers A from moto's zone: every name here is this machine. */
const putA = (name: string) => putRecord(stack, stack.zoneIds[ZONE]!, name, 'A', ['127.0.0.1']);

/** The agent's responder, and the server names it answered validations for. */
async function startAgent(): Promise<{ responder: TlsAlpn01Responder; served: string[] }> {
  const served: string[] = [];
  const log: Log = {
    ...silentLog,
    info: (message, extra) => {
      if (message === 'tls-alpn-01 validation certificate served') served.push(String(extra?.servername));
    },
  };
  const responder = await startAgentTlsAlpn01(
    { tlsAlpn01Listen: { host: '127.0.0.1', port: responderPort } },
    // What the agent reads with: the bucket, no KMS key of its own (S3 decrypts for it).
    new S3ObjectStore(stack.clients.s3, { bucket: stack.bucket }),
    log,
  );
  return { responder, served };
}

/** Issues through the issuer Lambda and returns the leaf's SANs, as Node prints them. */
async function issueThroughLambda(name: string, identifiers: string[]): Promise<string> {
  await declareCertificate(inventory, { name, identifiers, challenge: 'tls-alpn-01', profile: 'shortlived' });
  expect((await issuer(sqsEvent([issuerMessage(name)]))).batchItemFailures).toEqual([]);
  const state = (await inventory.get(name))!.state;
  expect(state.lastError).toBeUndefined();
  const out = await stack.clients.s3.send(
    new GetObjectCommand({
      Bucket: stack.bucket,
      Key: `certificates/${name}/${state.current!.serial}/cert.pem`,
    }),
  );
  return new X509Certificate(await out.Body!.transformToString()).subjectAltName ?? '';
}

/** One HTTPS request through the front, as a browser makes it (ALPN h2/http/1.1 or none). */
function httpsThroughFront(alpn: string[] | undefined): Promise<{ serial: string; body: string }> {
  return new Promise((resolveGet, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: pebble.tlsPort,
        path: '/',
        ca: webCaPem,
        ...(alpn ? { ALPNProtocols: alpn } : {}),
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        const serial = (res.socket as TLSSocket).getPeerX509Certificate()!.serialNumber;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolveGet({ serial: serial.toUpperCase(), body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer through the front')));
    req.on('error', reject);
    req.end();
  });
}

/** A validation handshake as the CA makes it, through the front: resolves with the certificate or the error. */
function acmeTlsThroughFront(servername: string): Promise<X509Certificate> {
  return new Promise((resolveHandshake, reject) => {
    const socket = connect({
      host: '127.0.0.1',
      port: pebble.tlsPort,
      servername,
      ALPNProtocols: ['acme-tls/1'],
      rejectUnauthorized: false,
      timeout: 10_000,
    });
    socket.once('secureConnect', () => {
      const cert = socket.getPeerX509Certificate();
      const alpn = socket.alpnProtocol;
      socket.destroy();
      if (!cert || alpn !== 'acme-tls/1') reject(new Error(`negotiated ${String(alpn)}`));
      else resolveHandshake(cert);
    });
    socket.once('timeout', () => socket.destroy(new Error('timeout')));
    socket.once('error', reject);
  });
}

async function expectWebServerOnTheSamePort(): Promise<void> {
  for (const alpn of [['h2', 'http/1.1'], undefined]) {
    const answer = await httpsThroughFront(alpn);
    expect(answer.serial, `ALPN ${String(alpn)}`).toBe(web.serial);
    expect(answer.body).toBe(WEB_BODY);
  }
}

beforeAll(async () => {
  // A Pebble of its own: its TLS port is this file's alone, so a front can sit on it.
  pebble = await startPebbleWith({});
  stack = await createPeerStack('alpn', [ZONE]);
  pointHandlersAt({ ...stack.env, CERTKEEPER_DIRECTORY_URL: pebble.directoryUrl });
  inventory = new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table });
  await Promise.all([putA(`www.${ZONE}`), putA(`local.${ZONE}`), putA(`ha.${ZONE}`)]);
  ({ responder: responderPort } = await freePorts({ responder: 'tcp' } as const));
  work = mkdtempSync(join(tmpdir(), 'certkeeper-alpn-'));
  const ca = await createTestCa();
  webCaPem = ca.rootPem;
  web = await ca.issue({ identifiers: ['127.0.0.1'] });
  writeFileSync(join(work, 'web.pem'), web.bundle.fullchain);
  writeFileSync(join(work, 'web.key'), web.bundle.privkey, { mode: 0o600 });
}, 120_000);

afterAll(async () => {
  await pebble?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('TLS-ALPN-01 behind an nginx stream block on the HTTPS port', () => {
  let nginx: Nginx;
  beforeAll(async () => {
    nginx = await startNginx({
      certPath: join(work, 'web.pem'),
      keyPath: join(work, 'web.key'),
      tlsAlpnFront: { port: pebble.tlsPort, agent: responderPort },
    });
  }, 60_000);
  afterAll(async () => {
    await nginx?.stop();
  });

  it('keeps serving HTTPS from the web server on the same port', async () => {
    await expectWebServerOnTheSamePort();
  });

  it(
    'issuer path: 127.0.0.1 and a DNS name validated against the agent; no validation material left',
    { timeout: 180_000 },
    async () => {
      const agent = await startAgent();
      try {
        const sans = await issueThroughLambda('alpn-both', ['127.0.0.1', `www.${ZONE}`]);
        expect(sans.split(', ').sort()).toEqual([`DNS:www.${ZONE}`, 'IP Address:127.0.0.1']);
        // Pebble's validations came through the front, with the SNI names RFC 8737 §3 and
        // RFC 8738 §6 prescribe (Pebble validates each from several vantage points).
        expect(new Set(agent.served)).toEqual(new Set(['1.0.0.127.in-addr.arpa', `www.${ZONE}`]));
        expect(await listKeys(stack, TLSALPN01_PREFIX)).toEqual([]);
        // Nothing left to serve: a validation handshake now gets no certificate.
        await expect(acmeTlsThroughFront(`www.${ZONE}`)).rejects.toThrow();
      } finally {
        await agent.responder.close();
      }
      await expectWebServerOnTheSamePort();
    },
  );

  it(
    'local mode: issue --tls-alpn01-listen answers in-process; nothing left in DIR',
    { timeout: 180_000 },
    async () => {
      const out = join(work, 'local');
      const run = await runToEnd(
        TSX,
        [
          'cli/main.ts',
          'issue',
          '--directory-url',
          pebble.directoryUrl,
          '--ca-file',
          peers().pebble.caCertPath,
          '--ip',
          '127.0.0.1',
          '--domain',
          `local.${ZONE}`,
          '--name',
          'local-alpn',
          '--tls-alpn01-listen',
          `127.0.0.1:${responderPort}`,
          '--out',
          out,
          '--json',
        ],
        { cwd: REPO, env: { ...process.env, NO_COLOR: '1' } },
      );
      expect(run.code, run.stderr).toBe(0);
      const leaf = new X509Certificate(readFileSync(join(out, 'live', 'local-alpn', 'cert.pem'), 'utf8'));
      expect(leaf.subjectAltName?.split(', ').sort()).toEqual([`DNS:local.${ZONE}`, 'IP Address:127.0.0.1']);
      const material = join(out, 'challenges', 'tls-alpn-01');
      expect(existsSync(material) ? readdirSync(material) : []).toEqual([]);
      await expectWebServerOnTheSamePort();
    },
  );
});

describe('TLS-ALPN-01 behind HAProxy on the HTTPS port', () => {
  let nginx: Nginx;
  let haproxy: Awaited<ReturnType<typeof startHaproxy>>;
  beforeAll(async () => {
    // The web server on a port of its own; HAProxy takes the validation port in front of it.
    nginx = await startNginx({ certPath: join(work, 'web.pem'), keyPath: join(work, 'web.key') });
    haproxy = await startHaproxy({
      listen: `127.0.0.1:${pebble.tlsPort}`,
      agent: `127.0.0.1:${responderPort}`,
      web: `127.0.0.1:${nginx.httpsPort}`,
    });
  }, 60_000);
  afterAll(async () => {
    await haproxy?.stop();
    await nginx?.stop();
  });

  it(
    'validates a DNS name and 127.0.0.1 against the agent and keeps serving HTTPS',
    { timeout: 180_000 },
    async () => {
      await expectWebServerOnTheSamePort();
      const agent = await startAgent();
      try {
        const sans = await issueThroughLambda('alpn-haproxy', ['127.0.0.1', `ha.${ZONE}`]);
        expect(sans.split(', ').sort()).toEqual([`DNS:ha.${ZONE}`, 'IP Address:127.0.0.1']);
        // 127.0.0.1 may be a reused authorization of this account (RFC 8555 §7.1.4); the new
        // name was validated through HAProxy.
        expect(agent.served).toContain(`ha.${ZONE}`);
        expect(await listKeys(stack, TLSALPN01_PREFIX)).toEqual([]);
      } finally {
        await agent.responder.close();
      }
      await expectWebServerOnTheSamePort();
    },
  );
});

describe('local mode refuses bad TLS-ALPN-01 input before contacting the CA', () => {
  const issue = (extra: string[]) =>
    runToEnd(
      TSX,
      ['cli/main.ts', 'issue', '--directory-url', pebble.directoryUrl, '--out', join(work, 'bad'), ...extra],
      { cwd: REPO, env: { ...process.env, NO_COLOR: '1' } },
    );

  it('a wildcard with --tls-alpn01-listen', async () => {
    const run = await issue(['--domain', `*.${ZONE}`, '--tls-alpn01-listen', '127.0.0.1:8443']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      `--tls-alpn01-listen: the wildcard *.${ZONE} can only be validated by dns-01 (RFC 8737 §3 forbids tls-alpn-01 for wildcards)`,
    );
    expect(run.stderr).toContain('use --dns route53');
    expect(existsSync(join(work, 'bad'))).toBe(false);
  });

  it('a malformed --tls-alpn01-listen address', async () => {
    const run = await issue(['--ip', '127.0.0.1', '--tls-alpn01-listen', '127.0.0.1']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--tls-alpn01-listen: "127.0.0.1" is not host:port');
    expect(run.stderr).toMatch(/Fix: write it as "0\.0\.0\.0:80"/);
    expect(existsSync(join(work, 'bad'))).toBe(false);
  });
});
