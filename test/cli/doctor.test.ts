/**
 * `certkeeper doctor` as an operator runs it: a child process pointed at a local stand-in
 * for the stack (moto, DynamoDB Local, Pebble), first healthy after a real issuance, then
 * broken one way at a time, each time naming the failing check and its fix.
 */
import { createServer } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTopicCommand } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckResult, DoctorReport } from '../../cli/doctor/check.js';
import { startTlsAlpn01Responder } from '../../shared/challenges/tlsalpn01/responder.js';
import { ObjectTlsAlpn01Solver } from '../../shared/challenges/tlsalpn01/store.js';
import { parseIdentifier } from '../../shared/model/identifiers.js';
import { selfSignedPair } from '../../shared/pki/self-signed.js';
import type { ObjectStore } from '../../shared/store/store.js';
import { FsObjectStore } from '../../shared/store/fs-store.js';
import { declareCertificate } from '../../shared/usecases/declare-certificates.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import { S3ObjectStore } from '../../shared/store/s3-store.js';
import { runTick } from '../../scripts/stand-in-stack/pipeline.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { runToEnd } from '../../scripts/test-kit/child.js';
import { type FaultProxy, startPebbleFaultProxy } from '../support/acme-fault-proxy.js';
import { peers, uniqueName } from '../../scripts/test-kit/peers.js';
import {
  createForeignZone,
  deleteRecord,
  listKeys,
  putCname,
  putRecord,
  serveHttp01OnPebblePort,
  useStandInStack,
} from '../../scripts/test-kit/stack.js';

const MAIN = join(import.meta.dirname, '../../cli/main.ts');

/** Its own zone name: test files share one moto, and a name lookup refuses duplicates. */
const ZONE = `${uniqueName('doctor')}.test`;
let stack: StandInStack;
let inventory: DynamoInventory;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  report: DoctorReport;
}

async function doctor(args: string[] = [], env: Record<string, string> = {}): Promise<Run> {
  const { code, stdout, stderr } = await runToEnd(
    process.execPath,
    ['--import', 'tsx', MAIN, 'doctor', '--json', ...args],
    {
      env: { ...process.env, ...stack.env, AWS_EC2_METADATA_DISABLED: 'true', ...env },
    },
  );
  try {
    return { code, stdout, stderr, report: JSON.parse(stdout) as DoctorReport };
  } catch {
    throw new Error(`doctor exited ${code} without a JSON report:\n${stdout}\n${stderr}`);
  }
}

const check = (run: Run, id: string): CheckResult | undefined => run.report.checks.find((c) => c.id === id);
const failing = (run: Run): string[] => run.report.checks.filter((c) => c.status === 'fail').map((c) => c.id);
const objects = () => new S3ObjectStore(stack.clients.s3, { bucket: stack.bucket });

/** The project's tls-alpn-01 responder on a free 127.0.0.1 port, reading `store`. */
const tlsAlpn01Responder = (store: ObjectStore = objects()) =>
  startTlsAlpn01Responder({ store, host: '127.0.0.1', port: 0 });

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise((done) => server.close(done));
  return port;
}

beforeAll(async () => {
  stack = await useStandInStack('doctor', [ZONE]);
  inventory = new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table });
  await declareCertificate(inventory, { name: 'ip-local', identifiers: ['127.0.0.1'] });
  await declareCertificate(inventory, { name: 'wild', identifiers: [ZONE, `*.${ZONE}`] });
  // One real tick: issues both (which stores the ACME account) and records the heartbeat.
  const responder = await serveHttp01OnPebblePort(objects());
  try {
    const tick = await runTick(stack.clients.sqs, stack.queueUrl);
    expect(tick.issuer.batchItemFailures).toEqual([]);
  } finally {
    await responder.close();
  }
  // Declared, not yet issued (no tick runs after this): what doctor checks before a first
  // issuance. The same address as ip-local, validated on the TLS port instead of port 80.
  await declareCertificate(inventory, {
    name: 'ip-alpn',
    identifiers: ['127.0.0.1'],
    challenge: 'tls-alpn-01',
  });
});

