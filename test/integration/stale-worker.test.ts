/**
 * A worker whose lease was taken over (paused past its expiry, as a frozen Lambda or a
 * stopped local run is) writes nothing readers follow (issue 22, item 7): not the manifest,
 * not an ACM import. The lease is DynamoDB Local's; the takeover is a second worker whose
 * clock is an hour ahead, for which the first one's lease has expired. The certificate comes
 * from Pebble, the bucket and ACM are moto's.
 */
import { ACMClient, ListCertificatesCommand } from '@aws-sdk/client-acm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIssuerRuntime, type IssuerRuntime } from '../../composition/aws-issuer.js';
import { deliverToAcm } from '../../shared/delivery/acm-delivery.js';
import { SdkAcmImporter } from '../../shared/delivery/acm.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import { DynamoLeaseLock } from '../../shared/lock/dynamodb.js';
import { withLease } from '../../shared/lock/keeper.js';
import type { Lease } from '../../shared/lock/lock.js';
import { emptyDelivery } from '../../shared/model/delivery.js';
import { ConflictError } from '../../shared/model/errors.js';
import { HOUR, ManualClock, MINUTE } from '../../shared/model/clock.js';
import { silentLog } from '../../shared/model/log.js';
import { S3ObjectStore } from '../../shared/store/s3-store.js';
import { declareCertificate } from '../../shared/usecases/declare-certificates.js';
import { renewCertificate } from '../../shared/usecases/renew-certificate.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { withIssue } from '../support/ca-wrap.js';
import { peers } from '../../scripts/test-kit/peers.js';
import { manifestSerial, serveHttp01OnPebblePort, useStandInStack } from '../../scripts/test-kit/stack.js';

let stack: StandInStack;
let rt: IssuerRuntime;
let inventory: DynamoInventory;
/** The worker that takes over: its clock an hour ahead, so the first one's lease has expired. */
let later: DynamoLeaseLock;

beforeAll(async () => {
  stack = await useStandInStack('stale');
  rt = buildIssuerRuntime({ ...process.env, ...stack.env });
  inventory = new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table });
  later = new DynamoLeaseLock({
    client: stack.clients.dynamodb,
    tableName: stack.table,
    clock: new ManualClock(Date.now() + HOUR),
  });
});
afterAll(() => stack.clients.s3.destroy());

const serving = () => serveHttp01OnPebblePort(new S3ObjectStore(stack.clients.s3, { bucket: stack.bucket }));

/** Takes the certificate over as a second worker would (acquire, then claim); the lease taken. */
async function takeOver(name: string): Promise<Lease> {
  const lease = await later.acquire(name, 5 * MINUTE);
  expect(lease, 'the second worker gets the expired lease').toBeDefined();
  await inventory.claim(name, lease!);
  return lease!;
}

describe('a worker whose lease was taken over', () => {
  it(
    'does not replace the manifest with the certificate it got meanwhile',
    { timeout: 120_000 },
    async () => {
      await declareCertificate(inventory, { name: 'stale', identifiers: ['127.0.0.1'] });
      const responder = await serving();
      try {
        expect((await renewCertificate(rt.renewDeps, 'stale')).status).toBe('issued');
        const first = await manifestSerial(stack, 'stale');
        // The first worker orders a new certificate and is paused right after the CA issued it.
        let issued!: () => void;
        let resume!: () => void;
        const gotIt = new Promise<void>((done) => (issued = done));
        const resumed = new Promise<void>((done) => (resume = done));
        const stale = renewCertificate(
          {
            ...rt.renewDeps,
            authorities: withIssue(rt.renewDeps.authorities, async (inner, request, solver) => {
              const certificate = await inner.issue(request, solver);
              issued();
              await resumed;
              return certificate;
            }),
          },
          'stale',
          { force: true },
        ).catch((err: unknown) => err);
        await gotIt;
        const taken = await takeOver('stale');
        resume();
        const ended = await stale;
        await later.release(taken);
        // Its state write is refused by the fence, as before; now its manifest write is too.
        expect(ended).toBeInstanceOf(ConflictError);
        expect(await manifestSerial(stack, 'stale')).toBe(first);
        expect((await inventory.get('stale'))!.state.current?.serial).toBe(first);
      } finally {
        await responder.close();
      }
    },
  );

  it('does not import into ACM', { timeout: 120_000 }, async () => {
    await declareCertificate(inventory, { name: 'stale-acm', identifiers: ['127.0.0.1'] });
    const responder = await serving();
    try {
      expect((await renewCertificate(rt.renewDeps, 'stale-acm')).status).toBe('issued');
    } finally {
      await responder.close();
    }
    const record = (await inventory.get('stale-acm'))!;
    const region = 'eu-west-1';
    const acm = new SdkAcmImporter({
      clientFor: (r) =>
        new ACMClient({
          region: r,
          endpoint: peers().motoEndpoint,
          credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
        }),
    });
    const before = await new ACMClient({
      region,
      endpoint: peers().motoEndpoint,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    }).send(new ListCertificatesCommand({}));
    const spec = { ...record.spec, delivery: { ...emptyDelivery(), acmRegions: [region] } };
    const state = await withLease(rt.renewDeps.lock, 'stale-acm', 5 * MINUTE, silentLog, async (held) => {
      const taken = await takeOver('stale-acm');
      try {
        const deps = { acm, store: rt.renewDeps.store, log: silentLog };
        return await deliverToAcm(deps, spec, record.state, new Date(), {
          fresh: true,
          fence: () => held.confirm('importing into ACM'),
        });
      } finally {
        await later.release(taken);
      }
    });
    expect(state, 'the first worker held the lease').toBeDefined();
    expect(state!.acm?.[region]).toMatchObject({ failures: 1 });
    expect(state!.acm?.[region]?.error).toMatch(
      /lease for stale-acm was lost .* importing into ACM was refused/,
    );
    const after = await new ACMClient({
      region,
      endpoint: peers().motoEndpoint,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    }).send(new ListCertificatesCommand({}));
    expect(after.CertificateSummaryList?.length ?? 0).toBe(before.CertificateSummaryList?.length ?? 0);
  });
});
