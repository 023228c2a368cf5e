/**
 * The fault matrix: storage and lock faults in the middle of a renewal, against the real
 * peers, through the real issuer handler. A fault proxy (test/support/aws-fault-proxy.ts)
 * sits in front of moto's S3 and in front of DynamoDB Local and answers what AWS answers
 * under load (S3 `503 SlowDown`, DynamoDB `ThrottlingException`) for as long as the fault
 * lasts, SDK retries included. For each fault: the attempt fails and says why, the
 * certificate in place stays current (manifest and state), no challenge record outlives the
 * attempt, and once the fault is gone the next attempt completes with exactly one new
 * current certificate and one `certificate.renewed` event.
 *
 * `npx vitest run test/integration/fault-matrix.test.ts` (under `npm run peers -- run --`)
 * prints the matrix: fault, outcome, orders at the CA, events.
 */
import { createSocket } from 'node:dgram';
import { forcedRenewal } from '../../shared/queue/queue.js';
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Route53Client } from '@aws-sdk/client-route-53';
import { buildIssuerRuntime } from '../../composition/aws-issuer.js';
import { handler as issuer } from '../../functions/issuer.js';
import { Route53DnsProvider } from '../../shared/challenges/dns01/route53.js';
import { Dns01Solver } from '../../shared/challenges/dns01/solver.js';
import { renewCertificate } from '../../shared/usecases/renew-certificate.js';
import { declareCertificate } from '../../shared/usecases/declare-certificates.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import type { CertificateEvent } from '../../shared/model/event.js';
import type { CertificateState } from '../../shared/model/state.js';
import { receiveAll, sqsEvent } from '../../scripts/stand-in-stack/pipeline.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { type AwsFaultProxy, type AwsFaultRule, startAwsFaultProxy } from '../support/aws-fault-proxy.js';
import { peers, uniqueName } from '../../scripts/test-kit/peers.js';
import { startPebbleWith } from '../../scripts/test-kit/pebble-switches.js';
import {
  listKeys,
  manifestSerial as manifestSerialOf,
  pointHandlersAt,
  recordAcmeRequests,
  tapEvents,
  useStandInStack,
} from '../../scripts/test-kit/stack.js';

const NAME = 'matrix';
const ZONE = `${uniqueName('matrix')}.test`;
const DOMAIN = `www.${ZONE}`;

const acme = recordAcmeRequests();
let stack: StandInStack;
let inventory: DynamoInventory;
let s3Proxy: AwsFaultProxy;
let dynamoProxy: AwsFaultProxy;
const rows: string[][] = [];

const state = async (name = NAME): Promise<CertificateState> => (await inventory.get(name))!.state;

async function manifestSerial(name = NAME): Promise<string> {
  return (await manifestSerialOf(stack, name))!;
}

const events = (name = NAME): Promise<CertificateEvent[]> => tapEvents(stack, name);

/** Challenge leftovers: _acme-challenge TXT records in the zone, tokens in the bucket. */
async function leftovers(): Promise<string[]> {
  const { ResourceRecordSets } = await stack.clients.route53.send(
    new ListResourceRecordSetsCommand({ HostedZoneId: stack.zoneIds[ZONE] }),
  );
  const records = (ResourceRecordSets ?? [])
    .filter((r) => r.Type === 'TXT' && r.Name!.startsWith('_acme-challenge.'))
    .map((r) => `TXT ${r.Name}`);
  return [...records, ...(await listKeys(stack, 'challenges/'))];
}

/** One issuer invocation, forced, as `certkeeper renew --force` queues it. */
const renewNow = (name = NAME) =>
  issuer(
    sqsEvent([
      {
        MessageId: uniqueName('m'),
        Body: JSON.stringify(forcedRenewal(name, new Date())),
      },
    ]),
  );

/** The handlers' environment: the stack with S3 and DynamoDB through the fault proxies, plus `extra`. */
const handlerEnv = (extra: Record<string, string> = {}): Record<string, string> => ({
  ...stack.env,
  AWS_ENDPOINT_URL_S3: s3Proxy.endpoint,
  AWS_ENDPOINT_URL_DYNAMODB: dynamoProxy.endpoint,
  ...extra,
});

