/**
 * Concurrency on the real lock (DynamoDB Local) through the real issuer: many invocations
 * for one certificate place exactly one ACME order.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { handler as issuer } from '../../functions/issuer.js';
import { buildIssuerRuntime } from '../../composition/aws-issuer.js';
import { declareCertificate } from '../../shared/usecases/declare-certificates.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import { renewCertificate } from '../../shared/usecases/renew-certificate.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { receiveAll, sqsEvent } from '../../scripts/stand-in-stack/pipeline.js';
import { listKeys, recordAcmeRequests, useStandInStack } from '../../scripts/test-kit/stack.js';

const acmeRequests = recordAcmeRequests();
let stack: StandInStack;

beforeAll(async () => {
  stack = await useStandInStack('locking', ['lock.test']);
  const inventory = new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table });
  await declareCertificate(inventory, { name: 'race', identifiers: ['race.lock.test'], profile: 'classic' });
});

const serials = async () =>
  (await listKeys(stack, 'certificates/race/')).filter((k) => k.endsWith('/cert.pem'));

describe('8 concurrent issuer invocations for one certificate', () => {
  it('place exactly one ACME order and store one certificate', async () => {
    const before = acmeRequests.count('/order-plz');
    const responses = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        issuer(sqsEvent([{ MessageId: `m${i}`, Body: JSON.stringify({ certificate: 'race' }) }])),
      ),
    );
    expect(responses.every((r) => r.batchItemFailures.length === 0)).toBe(true);
    expect(acmeRequests.count('/order-plz') - before).toBe(1);
    expect(await serials()).toHaveLength(1);
    const events = (await receiveAll(stack.clients.sqs, stack.tapQueueUrl)).map((m) => JSON.parse(m.Body!));
    expect(events.map((e) => e.type)).toEqual(['certificate.issued']);
  });

  it('report busy from every worker but the lease holder', async () => {
    // Eight separate runtimes (cold starts), as eight Lambda instances would be.
    const workers = Array.from({ length: 8 }, () => buildIssuerRuntime(process.env).renewDeps);
    const before = acmeRequests.count('/order-plz');
    const outcomes = await Promise.all(
      workers.map((deps) => renewCertificate(deps, 'race', { force: true })),
    );
    const statuses = outcomes.map((o) => o.status).sort();
    expect(statuses).toEqual(['busy', 'busy', 'busy', 'busy', 'busy', 'busy', 'busy', 'renewed']);
    expect(acmeRequests.count('/order-plz') - before).toBe(1);
    expect(await serials()).toHaveLength(2);
  });
});