afterAll(() => {
  stack?.clients.s3.destroy();
});

describe('certkeeper doctor', () => {
  it('reports every check ok on a healthy stack and exits 0', async () => {
    // The IP certificate's probe is fetched from Pebble's http-01 port, served from the
    // bucket; the tls-alpn-01 one is asked of the agent's responder, reading the same bucket.
    const responder = await serveHttp01OnPebblePort(objects());
    const tls = await tlsAlpn01Responder();
    let run: Run;
    try {
      run = await doctor([
        '--http01-port',
        String(peers().pebble.httpPort),
        '--tls-alpn01-port',
        String(tls.address.port),
      ]);
    } finally {
      await responder.close();
      await tls.close();
    }
    expect(run.report.checks.filter((c) => c.status !== 'ok')).toEqual([]);
    expect(run.code).toBe(0);
    expect(run.report.checks.map((c) => c.id).sort()).toEqual(
      [
        'acme-account',
        'bucket',
        'ca-directory',
        'clock-skew',
        'events-topic',
        'caa:wild',
        'hosted-zone:wild',
        'http-01:ip-local',
        'inventory',
        'tls-alpn-01:ip-alpn',
        'scheduler-heartbeat',
        'table',
      ].sort(),
    );
    for (const c of run.report.checks) {
      expect(Object.keys(c).sort()).toEqual(['id', 'message', 'status']);
      expect(c.message).not.toBe('');
    }
    expect(run.report.summary).toEqual({ ok: run.report.checks.length, warn: 0, fail: 0 });
    expect(check(run, 'ca-directory')?.message).toMatch(/shortlived/);
    expect(check(run, 'acme-account')?.message).toMatch(/is valid/);
    expect(check(run, 'hosted-zone:wild')?.message).toContain(stack.zoneIds[ZONE]!);
    expect(check(run, 'tls-alpn-01:ip-alpn')?.message).toBe(
      `certificate ip-alpn: a probe validation certificate is answered with ALPN acme-tls/1 on port ${tls.address.port} of 127.0.0.1`,
    );
    // The probe objects are gone again.
    expect(await listKeys(stack, 'challenges/http-01/')).toEqual([]);
    expect(await listKeys(stack, 'challenges/tls-alpn-01/')).toEqual([]);
  });

  it('fails ca-directory when the CA does not answer, with the fix, in seconds', async () => {
    const port = await closedPort();
    const started = Date.now();
    const run = await doctor(['--timeout', '5'], {
      CERTKEEPER_DIRECTORY_URL: `https://127.0.0.1:${port}/dir`,
    });
    expect(run.code).toBe(1);
    expect(check(run, 'ca-directory')).toMatchObject({
      status: 'fail',
      message: expect.stringMatching(new RegExp(`cannot reach https://127.0.0.1:${port}/dir: ECONNREFUSED`)),
      fix: expect.stringContaining('check the directory URL'),
    });
    // No account is stored for that CA: a warning, not a second failure.
    expect(check(run, 'acme-account')?.status).toBe('warn');
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('checks each fallback CA of a cas list on its own line', async () => {
    const port = await closedPort();
    const down = `https://127.0.0.1:${port}/dir`;
    const cas = [
      { name: 'main', directoryUrl: peers().pebble.directoryUrl, contact: 'ops@example.test' },
      { name: 'backup', directoryUrl: down, contact: 'ops@example.test' },
    ];
    const run = await doctor(['--timeout', '5'], { CERTKEEPER_CAS: JSON.stringify(cas) });
    expect(run.code).toBe(1);
    expect(check(run, 'ca-directory')?.status).toBe('ok');
    expect(check(run, 'ca-directory:backup')).toMatchObject({
      status: 'fail',
      message: expect.stringContaining(`cannot reach ${down}`),
    });
    expect(check(run, 'acme-account:backup')?.status).toBe('warn');
    // (http-01 and tls-alpn-01 fail here too: no responder serves this run's probes.)
    expect(failing(run).filter((id) => /^(ca-|acme-)/.test(id))).toEqual(['ca-directory:backup']);
  });

  it("reads the names' CAA as the issuer would: caa:wild fails when it forbids every CA, warns when only the fallback may issue, and knows our account", async () => {
    const { pebble } = peers();
    const cas = (second?: string) => [
      {
        name: 'main',
        directoryUrl: pebble.directoryUrl,
        contact: 'ops@example.test',
        caaIdentities: ['main.test'],
      },
      ...(second
        ? [
            {
              name: 'backup',
              directoryUrl: pebble.directoryUrl,
              contact: 'ops@example.test',
              caaIdentities: [second],
            },
          ]
        : []),
    ];
    const caa = (values: string[]) => putRecord(stack, stack.zoneIds[ZONE]!, ZONE, 'CAA', values);
    const run = async (list: ReturnType<typeof cas>) =>
      check(await doctor(['--timeout', '5'], { CERTKEEPER_CAS: JSON.stringify(list) }), 'caa:wild');
    try {
      // Served by the test DNS server from the zone, as public DNS would (RFC 8659 §3).
      await caa(['0 issue "elsewhere.test"']);
      expect(await run(cas())).toMatchObject({
        status: 'fail',
        message: `certificate wild: CAA forbids every configured CA (main: CAA at ${ZONE} allows only issue "elsewhere.test")`,
        fix: expect.stringContaining('CAA "issue" record'),
      });
      await caa(['0 issue "backup.test"']);
      expect(await run(cas('backup.test'))).toMatchObject({
        status: 'warn',
        message: `certificate wild: renewals go to backup, not the first CA (main: CAA at ${ZONE} allows only issue "backup.test")`,
      });
      // RFC 8657 §3: bound to another account (the message says which is ours), then to ours.
      await caa(['0 issue "main.test; accounturi=https://main.test/acct/not-ours"']);
      const bound = await run(cas());
      expect(bound).toMatchObject({ status: 'fail' });
      // "... (main: CAA at <zone> allows this CA only for another ACME account (...); this account is <url>)"
      const ours = /this account is (\S+)\)$/.exec(bound!.message)?.[1];
      expect(ours).toMatch(new RegExp(`^https://127\\.0\\.0\\.1:${new URL(pebble.directoryUrl).port}/`));
      await caa([`0 issue "main.test; accounturi=${ours}"`]);
      expect(await run(cas())).toEqual({
        id: 'caa:wild',
        status: 'ok',
        message: 'certificate wild: CAA allows main',
      });
    } finally {
      await deleteRecord(stack, stack.zoneIds[ZONE]!, ZONE, 'CAA');
    }
  });

  describe('behind a CA whose Date is 2 h ahead', () => {
    let proxy: FaultProxy;
    beforeAll(async () => {
      proxy = await startPebbleFaultProxy();
      await proxy.setFault({ kind: 'skewDate', offsetSeconds: 7_200 });
    });
    afterAll(() => proxy.close());

    it('fails clock-skew, saying by how much and which way, with NTP as the fix', async () => {
      const run = await doctor([], { CERTKEEPER_DIRECTORY_URL: proxy.directoryUrl });
      expect(run.code).toBe(1);
      const skew = check(run, 'clock-skew');
      expect(skew).toMatchObject({ status: 'fail', fix: expect.stringMatching(/chrony|NTP/i) });
      const seconds = Number(/(\d+) s behind the CA's/.exec(skew!.message)?.[1]);
      expect(Math.abs(seconds - 7_200)).toBeLessThanOrEqual(2);
      expect(check(run, 'ca-directory')?.status).toBe('ok');
    });
  });

  it('fails events-topic when the topic has no subscribers (--topic-arn overrides the env)', async () => {
    const lonely = await stack.clients.sns.send(new CreateTopicCommand({ Name: `${stack.table}-lonely` }));
    const run = await doctor(['--topic-arn', lonely.TopicArn!]);
    expect(run.code).toBe(1);
    expect(check(run, 'events-topic')).toMatchObject({
      status: 'fail',
      message: `topic ${lonely.TopicArn} has no confirmed subscribers: no server will hear of renewals`,
      fix: expect.stringContaining('subscribe'),
    });

    // For people: one line per check, the fix under a failing one, the counts last.
    const { stdout: human } = await runToEnd(
      process.execPath,
      ['--import', 'tsx', MAIN, 'doctor', '--topic-arn', lonely.TopicArn!],
      { env: { ...process.env, ...stack.env } },
    );
    expect(human).toMatch(
      /^fail {2}events-topic: topic .* no server will hear of renewals\n {6}fix: subscribe/m,
    );
    expect(human).toMatch(/^ok {4}bucket: /m);
    expect(human).toMatch(/\d+ ok, \d+ warn, [1-9]\d* fail\n$/);
  });

  it('fails hosted-zone:<certificate> for a dns-01 certificate whose zone does not exist', async () => {
    await declareCertificate(inventory, { name: 'lost', identifiers: ['www.nowhere.test'] });
    try {
      const run = await doctor();
      expect(run.code).toBe(1);
      expect(check(run, 'hosted-zone:lost')).toMatchObject({
        status: 'fail',
        message: 'certificate lost: no Route53 hosted zone for www.nowhere.test',
        fix: expect.stringContaining('create a public hosted zone for www.nowhere.test'),
      });
      expect(check(run, 'hosted-zone:wild')?.status).toBe('ok');
      // Or keep its DNS where it is: the one CNAME that hands its challenge to certkeeper.
      expect(check(run, 'hosted-zone:lost')?.fix).toMatch(
        /create at its DNS host: _acme-challenge\.www\.nowhere\.test CNAME _acme-challenge\.www-nowhere-test\.[a-z0-9.-]+$/,
      );
    } finally {
      await inventory.remove('lost');
    }
  });

  it('follows a CNAME at _acme-challenge to the zone of its end, and fails one that leads nowhere', async () => {
    const elsewhere = `${uniqueName('dns-host')}.test`;
    // The names' own DNS host, which certkeeper never writes.
    const foreign = await createForeignZone(stack, elsewhere);
    const cname = (name: string, target: string) => putCname(stack, foreign, name, target);
    await cname(`_acme-challenge.${elsewhere}`, `_acme-challenge.far.${ZONE}`);
    await cname(`_acme-challenge.away.${elsewhere}`, '_acme-challenge.away.nowhere.invalid');
    await declareCertificate(inventory, { name: 'delegated', identifiers: [elsewhere, `*.${elsewhere}`] });
    await declareCertificate(inventory, { name: 'astray', identifiers: [`away.${elsewhere}`] });
    try {
      const run = await doctor();
      expect(check(run, 'hosted-zone:delegated')).toMatchObject({
        status: 'ok',
        message: expect.stringContaining(`${elsewhere} → CNAME _acme-challenge.far.${ZONE} → `),
      });
      expect(check(run, 'hosted-zone:astray')).toMatchObject({
        status: 'fail',
        message: `certificate astray: _acme-challenge.away.${elsewhere} is a CNAME to _acme-challenge.away.nowhere.invalid, which no Route53 hosted zone certkeeper may write holds`,
        fix: expect.stringMatching(/^point it into a zone certkeeper writes, e\.g\. _acme-challenge\.away\./),
      });
    } finally {
      await inventory.remove('delegated');
      await inventory.remove('astray');
    }
  });

  it('checks --zone domains too, and exits 2 on a bad flag', async () => {
    const run = await doctor(['--zone', `api.${ZONE}`, '--zone', 'elsewhere.test']);
    expect(check(run, `hosted-zone:api.${ZONE}`)?.status).toBe('ok');
    expect(check(run, 'hosted-zone:elsewhere.test')?.status).toBe('fail');
    expect(failing(run)).toContain('hosted-zone:elsewhere.test');

    const bad = await runToEnd(
      process.execPath,
      ['--import', 'tsx', MAIN, 'doctor', '--http01-port', 'eighty'],
      {
        env: { ...process.env, ...stack.env },
      },
    );
    expect(bad.code).toBe(2);
    const badTls = await runToEnd(
      process.execPath,
      ['--import', 'tsx', MAIN, 'doctor', '--tls-alpn01-port', '0'],
      {
        env: { ...process.env, ...stack.env },
      },
    );
    expect(badTls.code).toBe(2);
    expect(badTls.stderr).toMatch(/--tls-alpn01-port: is 0.*whole number from 1 to 65535/s);
  });

  describe('tls-alpn-01:<certificate>', () => {
    const WHERE = (port: number) => `127.0.0.1:${port} (SNI 1.0.0.127.in-addr.arpa)`;
    const alpnCheck = (run: Run) => check(run, 'tls-alpn-01:ip-alpn');

    it('fails when nothing listens on the port, naming host:port, with the agent as the fix', async () => {
      const port = await closedPort();
      const run = await doctor(['--tls-alpn01-port', String(port)]);
      expect(run.code).toBe(1);
      expect(alpnCheck(run)).toEqual({
        id: 'tls-alpn-01:ip-alpn',
        status: 'fail',
        message: `certificate ip-alpn: ${WHERE(port)} refused the connection (ECONNREFUSED: nothing listens there, or a firewall rejects it)`,
        fix: `run the agent's tls-alpn-01 responder on port ${port} ("tlsAlpn01Listen": "0.0.0.0:${port}" in its config, or certkeeper agent --tls-alpn01-listen 0.0.0.0:${port}) and open the port to the CA`,
      });
      expect(await listKeys(stack, 'challenges/tls-alpn-01/')).toEqual([]);
    });

    it('fails when a web server answers TLS on the port without acme-tls/1, and when one refuses it', async () => {
      // An ordinary HTTPS server's certificate, for the very name, made now.
      const now = Date.now();
      const web = await selfSignedPair({
        identifiers: ['127.0.0.1'],
        name: 'CN=web',
        notBefore: new Date(now - 60_000),
        notAfter: new Date(now + 3_600_000),
        extensions: [],
      });
      const serve = async (options: TlsOptions) => {
        const server = createTlsServer({ cert: web.certPem, key: web.keyPem, ...options }, (socket) =>
          socket.end('HTTP/1.1 200 OK\r\n\r\nhello'),
        );
        await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
        return server;
      };
      // Without ALPN, as nginx answers a hello offering only protocols it does not know.
      const plain = await serve({});
      // With h2 and http/1.1 only: node refuses acme-tls/1 with a no_application_protocol alert.
      const h2 = await serve({ ALPNProtocols: ['h2', 'http/1.1'] });
      const portOf = (server: typeof plain) => (server.address() as { port: number }).port;
      try {
        const run = await doctor(['--tls-alpn01-port', String(portOf(plain))]);
        expect(run.code).toBe(1);
        expect(alpnCheck(run)).toMatchObject({
          status: 'fail',
          message: `certificate ip-alpn: ${WHERE(portOf(plain))} answered TLS without negotiating ALPN acme-tls/1 and its own certificate (subjectAltName IP Address:127.0.0.1): that is not a tls-alpn-01 responder`,
          fix: expect.stringMatching(
            /^port \d+ is held by a TLS server that does not answer acme-tls\/1: .*ssl_preread.*HAProxy/,
          ),
        });
        const refusing = await doctor(['--tls-alpn01-port', String(portOf(h2))]);
        expect(alpnCheck(refusing)).toMatchObject({
          status: 'fail',
          message: `certificate ip-alpn: ${WHERE(portOf(h2))} refused ALPN acme-tls/1 (no_application_protocol alert): that is not a tls-alpn-01 responder`,
          fix: alpnCheck(run)!.fix!.replace(String(portOf(plain)), String(portOf(h2))),
        });
      } finally {
        plain.close();
        h2.close();
      }
      expect(await listKeys(stack, 'challenges/tls-alpn-01/')).toEqual([]);
    });

    it('fails when the responder reads another bucket: nothing for the name, or an old certificate', async () => {
      const root = await mkdtemp(join(tmpdir(), 'certkeeper-doctor-alpn-'));
      const elsewhere = new FsObjectStore({ root });
      const responder = await tlsAlpn01Responder(elsewhere);
      const port = responder.address.port;
      try {
        const empty = await doctor(['--tls-alpn01-port', String(port)]);
        expect(alpnCheck(empty)).toMatchObject({
          status: 'fail',
          message: expect.stringMatching(
            new RegExp(
              `^certificate ip-alpn: ${escape(WHERE(port))} (closed|reset) the connection during the TLS handshake( \\(\\w+\\))?: nothing there serves this probe's validation certificate$`,
            ),
          ),
          fix: `make sure what answers acme-tls/1 there is the certkeeper agent's responder reading bucket ${stack.bucket} (the agent config's "bucket")`,
        });
        // A validation certificate for the name, from an order that is not this probe.
        await new ObjectTlsAlpn01Solver({ store: elsewhere }).present([
          {
            type: 'tls-alpn-01',
            identifier: parseIdentifier('127.0.0.1'),
            token: 'stale',
            value: 'stale.some-account-thumbprint',
          },
        ]);
        const stale = await doctor(['--tls-alpn01-port', String(port)]);
        expect(alpnCheck(stale)).toMatchObject({
          status: 'fail',
          message: `certificate ip-alpn: ${WHERE(port)} sent a validation certificate for another key authorization, not this probe's (a responder reading another bucket, or a stale certificate)`,
          fix: alpnCheck(empty)!.fix,
        });
      } finally {
        await responder.close();
        await rm(root, { recursive: true, force: true });
      }
      expect(await listKeys(stack, 'challenges/tls-alpn-01/')).toEqual([]);
    });

    it('names the host when the TLS handshake never completes', async () => {
      // Accepts the connection and never answers the ClientHello.
      const silent = createServer(() => undefined);
      await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
      const port = (silent.address() as { port: number }).port;
      try {
        const run = await doctor(['--tls-alpn01-port', String(port), '--timeout', '4']);
        expect(alpnCheck(run)).toMatchObject({
          status: 'fail',
          message: expect.stringMatching(
            new RegExp(
              `^certificate ip-alpn: ${escape(WHERE(port))} did not complete a TLS handshake within \\d\\.\\d s$`,
            ),
          ),
          fix: expect.stringContaining('--tls-alpn01-listen'),
        });
      } finally {
        silent.close();
      }
      expect(await listKeys(stack, 'challenges/tls-alpn-01/')).toEqual([]);
    });

    it("leaves a name alone whose validation certificate is stored (an order in progress): warn, the order's object kept", async () => {
      const solver = new ObjectTlsAlpn01Solver({ store: objects() });
      const order = {
        type: 'tls-alpn-01' as const,
        identifier: parseIdentifier('127.0.0.1'),
        token: 'in-progress',
        value: 'in-progress.some-account-thumbprint',
      };
      await solver.present([order]);
      const responder = await tlsAlpn01Responder();
      try {
        const run = await doctor(['--tls-alpn01-port', String(responder.address.port)]);
        expect(alpnCheck(run)).toEqual({
          id: 'tls-alpn-01:ip-alpn',
          status: 'warn',
          message:
            'certificate ip-alpn: not probed: 127.0.0.1 (challenges/tls-alpn-01/1.0.0.127.in-addr.arpa exists: an order is being validated, or one left it behind)',
          fix: expect.stringContaining('run doctor again once the order is done'),
        });
        expect(await listKeys(stack, 'challenges/tls-alpn-01/')).toEqual([
          'challenges/tls-alpn-01/1.0.0.127.in-addr.arpa',
        ]);
        expect(
          JSON.parse((await objects().get('challenges/tls-alpn-01/1.0.0.127.in-addr.arpa'))!),
        ).toMatchObject({
          token: 'in-progress',
        });
      } finally {
        await responder.close();
        await solver.cleanup([order]);
      }
      expect(await listKeys(stack, 'challenges/tls-alpn-01/')).toEqual([]);
    });
  });
});

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
