/**
 * An issuer stopped mid-order (a Lambda timeout) leaves the order URL in the state; the
 * next attempt, once the lease has expired, resumes that order instead of placing another.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { buildIssuerRuntime } from '../../composition/aws-issuer.js';
import type { ChallengeSolver } from '../../shared/challenges/solver.js';
import { declareCertificate } from '../../shared/usecases/declare-certificates.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import { ManualClock, MINUTE } from '../../shared/model/clock.js';
import { renewCertificate } from '../../shared/usecases/renew-certificate.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { listKeys, recordAcmeRequests, useStandInStack } from '../../scripts/test-kit/stack.js';

const acmeRequests = recordAcmeRequests();
let stack: StandInStack;
let inventory: DynamoInventory;

beforeAll(async () => {
  stack = await useStandInStack('resume', ['resume.test']);
  inventory = new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table });
  await declareCertificate(inventory, {
    name: 'slow',
    identifiers: ['slow.resume.test'],
    profile: 'classic',
  });
});

describe('an attempt cut off mid-order', () => {
  it('is resumed by the next worker after the lease expires, with no second order', async () => {
    const clock = new ManualClock(Date.now() + MINUTE);
    const frozen = buildIssuerRuntime(process.env, { clock }).renewDeps;
    let presented!: () => void;
    const reachedPresent = new Promise<void>((resolve) => (presented = resolve));
    // A solver that never finishes presenting: the Lambda is frozen here until its timeout.
    const hanging: ChallengeSolver = {
      type: 'dns-01',
      present: () => {
        presented();
        return new Promise<void>(() => {});
      },
      waitReady: async () => {},
      cleanup: async () => {},
    };
    const ordersBefore = acmeRequests.count('/order-plz');
    void renewCertificate({ ...frozen, solverFor: () => hanging, leaseTtlMs: 2 * MINUTE }, 'slow');
    await reachedPresent;
    const orderUrl = (await inventory.get('slow'))!.state.orderUrl;
    expect(orderUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/my-order\//);
    expect(acmeRequests.count('/order-plz') - ordersBefore).toBe(1);

    // Before the lease expires another worker is turned away...
    const next = buildIssuerRuntime(process.env, { clock }).renewDeps;
    expect((await renewCertificate(next, 'slow')).status).toBe('busy');
    // ...after it, the worker takes over and continues the same order.
    clock.advance(3 * MINUTE);
    const outcome = await renewCertificate(next, 'slow');
    expect(outcome.status).toBe('issued');
    expect(acmeRequests.count('/order-plz') - ordersBefore).toBe(1);
    const state = (await inventory.get('slow'))!.state;
    expect(state.orderUrl).toBeUndefined();
    expect(state.current?.serial).toBeDefined();
    expect((await listKeys(stack, 'certificates/slow/')).filter((k) => k.endsWith('cert.pem'))).toHaveLength(
      1,
    );
  });
});
