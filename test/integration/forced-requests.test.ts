/**
 * Forced renewals as the issuer Lambda receives them (issue 22, item 12), against the local
 * stack (DynamoDB Local, moto) and Pebble: a forced message carries the operator's request
 * id and is honoured once, so a duplicate delivery or a replay orders nothing more; a forced
 * message that finds another pass holding the lease waits for it, and past its wait goes back
 * to SQS (a batch item failure) instead of being dropped.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIssuerRuntime, type IssuerRuntime } from '../../composition/aws-issuer.js';
import { handler as issuer } from '../../functions/issuer.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import { forcedRenewal } from '../../shared/queue/queue.js';
import { S3ObjectStore } from '../../shared/store/s3-store.js';
import { declareCertificate } from '../../shared/usecases/declare-certificates.js';
import { renewCertificate } from '../../shared/usecases/renew-certificate.js';
import { sqsEvent } from '../../scripts/stand-in-stack/pipeline.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { heldPass } from '../support/ca-wrap.js';
import {
  manifestSerial,
  pointHandlersAt,
  recordAcmeRequests,
  serveHttp01OnPebblePort,
  useStandInStack,
} from '../../scripts/test-kit/stack.js';

const acmeRequests = recordAcmeRequests();
let stack: StandInStack;
let rt: IssuerRuntime;
let inventory: DynamoInventory;
let responder: Awaited<ReturnType<typeof serveHttp01OnPebblePort>>;

beforeAll(async () => {
  stack = await useStandInStack('forced');
  rt = buildIssuerRuntime({ ...process.env, ...stack.env });
  inventory = new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table });
  responder = await serveHttp01OnPebblePort(new S3ObjectStore(stack.clients.s3, { bucket: stack.bucket }));
});
afterAll(async () => {
  await responder?.close();
  stack?.clients.s3.destroy();
});

const orders = () => acmeRequests.count('/order-plz');
/** What `certkeeper renew NAME --force` queues. */
const forced = (certificate: string) => ({
  MessageId: `m-${randomBytes(4).toString('hex')}`,
  Body: JSON.stringify(forcedRenewal(certificate, new Date())),
});

async function issued(name: string): Promise<string> {
  await declareCertificate(inventory, { name, identifiers: ['127.0.0.1'] });
  expect((await renewCertificate(rt.renewDeps, name)).status).toBe('issued');
  return (await manifestSerial(stack, name))!;
}

describe('forced renewal requests at the issuer', () => {
  it('a duplicate delivery of the same forced request orders once', { timeout: 120_000 }, async () => {
    const first = await issued('forced-dup');
    pointHandlersAt(stack.env);
    const message = forced('forced-dup');
    const before = orders();
    expect((await issuer(sqsEvent([message]))).batchItemFailures).toEqual([]);
    const renewed = await manifestSerial(stack, 'forced-dup');
    expect(renewed).not.toBe(first);
    expect(orders()).toBe(before + 1);
    // SQS delivers it again (or someone sends it again): nothing more is ordered.
    expect((await issuer(sqsEvent([{ ...message, MessageId: 'again' }]))).batchItemFailures).toEqual([]);
    expect(orders()).toBe(before + 1);
    expect(await manifestSerial(stack, 'forced-dup')).toBe(renewed);
    // A new request (another id) is honoured.
    expect((await issuer(sqsEvent([forced('forced-dup')]))).batchItemFailures).toEqual([]);
    expect(orders()).toBe(before + 2);
  });

  it('a forced message without a request id renews only when due', { timeout: 120_000 }, async () => {
    const first = await issued('forced-anon');
    pointHandlersAt(stack.env);
    const before = orders();
    const body = JSON.stringify({ certificate: 'forced-anon', reason: 'manual', force: true });
    expect((await issuer(sqsEvent([{ MessageId: 'anon', Body: body }]))).batchItemFailures).toEqual([]);
    expect(orders()).toBe(before);
    expect(await manifestSerial(stack, 'forced-anon')).toBe(first);
  });

  it(
    'a forced request meeting a pass that holds the lease waits for it, then renews',
    { timeout: 120_000 },
    async () => {
      const first = await issued('forced-busy');
      pointHandlersAt(stack.env, { busyWaitMs: 60_000 });
      const pass = heldPass(rt.renewDeps, 'forced-busy');
      await pass.inOrder;
      const handled = issuer(sqsEvent([forced('forced-busy')]));
      await new Promise((done) => setTimeout(done, 1500));
      pass.release();
      expect((await pass.done).status).toBe('failed');
      expect((await handled).batchItemFailures).toEqual([]);
      expect(await manifestSerial(stack, 'forced-busy')).not.toBe(first);
    },
  );

  it('past its wait, it goes back to SQS rather than being dropped', { timeout: 120_000 }, async () => {
    const first = await issued('forced-later');
    pointHandlersAt(stack.env, { busyWaitMs: 1000 });
    const pass = heldPass(rt.renewDeps, 'forced-later');
    await pass.inOrder;
    try {
      const message = forced('forced-later');
      const answer = await issuer(sqsEvent([message]));
      expect(answer.batchItemFailures).toEqual([{ itemIdentifier: message.MessageId }]);
    } finally {
      pass.release();
      await pass.done;
    }
    expect(await manifestSerial(stack, 'forced-later')).toBe(first);
  });
});
