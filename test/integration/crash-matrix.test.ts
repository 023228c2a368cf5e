/**
 * The crash matrix: an issuer process killed (SIGKILL) at each step of a renewal, then the
 * next worker, once the lease has expired, against the real peers (Pebble, moto's S3,
 * Route53 and SNS, DynamoDB Local, the test DNS server). For each step: the certificate
 * that was current stays current until a complete new one is recorded, the next worker
 * finishes the renewal without a second order (the order and its key survive the crash),
 * exactly one `certificate.renewed` event reaches the subscribers, and no challenge record
 * outlives the attempt. The order's kept key (certificates/<name>/pending/order-key.json) is
 * there after a crash between finalize and the state write, which is what lets the next
 * worker use that order's certificate, and is gone once the state names the new certificate.
 *
 * `npm run fault-matrix` runs it with the fault matrix and prints both tables.
 */
import { fileURLToPath } from 'node:url';
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIssuerRuntime } from '../../composition/aws-issuer.js';
import { handler as issuer } from '../../functions/issuer.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import { ManualClock, MINUTE } from '../../shared/model/clock.js';
import type { CertificateState } from '../../shared/model/state.js';
import { pendingKeyKey } from '../../shared/store/layout.js';
import { declareCertificate } from '../../shared/usecases/declare-certificates.js';
import { renewCertificate } from '../../shared/usecases/renew-certificate.js';
import { sqsEvent } from '../../scripts/stand-in-stack/pipeline.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { uniqueName } from '../../scripts/test-kit/peers.js';
import {
  issuerMessage,
  listKeys,
  manifestSerial,
  recordAcmeRequests,
  tapEvents,
  useStandInStack,
} from '../../scripts/test-kit/stack.js';
import { runToEnd } from '../../scripts/test-kit/child.js';
import { CRASH_STEPS, type CrashStep } from '../support/crash-steps.js';

const ZONE = `${uniqueName('crash')}.test`;
const WORKER = fileURLToPath(new URL('../support/crash-worker.ts', import.meta.url));

const acme = recordAcmeRequests();
let stack: StandInStack;
let inventory: DynamoInventory;
const rows: string[][] = [];

const state = async (name: string): Promise<CertificateState> => (await inventory.get(name))!.state;

const manifestSerialOf = (name: string) => manifestSerial(stack, name);
const keptKey = async (name: string): Promise<boolean> =>
  (await listKeys(stack, pendingKeyKey(name))).includes(pendingKeyKey(name));
const events = (name: string) => tapEvents(stack, name);

async function txtRecords(): Promise<string[]> {
  const { ResourceRecordSets } = await stack.clients.route53.send(
    new ListResourceRecordSetsCommand({ HostedZoneId: stack.zoneIds[ZONE] }),
  );
  return (ResourceRecordSets ?? []).filter((r) => r.Type === 'TXT').map((r) => r.Name!);
}

/** Runs the crash worker to its death; what it printed. */
const crashAt = (step: CrashStep, name: string) =>
  runToEnd(process.execPath, ['--import', 'tsx', WORKER, step, name]);

beforeAll(async () => {
  stack = await useStandInStack('crash', [ZONE]);
  inventory = new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table });
}, 60_000);

afterAll(() => {
  const header = ['crash', 'after the crash', 'orders at the CA', 'events'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ');
  console.log(['', 'crash matrix', line(header), ...rows.map(line), ''].join('\n'));
});

const WHERE: Record<CrashStep, string> = {
  order: 'after the order exists',
  challenge: 'after the challenge is presented',
  finalize: 'after finalize',
  files: 'after the files, before the manifest',
  manifest: 'after the manifest, before the state',
  state: 'after the state, before the event',
};

describe('crash matrix', () => {
  it.each(CRASH_STEPS)('killed %s: the next worker resumes, one order, one renewed event', async (step) => {
    // A certificate of its own, issued.
    const name = `crash-${step}`;
    await declareCertificate(inventory, { name, identifiers: [`${step}.${ZONE}`], profile: 'classic' });
    expect((await issuer(sqsEvent([issuerMessage(name)]))).batchItemFailures).toEqual([]);
    const serial = (await state(name)).current!.serial;
    await events(name);
    // A name added: due at once, and the CA needs a fresh validation (Pebble reuses the
    // authorizations of names it has validated), so every step of an order happens.
    await declareCertificate(inventory, {
      name,
      identifiers: [`${step}.${ZONE}`, `b-${step}.${ZONE}`],
      profile: 'classic',
    });
    const ordersBefore = acme.count('/order-plz');

    const crash = await crashAt(step, name);
    expect(crash.signal, crash.stderr).toBe('SIGKILL');
    expect(crash.stdout).toContain(`CRASH ${step}`);
    const crashedOrders = crash.stdout.split('\n').filter((l) => l.startsWith('ORDER ')).length;
    expect(crashedOrders).toBe(1);

    // What the crash left: the certificate in place until the new one is recorded.
    const left = await state(name);
    const manifestAfterCrash = await manifestSerialOf(name);
    if (step === 'state') {
      expect(left.current?.serial).not.toBe(serial);
      expect(left.outbox?.map((e) => e.type)).toEqual(['certificate.renewed']);
      // Deleted once the state was written, before the event.
      expect(await keptKey(name)).toBe(false);
    } else {
      expect(left.current?.serial).toBe(serial);
      expect(left.orderUrl).toBeDefined();
      expect(manifestAfterCrash === serial).toBe(step !== 'manifest');
      // Finalized: only this key can use the order's certificate (before finalize the
      // write may still be on its way, and the next worker orders with a fresh key anyway).
      if (step === 'finalize' || step === 'files' || step === 'manifest')
        expect(await keptKey(name)).toBe(true);
    }
    expect(await events(name)).toEqual([]);

    // The next worker, once the crashed worker's lease has expired (its clock is ahead).
    const next = buildIssuerRuntime(process.env, {
      clock: new ManualClock(Date.now() + 10 * MINUTE),
    }).renewDeps;
    const outcome = await renewCertificate(next, name);
    const done = await state(name);
    const renewedSerial = done.current!.serial;
    expect(renewedSerial).not.toBe(serial);
    expect(await manifestSerialOf(name)).toBe(renewedSerial);
    expect(done.orderUrl).toBeUndefined();
    expect(done.outbox).toBeUndefined();
    expect(await keptKey(name), 'the kept key outlives the renewal').toBe(false);
    const orders = acme.count('/order-plz') - ordersBefore;
    expect(orders, 'the next worker placed no second order').toBe(0);
    const sent = await events(name);
    expect(sent.map((e) => [e.type, e.serial])).toEqual([['certificate.renewed', renewedSerial]]);
    expect(await txtRecords()).toEqual([]);
    const serials = (await listKeys(stack, `certificates/${name}/`)).filter((k) => k.endsWith('/cert.pem'));
    expect(serials).toHaveLength(2);

    rows.push([
      WHERE[step],
      step === 'state'
        ? `new certificate recorded; its event delivered from the outbox (${outcome.status})`
        : `previous certificate current; order resumed with its kept key, ${outcome.status}`,
      `${crashedOrders + orders} (${orders} by the next worker)`,
      sent.map((e) => e.type.replace('certificate.', '')).join(', '),
    ]);
  });
});
