/**
 * ACM as a delivery target, through the real handlers and peers: Pebble issues (dns-01
 * through Route53 in moto), the issuer imports into ACM in moto in two regions, re-imports
 * into the same ARN on renewal with the serial tag brought up to date, and a failed import
 * (ACM unreachable) is recorded and retried by a later pass without a second order.
 */
import {
  ACMClient,
  DeleteCertificateCommand,
  DescribeCertificateCommand,
  GetCertificateCommand,
  ListCertificatesCommand,
  ListTagsForCertificateCommand,
} from '@aws-sdk/client-acm';
import { forcedRenewal } from '../../shared/queue/queue.js';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIssuerRuntime } from '../../composition/aws-issuer.js';
import { handler as fleet } from '../../functions/fleet.js';
import { handler as issuer } from '../../functions/issuer.js';
import { declareCertificate } from '../../shared/usecases/declare-certificates.js';
import { deliverToAcm } from '../../shared/delivery/acm-delivery.js';
import { ACM_TAG_CERTIFICATE, ACM_TAG_SERIAL, SdkAcmImporter } from '../../shared/delivery/acm.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import { ManualClock, MINUTE } from '../../shared/model/clock.js';
import type { CertificateEvent } from '../../shared/model/event.js';
import type { Log } from '../../shared/model/log.js';
import type { CertificateState } from '../../shared/model/state.js';
import { parseCertificate } from '../../shared/pki/index.js';
import { dueReason } from '../../shared/renewal/policy.js';
import type { Manifest } from '../../shared/store/store.js';
import { receiveAll, runTick, sqsEvent } from '../../scripts/stand-in-stack/pipeline.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { certkeeper, json } from '../../scripts/test-kit/operator.js';
import { peers, uniqueName } from '../../scripts/test-kit/peers.js';
import { pointHandlersAt, recordAcmeRequests, useStandInStack } from '../../scripts/test-kit/stack.js';

/** Unique per run: moto's ACM outlives a run when the peers were started by hand. */
const NAME = uniqueName('acm');
const REGIONS = ['us-east-1', 'eu-west-1'];
/** Nothing listens on port 1: what an ACM endpoint out of reach looks like to the SDK. */
const DEAD_ENDPOINT = 'http://127.0.0.1:1';

const clock = new ManualClock(Date.now());
const random = () => 0.5; // backoff without jitter: 1 minute after the first failure
const acmeRequests = recordAcmeRequests();
let stack: StandInStack;
let inventory: DynamoInventory;

const acm = (region: string, endpoint = peers().motoEndpoint) =>
  new ACMClient({ region, endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const state = async (): Promise<CertificateState> => (await inventory.get(NAME))!.state;
const getText = async (key: string): Promise<string> => {
  const out = await stack.clients.s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: key }));
  return out.Body!.transformToString();
};
const manifest = async (): Promise<Manifest> =>
  JSON.parse(await getText(`certificates/${NAME}/current.json`)) as Manifest;
const tagsOf = async (region: string, arn: string): Promise<Record<string, string | undefined>> => {
  const out = await acm(region).send(new ListTagsForCertificateCommand({ CertificateArn: arn }));
  return Object.fromEntries((out.Tags ?? []).map((t) => [t.Key!, t.Value]));
};
/** The ACM certificates in a region tagged as this test's certificate. */
const importedIn = async (region: string): Promise<string[]> => {
  const out = await acm(region).send(new ListCertificatesCommand({}));
  const arns = (out.CertificateSummaryList ?? []).map((c) => c.CertificateArn!);
  const ours = await Promise.all(
    arns.map(async (arn) => (await tagsOf(region, arn))[ACM_TAG_CERTIFICATE] === NAME),
  );
  return arns.filter((_, i) => ours[i]);
};
const events = async (): Promise<CertificateEvent[]> =>
  (await receiveAll(stack.clients.sqs, stack.tapQueueUrl)).map(
    (m) => JSON.parse(m.Body!) as CertificateEvent,
  );

beforeAll(async () => {
  stack = await useStandInStack('acm', ['acm.test']);
  inventory = new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table });
  await declareCertificate(inventory, {
    name: NAME,
    identifiers: ['www.acm.test'],
    profile: 'shortlived',
    acmRegions: REGIONS,
  });
});

afterAll(() => {
  delete process.env.AWS_ENDPOINT_URL_ACM;
  stack.clients.s3.destroy();
});

