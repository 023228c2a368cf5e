/**
 * `revoke` and `remove` racing a renewal pass (issue 22, item 4). A pass claims the
 * certificate and is held mid-flight (its order waits for this test, then fails, as a CA
 * refusing it would); the command runs as a child process against the local stack (DynamoDB
 * Local, moto, Pebble); then the pass is let go and writes its state. The operator's change
 * must survive the pass: the revoked certificate is still marked for reissue, the removed
 * one stays retired.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIssuerRuntime, type IssuerRuntime } from '../../composition/aws-issuer.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import type { CertificateState } from '../../shared/model/state.js';
import { S3ObjectStore } from '../../shared/store/s3-store.js';
import { declareCertificate } from '../../shared/usecases/declare-certificates.js';
import { renewCertificate } from '../../shared/usecases/renew-certificate.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { heldPass } from '../support/ca-wrap.js';
import { pebbleGet } from '../../scripts/test-kit/peers.js';
import { serveHttp01OnPebblePort, useStandInStack } from '../../scripts/test-kit/stack.js';
import { json, start } from '../../scripts/test-kit/operator.js';

let stack: StandInStack;
let rt: IssuerRuntime;
let inventory: DynamoInventory;

beforeAll(async () => {
  stack = await useStandInStack('lease-race');
  rt = buildIssuerRuntime({ ...process.env, ...stack.env });
  inventory = new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table });
});
afterAll(() => stack.clients.s3.destroy());

const state = async (name: string): Promise<CertificateState> => (await inventory.get(name))!.state;
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** Declares and issues `name` for 127.0.0.1, as the issuer would. */
async function issued(name: string): Promise<string> {
  await declareCertificate(inventory, { name, identifiers: ['127.0.0.1'] });
  const responder = await serveHttp01OnPebblePort(
    new S3ObjectStore(stack.clients.s3, { bucket: stack.bucket }),
  );
  try {
    const outcome = await renewCertificate(rt.renewDeps, name);
    expect(outcome.status).toBe('issued');
    return (outcome as { serial: string }).serial;
  } finally {
    await responder.close();
  }
}

/**
 * Lets the operator's command get as far as it can while the pass holds the certificate:
 * until `reached()` (the command's change is visible) or a few seconds.
 */
async function whileHeld(reached: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && !(await reached())) await sleep(250);
}

describe('operator changes racing a renewal pass', () => {
  it(
    'revoke while a pass is mid-flight: the reissue stays set after the pass writes',
    { timeout: 120_000 },
    async () => {
      const serial = await issued('race-revoke');
      const pass = heldPass(rt.renewDeps, 'race-revoke');
      await pass.inOrder;
      const revoke = start(['revoke', 'race-revoke', '--reason', 'keyCompromise', '--json'], stack.env);
      // Revoked at the CA at once (a leaked key must not wait for a renewal)...
      await whileHeld(async () =>
        (await pebbleGet(`/cert-status-by-serial/${serial}`)).body.includes('Revoked'),
      );
      expect((await pebbleGet(`/cert-status-by-serial/${serial}`)).body).toMatch(/Revoked/);
      // ...and whatever the command wrote meanwhile, the pass's write comes after it.
      await whileHeld(async () => (await state('race-revoke')).reissue === true);
      pass.release();
      const outcome = await pass.done;
      expect(outcome.status).toBe('failed');
      const run = await revoke.done;
      expect(run.code, run.stderr).toBe(0);
      expect(json(run)).toMatchObject({ certificate: 'race-revoke', revoked: true, serial, reissue: true });
      const after = await state('race-revoke');
      expect(after.current?.serial).toBe(serial);
      expect(after.reissue).toBe(true);
      expect(Date.parse(after.dueAt!)).toBeLessThanOrEqual(Date.now());
    },
  );

  it(
    'remove while a pass is mid-flight: the certificate stays retired after the pass writes',
    { timeout: 120_000 },
    async () => {
      await issued('race-remove');
      const pass = heldPass(rt.renewDeps, 'race-remove');
      await pass.inOrder;
      const remove = start(['remove', 'race-remove', '--json'], stack.env);
      await whileHeld(async () => (await state('race-remove')).status === 'retired');
      pass.release();
      expect((await pass.done).status).toBe('failed');
      const run = await remove.done;
      expect(run.code, run.stderr).toBe(0);
      expect(json(run)).toMatchObject({ certificate: 'race-remove', retired: true, alreadyRetired: false });
      const after = await state('race-remove');
      expect(after.status).toBe('retired');
      expect(after.dueAt).toBeUndefined();
      // Nothing renews it any more: the next pass leaves it alone.
      expect((await renewCertificate(rt.renewDeps, 'race-remove')).status).toBe('not-due');
    },
  );
});