/** Runs `work` with the handlers on a Pebble of its own, started with `switches`. */
async function withOwnPebble(switches: Record<string, string>, work: () => Promise<void>): Promise<void> {
  const pebble = await startPebbleWith(switches);
  try {
    pointHandlersAt(handlerEnv({ CERTKEEPER_DIRECTORY_URL: pebble.directoryUrl }));
    await work();
  } finally {
    pointHandlersAt(handlerEnv());
    await pebble.close();
  }
}

beforeAll(async () => {
  stack = await useStandInStack('matrix', [ZONE]);
  s3Proxy = await startAwsFaultProxy(stack.env.AWS_ENDPOINT_URL!);
  dynamoProxy = await startAwsFaultProxy(stack.env.AWS_ENDPOINT_URL_DYNAMODB!);
  // Only the handlers go through the proxies; the test reads the peers directly.
  pointHandlersAt(handlerEnv());
  inventory = new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table });
  await declareCertificate(inventory, { name: NAME, identifiers: [DOMAIN], profile: 'classic' });
  expect((await renewNow()).batchItemFailures).toEqual([]);
  expect((await state()).current?.serial).toBe(await manifestSerial());
  await events();
}, 120_000);

afterAll(async () => {
  const header = ['fault', 'outcome of the faulty attempt', 'orders at the CA', 'events'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ');
  console.log(['', 'fault matrix', line(header), ...rows.map(line), ''].join('\n'));
  await s3Proxy?.close();
  await dynamoProxy?.close();
  stack?.clients.s3.destroy();
});

interface Case {
  fault: string;
  proxy: () => AwsFaultProxy;
  rule: AwsFaultRule;
  /** The error the faulty attempt records. */
  error: RegExp;
}

const cases: Case[] = [
  {
    fault: 'S3 503 SlowDown on the certificate files',
    proxy: () => s3Proxy,
    rule: {
      match: ({ method, path }) => method === 'PUT' && path.includes(`/certificates/${NAME}/`),
      respond: 's3-slowdown',
    },
    error: /SlowDown|reduce your request rate/i,
  },
  {
    fault: 'DynamoDB throttling on the lease',
    proxy: () => dynamoProxy,
    rule: {
      // The lease is taken, renewed and released with UpdateItem on the lock item.
      match: ({ target, body }) => target.endsWith('.UpdateItem') && body.includes('"lock#'),
      respond: 'dynamodb-throttling',
    },
    error: /Throttl|throughput/i,
  },
  {
    fault: 'DynamoDB throttling on the state write',
    proxy: () => dynamoProxy,
    rule: {
      // Every write of the state (UpdateItem fenced on the certificate item), not the claim.
      match: ({ target, body }) => target.endsWith('.UpdateItem') && body.includes('":state"'),
      respond: 'dynamodb-throttling',
    },
    error: /Throttl|throughput/i,
  },
];

describe('fault matrix', () => {
  it.each(cases)('$fault', async ({ fault, proxy, rule, error }) => {
    const serial = await manifestSerial();
    const before = await state();
    const ordersBefore = acme.count('/order-plz');
    const injectedBefore = proxy().injected.length;

    proxy().setRule(rule);
    let faulty: string;
    try {
      const response = await renewNow();
      faulty =
        response.batchItemFailures.length > 0 ? 'redelivered (batch item failure)' : 'recorded failure';
    } catch (err) {
      faulty = `handler threw: ${String(err).slice(0, 60)}`;
    } finally {
      proxy().setRule(undefined);
    }
    const injected = proxy().injected.length - injectedBefore;
    expect(injected, 'the fault was hit').toBeGreaterThan(0);

    // The certificate in place stays current, and no challenge outlives the attempt.
    expect(await manifestSerial()).toBe(serial);
    const after = await state();
    expect(after.current?.serial).toBe(serial);
    if (after.lastError) expect(`${after.lastError.code} ${after.lastError.detail}`).toMatch(error);
    expect(await leftovers()).toEqual([]);
    const failedEvents = await events();
    expect(failedEvents.filter((e) => e.type === 'certificate.renewed')).toEqual([]);
    const ordersFaulty = acme.count('/order-plz') - ordersBefore;

    // The fault gone: the next attempt completes, with one new current certificate.
    expect((await renewNow()).batchItemFailures).toEqual([]);
    const renewed = await state();
    expect(renewed.current?.serial).not.toBe(serial);
    expect(await manifestSerial()).toBe(renewed.current!.serial);
    expect(renewed.attempts).toBe(0);
    expect(await leftovers()).toEqual([]);
    const nextEvents = await events();
    expect(nextEvents.filter((e) => e.type === 'certificate.renewed').map((e) => e.serial)).toEqual([
      renewed.current!.serial,
    ]);
    const orders = acme.count('/order-plz') - ordersBefore;
    rows.push([
      fault,
      `${faulty}${after.lastError ? `: ${after.lastError.code}` : ''} (${injected} requests faulted); previous certificate current`,
      `${orders} (${ordersFaulty} in the faulty attempt)`,
      [...failedEvents, ...nextEvents].map((e) => e.type.replace('certificate.', '')).join(', ') || 'none',
    ]);
    expect(before.current?.serial).toBe(serial);
  });

  it('SNS publish failing after the state was written', async () => {
    const serial = await manifestSerial();
    const ordersBefore = acme.count('/order-plz');
    const snsProxy = await startAwsFaultProxy(stack.env.AWS_ENDPOINT_URL!);
    try {
      pointHandlersAt(handlerEnv({ AWS_ENDPOINT_URL_SNS: snsProxy.endpoint }));
      snsProxy.setRule({ match: ({ method }) => method === 'POST', respond: 'sns-internal' });
      expect((await renewNow()).batchItemFailures).toEqual([]);
      expect(snsProxy.injected.length, 'the fault was hit').toBeGreaterThan(0);
      snsProxy.setRule(undefined);

      // The renewal stands, recorded with its event in the outbox and due again at once.
      const after = await state();
      expect(after.current?.serial).not.toBe(serial);
      expect(await manifestSerial()).toBe(after.current!.serial);
      expect(after.outbox?.map((e) => [e.type, e.serial])).toEqual([
        ['certificate.renewed', after.current!.serial],
      ]);
      expect(Date.parse(after.dueAt!)).toBeLessThanOrEqual(Date.now() + 2 * 60_000);
      expect(await events()).toEqual([]);

      // The next pass (the scheduler's message: nothing forced, nothing else due) delivers it.
      const tick = {
        MessageId: uniqueName('m'),
        Body: JSON.stringify({ certificate: NAME, reason: 'recheck' }),
      };
      expect((await issuer(sqsEvent([tick]))).batchItemFailures).toEqual([]);
      const delivered = await events();
      expect(delivered.map((e) => [e.type, e.serial])).toEqual([
        ['certificate.renewed', after.current!.serial],
      ]);
      const settled = await state();
      expect(settled.outbox).toBeUndefined();
      expect(settled.current?.serial).toBe(after.current!.serial);
      // Delivered once: a third pass sends nothing.
      expect((await issuer(sqsEvent([{ ...tick, MessageId: uniqueName('m') }]))).batchItemFailures).toEqual(
        [],
      );
      expect(await events()).toEqual([]);
      const orders = acme.count('/order-plz') - ordersBefore;
      expect(orders).toBe(1);
      expect(await leftovers()).toEqual([]);
      rows.push([
        'SNS publish failing after the state write',
        `renewed; the event kept in the outbox (${snsProxy.injected.length} requests faulted), delivered by the next pass`,
        String(orders),
        delivered.map((e) => e.type.replace('certificate.', '')).join(', '),
      ]);
    } finally {
      delete process.env['AWS_ENDPOINT_URL_SNS'];
      pointHandlersAt(handlerEnv());
      await snsProxy.close();
    }
  });

  it('Pebble rejecting half of all nonces (PEBBLE_WFE_NONCEREJECT=50)', async () => {
    const name = 'nonces';
    await withOwnPebble({ PEBBLE_WFE_NONCEREJECT: '50' }, async () => {
      await declareCertificate(inventory, { name, identifiers: [`nonces.${ZONE}`], profile: 'classic' });
      const ordersBefore = acme.count('/order-plz');
      const accepted = acme.answers.length;
      // RFC 8555 §6.5: a badNonce problem carries a fresh nonce; the client retries with it,
      // 5 times per request (acme-client), so at 50% an attempt can still run out (1.6% per
      // request). Such an attempt is recorded as failed and the next one (the scheduler's
      // retry after backoff) continues: up to 3 attempts here, each one counted.
      const failures: string[] = [];
      let record = (await inventory.get(name))!.state;
      for (let attempt = 1; attempt <= 3 && record.status !== 'valid'; attempt++) {
        expect((await renewNow(name)).batchItemFailures).toEqual([]);
        record = (await inventory.get(name))!.state;
        if (record.status !== 'valid')
          failures.push(record.lastError?.type ?? `${record.lastError?.code}: ${record.lastError?.detail}`);
      }
      expect(record.status).toBe('valid');
      expect(
        failures.every((f) => f === 'urn:ietf:params:acme:error:badNonce'),
        failures.join(),
      ).toBe(true);
      expect(await leftovers()).toEqual([]);
      const orders = acme.count('/order-plz') - ordersBefore;
      // A failed attempt resumes its order when it can, else orders again: one per attempt at most.
      expect(orders).toBeGreaterThanOrEqual(1);
      expect(orders).toBeLessThanOrEqual(failures.length + 1);
      const sent = (await receiveAll(stack.clients.sqs, stack.tapQueueUrl))
        .map((m) => JSON.parse(m.Body!) as CertificateEvent)
        .filter((e) => e.certificate === name);
      expect(sent.filter((e) => e.type === 'certificate.issued')).toHaveLength(1);
      // At most the first failure is announced (events on changes, not on ticks).
      expect(sent.filter((e) => e.type !== 'certificate.issued').map((e) => e.type)).toEqual(
        failures.length ? ['certificate.renewal_failed'] : [],
      );
      rows.push([
        'Pebble rejecting half of all nonces',
        `issued after ${failures.length + 1} attempt(s)${failures.length ? ` (${failures.length} ran out of badNonce retries)` : ''}; ${acme.answers.length - accepted} ACME requests accepted`,
        String(orders),
        sent.map((e) => e.type.replace('certificate.', '')).join(', '),
      ]);
    });
  });

  it('Pebble rejecting every nonce (PEBBLE_WFE_NONCEREJECT=100)', async () => {
    // acme-client's badNonce retries all fail: the attempt must be recorded as the ACME
    // problem it is (badNonce, retryable, backed off), not as an unclassified error.
    const name = 'nonces-all';
    await withOwnPebble({ PEBBLE_WFE_NONCEREJECT: '100' }, async () => {
      await declareCertificate(inventory, { name, identifiers: [`nonces-all.${ZONE}`], profile: 'classic' });
      const ordersBefore = acme.count('/order-plz');
      expect((await renewNow(name)).batchItemFailures).toEqual([]);
      const record = (await inventory.get(name))!.state;
      expect(record.current).toBeUndefined();
      expect(record.lastError?.type).toBe('urn:ietf:params:acme:error:badNonce');
      expect(record.lastError?.detail).toMatch(/after 5 retries with fresh nonces/);
      expect(record.attempts).toBe(1);
      expect(record.nextAttemptAt).toBeDefined();
      expect(await leftovers()).toEqual([]);
      rows.push([
        'Pebble rejecting every nonce',
        `recorded failure: ${record.lastError!.type!.replace(/.*:/, '')}, retry at ${record.nextAttemptAt}`,
        String(acme.count('/order-plz') - ordersBefore),
        (await events(name)).map((e) => e.type.replace('certificate.', '')).join(', '),
      ]);
    });
  });

  /**
   * DNS that does not settle: the renewal runs with a DNS-01 solver whose waits are short
   * (seconds, not the production minutes), on Route53 through the proxy.
   */
  async function dnsCase(fault: string, options: { pending: boolean; nameservers: string[] }, error: RegExp) {
    // A certificate of its own, issued; then a new name added to it, so the CA needs a fresh
    // dns-01 validation (Pebble reuses valid authorizations for names it has seen).
    const name = uniqueName('dns').slice(0, 30);
    const first = `a-${name}.${ZONE}`;
    await declareCertificate(inventory, { name, identifiers: [first], profile: 'classic' });
    expect((await renewNow(name)).batchItemFailures).toEqual([]);
    const serial = await manifestSerial(name);
    await events(name);
    await declareCertificate(inventory, {
      name,
      identifiers: [first, `b-${name}.${ZONE}`],
      profile: 'classic',
    });
    const ordersBefore = acme.count('/order-plz');
    const route53Proxy = await startAwsFaultProxy(stack.env.AWS_ENDPOINT_URL!);
    if (options.pending) {
      route53Proxy.setRule({
        match: ({ method, path }) => method === 'GET' && path.includes('/change/'),
        respond: 'route53-pending',
      });
    }
    const client = new Route53Client({
      region: stack.env.AWS_REGION,
      endpoint: route53Proxy.endpoint,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    const solver = new Dns01Solver({
      provider: new Route53DnsProvider(client, { changeTimeoutMs: 3_000, pollIntervalMs: 500 }),
      nameservers: options.nameservers,
      propagationTimeoutMs: 3_000,
      pollIntervalMs: 500,
    });
    const deps = buildIssuerRuntime({ ...process.env }).renewDeps;
    let outcome;
    try {
      outcome = await renewCertificate({ ...deps, solverFor: () => solver }, name, { force: true });
    } finally {
      await route53Proxy.close();
    }
    expect(outcome.status).toBe('failed');
    const message = outcome.status === 'failed' ? outcome.error.message : '';
    expect(message).toMatch(error);
    // The record was removed, and the certificate in place is still current.
    expect(await leftovers()).toEqual([]);
    expect(await manifestSerial(name)).toBe(serial);
    expect((await state(name)).current?.serial).toBe(serial);
    const failedEvents = await events(name);
    const faultyOrders = acme.count('/order-plz') - ordersBefore;

    // DNS settled: the next attempt (the handler, production waits) renews.
    expect((await renewNow(name)).batchItemFailures).toEqual([]);
    const renewed = await state(name);
    expect(renewed.current?.serial).not.toBe(serial);
    expect(await leftovers()).toEqual([]);
    const nextEvents = await events(name);
    expect(nextEvents.filter((e) => e.type === 'certificate.renewed')).toHaveLength(1);
    rows.push([
      fault,
      `recorded failure: ${message.slice(0, 110)}; record removed; previous certificate current`,
      `${acme.count('/order-plz') - ordersBefore} (${faultyOrders} in the faulty attempt)`,
      [...failedEvents, ...nextEvents].map((e) => e.type.replace('certificate.', '')).join(', '),
    ]);
  }

  it('Route53 change stuck PENDING', async () => {
    await dnsCase(
      'Route53 change stuck PENDING',
      { pending: true, nameservers: [peers().dnsServer] },
      /INSYNC/,
    );
  });

  it("the TXT record not visible on the zone's name servers", async () => {
    // A name server that never answers: the record is in Route53 but cannot be seen.
    const silent = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    try {
      await dnsCase(
        'TXT record not visible on the name servers',
        { pending: false, nameservers: [`127.0.0.1:${silent.address().port}`] },
        /timed out .*TXT|TXT.*timed out|not (visible|served)/i,
      );
    } finally {
      silent.close();
    }
  });
});