describe('ACM delivery', () => {
  let first: { serial: string; arns: Record<string, string> };

  it('issues even when ACM is out of reach, and records the failed import per region', async () => {
    clock.set(Date.now());
    pointHandlersAt({ ...stack.env, AWS_ENDPOINT_URL_ACM: DEAD_ENDPOINT }, { clock, random });
    const tick = await runTick(stack.clients.sqs, stack.queueUrl);
    expect(tick.scheduled.enqueued).toEqual([NAME]);
    expect(tick.issuer.batchItemFailures).toEqual([]);

    const s = await state();
    const stored = await manifest();
    // The renewal itself succeeded and its certificate is current.
    expect(s).toMatchObject({ status: 'valid', attempts: 0, current: { serial: stored.serial } });
    expect(s.lastError).toBeUndefined();
    const at = clock.now().toISOString();
    for (const region of REGIONS) {
      expect(s.acm?.[region]).toEqual({
        error: expect.stringContaining('127.0.0.1:1') as unknown,
        attemptedAt: at,
        failures: 1,
        retryAt: new Date(clock.now().getTime() + MINUTE).toISOString(),
      });
      expect(s.acm?.[region]?.error).toMatch(/ACM ImportCertificate .*unreachable/);
    }
    // Due again when the import may be retried, for that reason, not for a renewal.
    expect(s.dueAt).toBe(new Date(clock.now().getTime() + MINUTE).toISOString());
    expect(JSON.stringify(s)).not.toContain('PRIVATE KEY');
    expect((await events()).map((e) => e.type)).toEqual(['certificate.issued']);
    for (const region of REGIONS) expect(await importedIn(region)).toEqual([]);
  });

  it('retries on a later pass, once the backoff is over: imports into each region, no second order', async () => {
    delete process.env.AWS_ENDPOINT_URL_ACM;
    pointHandlersAt(stack.env, { clock, random }); // a cold start that reaches ACM (moto)
    const orders = acmeRequests.count('/order-plz');

    // Before the retry time the certificate is not due at all.
    expect((await runTick(stack.clients.sqs, stack.queueUrl)).scheduled.enqueued).toEqual([]);
    clock.advance(MINUTE + 1000);
    const before = await inventory.get(NAME);
    expect(dueReason(before!.spec, before!.state, clock.now())).toBe('acm-import');
    const tick = await runTick(stack.clients.sqs, stack.queueUrl);
    expect(tick.scheduled.enqueued).toEqual([NAME]);
    expect(acmeRequests.count('/order-plz')).toBe(orders);

    const s = await state();
    const stored = await manifest();
    const leaf = await getText(stored.files.cert.key);
    const at = clock.now().toISOString();
    first = { serial: stored.serial, arns: {} };
    for (const region of REGIONS) {
      const entry = s.acm![region]!;
      expect(entry).toEqual({
        arn: entry.arn,
        serial: stored.serial,
        keyType: 'ecdsa-p256',
        importedAt: at,
        attemptedAt: at,
      });
      expect(entry.arn).toMatch(new RegExp(`^arn:aws:acm:${region}:\\d{12}:certificate/`));
      first.arns[region] = entry.arn!;
      expect(await importedIn(region)).toEqual([entry.arn]);
      const got = await acm(region).send(new GetCertificateCommand({ CertificateArn: entry.arn }));
      expect(got.Certificate?.trim()).toBe(leaf.trim());
      const described = await acm(region).send(new DescribeCertificateCommand({ CertificateArn: entry.arn }));
      expect(described.Certificate).toMatchObject({
        Type: 'IMPORTED',
        SubjectAlternativeNames: ['www.acm.test'],
      });
      expect(BigInt(described.Certificate!.Serial!)).toBe(BigInt(`0x${stored.serial}`));
      expect(await tagsOf(region, entry.arn!)).toEqual({
        [ACM_TAG_CERTIFICATE]: NAME,
        [ACM_TAG_SERIAL]: stored.serial,
      });
    }
    // Nothing ACM-related is due any more.
    expect(new Date(s.dueAt!).getTime()).toBeGreaterThan(clock.now().getTime());
    expect(dueReason((await inventory.get(NAME))!.spec, s, clock.now())).toBeUndefined();
    // An import is not an event of its own: subscribers heard of the certificate already.
    expect(await events()).toEqual([]);
  });

  it('a renewal re-imports into the same ARN in each region, and the tags carry the new serial', async () => {
    clock.advance(MINUTE);
    const response = await issuer(
      sqsEvent([{ MessageId: 'renew', Body: JSON.stringify(forcedRenewal(NAME, clock.now())) }]),
    );
    expect(response.batchItemFailures).toEqual([]);
    const s = await state();
    const stored = await manifest();
    expect(stored.serial).not.toBe(first.serial);
    expect(s.current?.serial).toBe(stored.serial);
    const leaf = await getText(stored.files.cert.key);
    for (const region of REGIONS) {
      expect(s.acm?.[region]).toMatchObject({ arn: first.arns[region], serial: stored.serial });
      expect(s.acm?.[region]?.error).toBeUndefined();
      expect(await importedIn(region)).toEqual([first.arns[region]]);
      const got = await acm(region).send(new GetCertificateCommand({ CertificateArn: first.arns[region] }));
      expect(parseCertificate(got.Certificate!).serialHex).toBe(stored.serial);
      expect(got.Certificate?.trim()).toBe(leaf.trim());
      expect(await tagsOf(region, first.arns[region]!)).toEqual({
        [ACM_TAG_CERTIFICATE]: NAME,
        [ACM_TAG_SERIAL]: stored.serial,
      });
    }
    expect((await events()).map((e) => e.type)).toEqual(['certificate.renewed']);

    // The fleet view reports each region like a server, and `certkeeper status` shows it.
    await fleet();
    const status = await certkeeper(['status', NAME, '--json'], stack.env);
    const targets = json<{
      targets: { kind: string; id: string; health: string; installedSerial: string }[];
    }>(status).targets;
    expect(targets.map((t) => [t.kind, t.id, t.health, t.installedSerial]).sort()).toEqual(
      REGIONS.map((r) => ['acm', r, 'ok', stored.serial]).sort(),
    );
    const table = await certkeeper(['status', NAME], stack.env);
    for (const region of REGIONS) expect(table.stdout).toMatch(new RegExp(`acm ${region}\\s+ok`));
  });

  it('an ACM certificate deleted by hand is imported anew on the next renewal', async () => {
    const gone = first.arns['eu-west-1']!;
    await acm('eu-west-1').send(new DeleteCertificateCommand({ CertificateArn: gone }));
    clock.advance(MINUTE);
    await issuer(sqsEvent([{ MessageId: 'again', Body: JSON.stringify(forcedRenewal(NAME, clock.now())) }]));
    const s = await state();
    const fresh = s.acm!['eu-west-1']!;
    expect(fresh.arn).toBeDefined();
    expect(fresh.arn).not.toBe(gone);
    expect(fresh).toMatchObject({ serial: s.current!.serial });
    expect(await importedIn('eu-west-1')).toEqual([fresh.arn]);
    // The other region followed in place.
    expect(s.acm!['us-east-1']).toMatchObject({ arn: first.arns['us-east-1'], serial: s.current!.serial });
    await events();
  });

  it('a changed key type is imported as a new ACM certificate (ACM re-imports only the same key type)', async () => {
    const before = (await state()).acm!;
    await declareCertificate(inventory, {
      name: NAME,
      identifiers: ['www.acm.test'],
      profile: 'shortlived',
      keyType: 'rsa2048',
      acmRegions: REGIONS,
    });
    clock.advance(MINUTE);
    const tick = await runTick(stack.clients.sqs, stack.queueUrl); // the spec change reissues
    expect(tick.issuer.batchItemFailures).toEqual([]);
    const s = await state();
    for (const region of REGIONS) {
      const entry = s.acm![region]!;
      expect(entry).toMatchObject({ serial: s.current!.serial, keyType: 'rsa2048' });
      expect(entry.arn).not.toBe(before[region]!.arn);
      const described = await acm(region).send(new DescribeCertificateCommand({ CertificateArn: entry.arn }));
      expect(described.Certificate?.KeyAlgorithm).toBe('RSA_2048');
      // The old one stays as it was (listeners on it must be re-pointed), still certkeeper's.
      expect((await importedIn(region)).sort()).toEqual([before[region]!.arn, entry.arn].sort());
    }
    await events();
  });
});

