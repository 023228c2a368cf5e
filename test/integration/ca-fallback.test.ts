/**
 * CA fallback against two real CAs: CA "pebble-a" is the run's Pebble behind a fault proxy
 * (so it can go down and come back with its accounts intact), CA "pebble-b" a Pebble of
 * its own. Both validate dns-01 through the test DNS server, which also serves the CAA
 * records the issuer reads before choosing a CA.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIssuerRuntime } from '../../composition/aws-issuer.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import type { CaSettings } from '../../shared/model/cas.js';
import type { CertificateState } from '../../shared/model/state.js';
import { declareCertificate } from '../../shared/usecases/declare-certificates.js';
import { renewCertificate } from '../../shared/usecases/renew-certificate.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { type FaultProxy, startPebbleFaultProxy } from '../support/acme-fault-proxy.js';
import { certkeeper, json } from '../../scripts/test-kit/operator.js';
import { uniqueName } from '../../scripts/test-kit/peers.js';
import { type SwitchedPebble, startPebbleWith } from '../../scripts/test-kit/pebble-switches.js';
import {
  manifestSerial,
  putRecord,
  readManifest,
  recordAcmeRequests,
  tapEvents,
  useStandInStack,
} from '../../scripts/test-kit/stack.js';

const ZONE = `${uniqueName('cafb')}.test`;
const acme = recordAcmeRequests();
let stack: StandInStack;
let inventory: DynamoInventory;
let proxyA: FaultProxy;
let pebbleB: SwitchedPebble;
let env: Record<string, string>;

const state = async (name: string): Promise<CertificateState> => (await inventory.get(name))!.state;

/** One pass as a fresh issuer (a cold start) with both CAs configured, forced. */
async function renew(name: string) {
  return renewCertificate(buildIssuerRuntime(env).renewDeps, name, { force: true });
}

/** New orders the CAs accepted so far (Pebble's newOrder is /order-plz). */
const orders = () => acme.count('/order-plz');

const putCaa = (name: string, values: string[]) =>
  putRecord(stack, stack.zoneIds[ZONE]!, name, 'CAA', values);

beforeAll(async () => {
  stack = await useStandInStack('cafb', [ZONE]);
  inventory = new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table });
  proxyA = await startPebbleFaultProxy();
  pebbleB = await startPebbleWith({});
  const cas: CaSettings[] = [
    {
      name: 'pebble-a',
      directoryUrl: proxyA.directoryUrl,
      contact: 'ops@example.test',
      caaIdentities: ['pebble-a.test'],
    },
    {
      name: 'pebble-b',
      directoryUrl: pebbleB.directoryUrl,
      contact: 'ops@example.test',
      caaIdentities: ['pebble-b.test'],
    },
  ];
  env = {
    ...stack.env,
    CERTKEEPER_CAS: JSON.stringify(cas),
    // Move on after one failure of the CA's own, so each step is one pass.
    CERTKEEPER_CA_FALLBACK: JSON.stringify({ afterFailures: 1, lifetimeShareLeft: 0.2 }),
  };
}, 60_000);

afterAll(async () => {
  await proxyA?.close();
  await pebbleB?.close();
});

