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
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as issuer } from '../../functions/issuer.js';
import { declareCertificate } from '../../shared/certificates.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import type { CertificateEvent } from '../../shared/model/events.js';
import type { CertificateState } from '../../shared/model/state.js';
import type { Manifest } from '../../shared/store/store.js';
import { receiveAll, sqsEvent } from '../../scripts/local/pipeline.js';
import type { LocalStack } from '../../scripts/local/stack.js';
import { type AwsFaultProxy, type AwsFaultRule, startAwsFaultProxy } from '../support/aws-fault-proxy.js';
import { uniqueName } from '../support/peers.js';
import { listKeys, pointHandlersAt, recordAcmeRequests, useLocalStack } from '../support/stack.js';

const NAME = 'matrix';
const ZONE = `${uniqueName('matrix')}.test`;
const DOMAIN = `www.${ZONE}`;

const acme = recordAcmeRequests();
let stack: LocalStack;
let inventory: DynamoInventory;
let s3Proxy: AwsFaultProxy;
let dynamoProxy: AwsFaultProxy;
const rows: string[][] = [];

const state = async (): Promise<CertificateState> => (await inventory.get(NAME))!.state;

async function manifestSerial(): Promise<string> {
  const out = await stack.clients.s3.send(
    new GetObjectCommand({ Bucket: stack.bucket, Key: `certificates/${NAME}/current.json` }),
  );
  return (JSON.parse(await out.Body!.transformToString()) as Manifest).serial;
}

async function events(): Promise<CertificateEvent[]> {
  return (await receiveAll(stack.clients.sqs, stack.tapQueueUrl))
    .map((m) => JSON.parse(m.Body!) as CertificateEvent)
    .filter((e) => e.certificate === NAME);
}

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
const renewNow = () =>
  issuer(
    sqsEvent([
      {
        MessageId: uniqueName('m'),
        Body: JSON.stringify({ certificate: NAME, reason: 'manual', force: true }),
      },
    ]),
  );

beforeAll(async () => {
  stack = await useLocalStack('matrix', [ZONE]);
  s3Proxy = await startAwsFaultProxy(stack.env.AWS_ENDPOINT_URL!);
  dynamoProxy = await startAwsFaultProxy(stack.env.AWS_ENDPOINT_URL_DYNAMODB!);
  // Only the handlers go through the proxies; the test reads the peers directly.
  pointHandlersAt({
    ...stack.env,
    AWS_ENDPOINT_URL_S3: s3Proxy.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamoProxy.endpoint,
  });
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
      // The lease is taken and renewed with UpdateItem; the state write is a transaction.
      match: ({ target }) => target.endsWith('.UpdateItem'),
      respond: 'dynamodb-throttling',
    },
    error: /Throttl|throughput/i,
  },
  {
    fault: 'DynamoDB throttling on the state write',
    proxy: () => dynamoProxy,
    rule: { match: ({ target }) => target.endsWith('.TransactWriteItems'), respond: 'dynamodb-throttling' },
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
});
