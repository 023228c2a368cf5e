/**
 * DNS-01 by CNAME delegation, against the real peers: a name whose DNS is elsewhere (here a
 * zone standing in for another DNS host, served by the test DNS server from moto) points
 * `_acme-challenge.<name>` at a name in a Route53 zone certkeeper writes. The issuer follows
 * the CNAME as the public sees it, writes the TXT values there, Pebble follows the same
 * CNAME to validate, and nothing is left behind.
 */
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { handler as issuer } from '../../functions/issuer.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import { ValidationError } from '../../shared/model/errors.js';
import { parseCertificate } from '../../shared/pki/index.js';
import { declareCertificate } from '../../shared/usecases/declare-certificates.js';
import { renewCertificate } from '../../shared/usecases/renew-certificate.js';
import { issuerRuntime } from '../../functions/issuer-runtime.js';
import { sqsEvent } from '../../scripts/stand-in-stack/pipeline.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { uniqueName } from '../../scripts/test-kit/peers.js';
import {
  createForeignZone,
  issuerMessage,
  manifestSerial,
  putCname,
  tapEvents,
  useStandInStack,
} from '../../scripts/test-kit/stack.js';

const id = uniqueName('cn').slice(3, 15);
/** The user's DNS host (not Route53 in real life): only its CNAMEs matter here. */
const ELSEWHERE = `ext-${id}.test`;
/** certkeeper's zone, which the challenges are delegated to. */
const DELEGATE = `dlg-${id}.test`;

let stack: StandInStack;
let inventory: DynamoInventory;

const cname = (zone: string, name: string, target: string) =>
  putCname(stack, stack.zoneIds[zone]!, name, target);

async function txtRecords(zone: string): Promise<string[]> {
  const { ResourceRecordSets } = await stack.clients.route53.send(
    new ListResourceRecordSetsCommand({ HostedZoneId: stack.zoneIds[zone] }),
  );
  return (ResourceRecordSets ?? []).filter((r) => r.Type === 'TXT').map((r) => r.Name!);
}

beforeAll(async () => {
  stack = await useStandInStack('cname', [DELEGATE]);
  // The names' own DNS host: a zone certkeeper never writes; without following the CNAME
  // the TXT values would have nowhere to go.
  stack.zoneIds[ELSEWHERE] = await createForeignZone(stack, ELSEWHERE);
  inventory = new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table });
}, 60_000);

describe('dns-01 through a CNAME', () => {
  it('issues a wildcard and apex certificate with the TXT values in the delegated zone, none left', async () => {
    await cname(ELSEWHERE, `_acme-challenge.${ELSEWHERE}`, `_acme-challenge.web.${DELEGATE}`);
    const name = 'delegated';
    await declareCertificate(inventory, {
      name,
      identifiers: [ELSEWHERE, `*.${ELSEWHERE}`],
      challenge: 'dns-01',
      profile: 'classic',
    });
    expect((await issuer(sqsEvent([issuerMessage(name)]))).batchItemFailures).toEqual([]);

    const state = (await inventory.get(name))!.state;
    expect(state.lastError).toBeUndefined();
    expect(state.current?.serial).toBe(await manifestSerial(stack, name));
    const [issued] = await tapEvents(stack, name);
    expect(issued?.type).toBe('certificate.issued');
    const out = await stack.clients.s3.send(
      new GetObjectCommand({
        Bucket: stack.bucket,
        Key: `certificates/${name}/${state.current!.serial}/cert.pem`,
      }),
    );
    const info = parseCertificate(await out.Body!.transformToString());
    expect(info.dnsNames.sort()).toEqual([`*.${ELSEWHERE}`, ELSEWHERE]);
    expect(await txtRecords(DELEGATE)).toEqual([]);
    expect(await txtRecords(ELSEWHERE)).toEqual([]);
  });

  it('refuses a CNAME loop, naming the chain, and writes nothing', async () => {
    const from = `_acme-challenge.loop.${ELSEWHERE}`;
    await cname(ELSEWHERE, from, `a.${ELSEWHERE}`);
    await cname(ELSEWHERE, `a.${ELSEWHERE}`, from);
    await declareCertificate(inventory, {
      name: 'loop',
      identifiers: [`loop.${ELSEWHERE}`],
      profile: 'classic',
    });
    const outcome = await renewCertificate((await issuerRuntime()).renewDeps, 'loop');
    expect(outcome.status).toBe('failed');
    const error = outcome.status === 'failed' ? outcome.error : undefined;
    expect(error).toBeInstanceOf(ValidationError);
    expect(error?.message).toContain(`loops (${from} -> a.${ELSEWHERE} -> ${from})`);
    expect(await txtRecords(DELEGATE)).toEqual([]);
    expect(await txtRecords(ELSEWHERE)).toEqual([]);
  });

  it('refuses a CNAME into a zone certkeeper may not write, saying what to point it at', async () => {
    await cname(ELSEWHERE, `_acme-challenge.away.${ELSEWHERE}`, `_acme-challenge.away.nowhere-${id}.invalid`);
    await declareCertificate(inventory, {
      name: 'away',
      identifiers: [`away.${ELSEWHERE}`],
      profile: 'classic',
    });
    const outcome = await renewCertificate((await issuerRuntime()).renewDeps, 'away');
    expect(outcome.status).toBe('failed');
    const error = outcome.status === 'failed' ? outcome.error : undefined;
    expect(error).toBeInstanceOf(ValidationError);
    expect(error?.message).toContain(
      `_acme-challenge.away.${ELSEWHERE} is a CNAME to _acme-challenge.away.nowhere-${id}.invalid, which no Route53 hosted zone certkeeper may write holds`,
    );
    expect(error?.fix).toMatch(/hostedZones/);
    expect(await txtRecords(ELSEWHERE)).toEqual([]);
  });
});