describe('CA fallback', () => {
  it('renews at the second CA while the first is down, and returns to the first once it is back', async () => {
    const name = 'fallback';
    await declareCertificate(inventory, {
      name,
      identifiers: [`fb.${ZONE}`],
      challenge: 'dns-01',
      profile: 'classic',
    });
    expect((await renew(name)).status).toBe('issued');
    expect((await state(name)).current?.ca).toBe('pebble-a');
    await tapEvents(stack, name);

    const before = (await state(name)).current!.serial;
    proxyA.setFault({ kind: 'down' });
    // The failure at pebble-a is its own (unreachable): the same pass moves on to pebble-b.
    const moved = await renew(name);
    expect(moved.status).toBe('renewed');
    const onB = await state(name);
    expect(onB.current?.ca).toBe('pebble-b');
    expect(onB.current?.serial).not.toBe(before);
    expect(onB.caAttempt).toBeUndefined();
    // ARI is asked of the CA that issued it (RFC 9773 §4.2): pebble-b answered, while a poll
    // of pebble-a (still down) would have recorded an error.
    expect(onB.ari?.certId).toBe(onB.current?.certId);
    expect(onB.ari?.windowStart).toBeDefined();
    expect(onB.ari?.lastError).toBeUndefined();
    expect(await readManifest(stack, name)).toMatchObject({ serial: onB.current?.serial, ca: 'pebble-b' });
    const events = await tapEvents(stack, name);
    expect(events.map((e) => [e.type, e.ca])).toEqual([
      ['certificate.renewal_failed', 'pebble-a'],
      ['certificate.renewed', 'pebble-b'],
    ]);
    expect(events[0]?.error?.detail).toMatch(/unreachable|ECONNREFUSED|connect/i);
    // `certkeeper status` names the CA, in the table, the detail and the JSON.
    const listed = json<{ name: string; ca: string }[]>(await certkeeper(['list', '--json'], stack.env));
    expect(listed.find((c) => c.name === name)?.ca).toBe('pebble-b');
    const detail = await certkeeper(['status', name], stack.env);
    expect(detail.stdout).toMatch(/issued by +pebble-b/);

    proxyA.setFault({ kind: 'pass' });
    expect((await renew(name)).status).toBe('renewed');
    const back = await state(name);
    expect(back.current?.ca).toBe('pebble-a');
    expect((await tapEvents(stack, name)).map((e) => [e.type, e.ca])).toEqual([
      ['certificate.renewed', 'pebble-a'],
    ]);
  }, 180_000);

  it('refuses to fall back to a CA the names’ CAA records forbid, and keeps the certificate in place', async () => {
    const name = 'caa';
    const host = `caa.${ZONE}`;
    // RFC 8659 §3: the set at the name governs it; only pebble-a may issue.
    await putCaa(host, ['0 issue "pebble-a.test"', '0 iodef "mailto:ops@example.test"']);
    await declareCertificate(inventory, {
      name,
      identifiers: [host],
      challenge: 'dns-01',
      profile: 'classic',
    });
    expect((await renew(name)).status).toBe('issued');
    const issued = await state(name);
    expect(issued.current?.ca).toBe('pebble-a');

    proxyA.setFault({ kind: 'down' });
    try {
      const ordered = orders();
      // pebble-a fails (unreachable), and the move to pebble-b is refused in the same pass.
      const refused = await renew(name);
      expect(refused.status).toBe('failed');
      const error = refused.status === 'failed' ? refused.error : undefined;
      expect(error?.message).toContain('cannot fall back from CA pebble-a after 1 failures');
      expect(error?.message).toContain(`pebble-b: CAA at ${host} allows only issue "pebble-a.test"`);
      expect(error?.fix).toMatch(/CAA "issue" record/);
      expect(orders()).toBe(ordered);
      const after = await state(name);
      expect(after.current).toEqual(issued.current);
      expect(await manifestSerial(stack, name)).toBe(issued.current?.serial);
      // Back to the preferred CA next time: the refusal counts no failure of it.
      expect(after.caAttempt).toBeUndefined();
    } finally {
      proxyA.setFault({ kind: 'pass' });
    }
    expect((await renew(name)).status).toBe('renewed');
    expect((await state(name)).current?.ca).toBe('pebble-a');
  }, 180_000);

  it('skips the preferred CA when CAA forbids it, with nothing failed', async () => {
    const name = 'caa-skip';
    const host = `skip.${ZONE}`;
    await putCaa(host, ['0 issue "pebble-b.test"']);
    await declareCertificate(inventory, {
      name,
      identifiers: [host],
      challenge: 'dns-01',
      profile: 'classic',
    });
    expect((await renew(name)).status).toBe('issued');
    expect((await state(name)).current?.ca).toBe('pebble-b');
  }, 120_000);

  it('skips a CA whose CAA record binds another ACME account (RFC 8657), and uses it when the record names ours', async () => {
    const deps = buildIssuerRuntime(env).renewDeps;
    const ourAccount = await deps.authorities[0]!.ca.accountUrl();
    expect(ourAccount).toMatch(/^https:\/\//);
    const warnings: Record<string, unknown>[] = [];
    const renewLogged = (name: string) =>
      renewCertificate(
        {
          ...deps,
          log: { ...deps.log, warn: (message, extra) => warnings.push({ message, ...extra }) },
        },
        name,
        { force: true },
      );

    const other = `acct-other.${ZONE}`;
    await putCaa(other, [
      '0 issue "pebble-a.test; accounturi=https://pebble-a.test/my-account/1"',
      '0 issue "pebble-b.test"',
    ]);
    await declareCertificate(inventory, { name: 'acct-other', identifiers: [other], challenge: 'dns-01' });
    const ordered = orders();
    expect((await renewLogged('acct-other')).status).toBe('issued');
    const onB = await state('acct-other');
    expect(onB.current?.ca).toBe('pebble-b');
    // Skipped before ordering, so pebble-a counts no failure and saw no order.
    expect(onB.caAttempt).toBeUndefined();
    expect(orders()).toBe(ordered + 1);
    expect(warnings).toContainEqual(
      expect.objectContaining({
        message: 'renewal goes to another CA',
        ca: 'pebble-b',
        skipped: [
          {
            name: 'pebble-a',
            why: expect.stringContaining(`only for another ACME account`) as unknown,
          },
        ],
      }),
    );
    expect(JSON.stringify(warnings)).toContain(`this account is ${ourAccount}`);

    const ours = `acct-ours.${ZONE}`;
    await putCaa(ours, [`0 issue "pebble-a.test; accounturi=${ourAccount}"`, '0 issue "pebble-b.test"']);
    await declareCertificate(inventory, { name: 'acct-ours', identifiers: [ours], challenge: 'dns-01' });
    expect((await renewLogged('acct-ours')).status).toBe('issued');
    expect((await state('acct-ours')).current?.ca).toBe('pebble-a');
  }, 120_000);
});
