/**
 * `certkeeper doctor` as an operator runs it: a child process pointed at a local stand-in
 * for the stack (moto, DynamoDB Local, Pebble), first healthy after a real issuance, then
 * broken one way at a time, each time naming the failing check and its fix.
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import { CreateTopicCommand } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckResult, DoctorReport } from '../../cli/doctor/check.js';
import { declareCertificate } from '../../shared/usecases/declare-certificates.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import { S3ObjectStore } from '../../shared/store/s3-store.js';
import { runTick } from '../../scripts/local/pipeline.js';
import type { LocalStack } from '../../scripts/local/stack.js';
import { runToEnd } from '../support/child.js';
import { type FaultProxy, startPebbleFaultProxy } from '../support/fault-proxy.js';
import { peers, uniqueName } from '../support/peers.js';
import {
  createForeignZone,
  listKeys,
  putCname,
  serveHttp01OnPebblePort,
  useLocalStack,
} from '../support/stack.js';

const MAIN = join(import.meta.dirname, '../../cli/main.ts');

/** Its own zone name: test files share one moto, and a name lookup refuses duplicates. */
const ZONE = `${uniqueName('doctor')}.test`;
let stack: LocalStack;
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

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise((done) => server.close(done));
  return port;
}

beforeAll(async () => {
  stack = await useLocalStack('doctor', [ZONE]);
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
});

afterAll(() => {
  stack?.clients.s3.destroy();
});

describe('certkeeper doctor', () => {
  it('reports every check ok on a healthy stack and exits 0', async () => {
    // The IP certificate's probe is fetched from Pebble's http-01 port, served from the bucket.
    const responder = await serveHttp01OnPebblePort(objects());
    let run: Run;
    try {
      run = await doctor(['--http01-port', String(peers().pebble.httpPort)]);
    } finally {
      await responder.close();
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
        'hosted-zone:wild',
        'http-01:ip-local',
        'inventory',
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
    // The probe object is gone again.
    expect(await listKeys(stack, 'challenges/http-01/')).toEqual([]);
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
    // (http-01 fails here too: no responder serves this run's probe.)
    expect(failing(run).filter((id) => /^(ca-|acme-)/.test(id))).toEqual(['ca-directory:backup']);
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
  });
});