describe('deliverToAcm with one region out of reach', () => {
  it('imports where it can and records the failure where it cannot; neither waits for the other', async () => {
    const rt = buildIssuerRuntime(stack.env, { clock, random });
    const record = (await inventory.get(NAME))!;
    const warnings: string[] = [];
    const log: Log = { ...rt.log, warn: (message) => warnings.push(message), info() {} };
    const importer = new SdkAcmImporter({
      clientFor: (region) => acm(region, region === 'eu-west-1' ? DEAD_ENDPOINT : peers().motoEndpoint),
    });
    // Both regions pending: as if the current serial had never been imported anywhere.
    const pending: CertificateState = { ...record.state, acm: undefined };
    const next = await deliverToAcm(
      { acm: importer, store: rt.renewDeps.store, log, random },
      record.spec,
      pending,
      clock.now(),
      { fresh: true },
    );
    expect(next.acm?.['us-east-1']).toMatchObject({ serial: record.state.current!.serial });
    expect(next.acm?.['us-east-1']?.error).toBeUndefined();
    expect(next.acm?.['eu-west-1']).toMatchObject({
      failures: 1,
      error: expect.stringMatching(/unreachable/),
    });
    expect(next.acm?.['eu-west-1']?.serial).toBeUndefined();
    expect(next.current).toEqual(record.state.current);
    expect(warnings).toEqual(['ACM import failed; the certificate in place is unaffected']);
  });
});
