/**
 * The whole trip through the real handlers and the real peers: EventBridge event ->
 * scheduler -> SQS -> issuer -> Pebble (http-01 through S3, dns-01 through Route53) ->
 * S3 manifest and files -> SNS -> an SQS subscriber.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as issuer } from '../../functions/issuer.js';
import { handler as scheduler } from '../../functions/scheduler.js';
import type { InventoryStats } from '../../shared/usecases/inventory-stats.js';
import { declareCertificate } from '../../shared/usecases/declare-certificates.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import type { CertificateEvent } from '../../shared/model/event.js';
import { keyMatchesCertificate, parseCertificate, verifyChain } from '../../shared/pki/index.js';
import type { Manifest } from '../../shared/store/store.js';
import { S3ObjectStore } from '../../shared/store/s3-store.js';
import { receiveAll, runTick, sqsEvent } from '../../scripts/stand-in-stack/pipeline.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { pebbleRoots } from '../../scripts/test-kit/peers.js';
import {
  listKeys,
  pointHandlersAt,
  recordAcmeRequests,
  serveHttp01OnPebblePort,
  useStandInStack,
} from '../../scripts/test-kit/stack.js';

const SHORTLIVED_SECONDS = 576_000;

let stack: StandInStack;
let inventory: DynamoInventory;
const acmeRequests = recordAcmeRequests();

async function getText(key: string): Promise<string> {
  const out = await stack.clients.s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: key }));
  return out.Body!.transformToString();
}

async function manifestOf(name: string): Promise<Manifest> {
  return JSON.parse(await getText(`certificates/${name}/current.json`)) as Manifest;
}

/** Runs one tick while this file serves http-01 from S3 on Pebble's (shared) http port. */
async function tickServingHttp01() {
  const responder = await serveHttp01OnPebblePort(
    new S3ObjectStore(stack.clients.s3, { bucket: stack.bucket }),
  );
  try {
    return await runTick(stack.clients.sqs, stack.queueUrl);
  } finally {
    await responder.close();
  }
}

beforeAll(async () => {
  stack = await useStandInStack('pipeline', ['example.test']);
  inventory = new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table });
  await declareCertificate(inventory, { name: 'ip-local', identifiers: ['127.0.0.1'] });
  await declareCertificate(inventory, {
    name: 'wild',
    identifiers: ['example.test', '*.example.test'],
    profile: 'classic',
  });
});

afterAll(() => {
  stack.clients.s3.destroy();
});

describe('one scheduler tick through the handlers', () => {
  let tick: Awaited<ReturnType<typeof runTick>>;
  let events: CertificateEvent[];

  beforeAll(async () => {
    tick = await tickServingHttp01();
    events = (await receiveAll(stack.clients.sqs, stack.tapQueueUrl)).map(
      (m) => JSON.parse(m.Body!) as CertificateEvent,
    );
  });

  it('queues both declared certificates and the issuer handles every message', () => {
    expect(tick.scheduled.enqueued.sort()).toEqual(['ip-local', 'wild']);
    expect(tick.issuer.batchItemFailures).toEqual([]);
  });

  it('issues the IP certificate on shortlived: IP SAN, no CN, exactly 160 h, verifiable chain', async () => {
    const manifest = await manifestOf('ip-local');
    expect(manifest.profile).toBe('shortlived');
    const cert = await getText(manifest.files.cert.key);
    const info = parseCertificate(cert);
    expect(info.ipAddresses).toEqual(['127.0.0.1']);
    expect(info.dnsNames).toEqual([]);
    expect(info.hasCommonName).toBe(false);
    expect((info.notAfter.getTime() - info.notBefore.getTime()) / 1000 + 1).toBe(SHORTLIVED_SECONDS);
    expect(manifest.serial).toBe(info.serialHex);

    const chain = await getText(manifest.files.chain.key);
    const { root } = await pebbleRoots();
    verifyChain(cert, [chain], [root], new Date());
    // And an independent verifier: openssl, with Pebble's root from the management API.
    const dir = mkdtempSync(join(tmpdir(), 'certkeeper-verify-'));
    writeFileSync(join(dir, 'root.pem'), root);
    writeFileSync(join(dir, 'chain.pem'), chain);
    writeFileSync(join(dir, 'cert.pem'), cert);
    const verdict = execFileSync('openssl', [
      'verify',
      '-CAfile',
      join(dir, 'root.pem'),
      '-untrusted',
      join(dir, 'chain.pem'),
      join(dir, 'cert.pem'),
    ]).toString();
    expect(verdict.trim()).toBe(`${join(dir, 'cert.pem')}: OK`);

    const privkey = await getText(manifest.files.privkey.key);
    expect(keyMatchesCertificate(privkey, cert)).toBe(true);
  });

  it('issues the wildcard certificate over dns-01 and leaves no TXT record behind', async () => {
    const manifest = await manifestOf('wild');
    const info = parseCertificate(await getText(manifest.files.cert.key));
    expect(info.dnsNames.sort()).toEqual(['*.example.test', 'example.test']);
    const records = await stack.clients.route53.send(
      new ListResourceRecordSetsCommand({ HostedZoneId: stack.zoneIds['example.test'] }),
    );
    expect(records.ResourceRecordSets?.filter((r) => r.Type === 'TXT')).toEqual([]);
  });

  it('stores each serial under its own prefix and the manifest last, with matching hashes', async () => {
    for (const name of ['ip-local', 'wild']) {
      const manifest = await manifestOf(name);
      const keys = await listKeys(stack, `certificates/${name}/`);
      expect(keys).toEqual(
        [
          `certificates/${name}/${manifest.serial}/cert.pem`,
          `certificates/${name}/${manifest.serial}/chain.pem`,
          `certificates/${name}/${manifest.serial}/fullchain.pem`,
          `certificates/${name}/${manifest.serial}/privkey.pem`,
          `certificates/${name}/current.json`,
          // No pending/order-key.json: the key kept for crash resume went once the state was written.
        ].sort(),
      );
      const { createHash } = await import('node:crypto');
      for (const file of Object.values(manifest.files)) {
        expect(
          createHash('sha256')
            .update(await getText(file.key))
            .digest('hex'),
        ).toBe(file.sha256);
      }
    }
  });

  it('publishes certificate.issued to SNS subscribers with name, serial, notAfter and manifest key', async () => {
    const issued = events
      .filter((e) => e.type === 'certificate.issued')
      .sort((a, b) => a.certificate.localeCompare(b.certificate));
    expect(issued.map((e) => e.certificate)).toEqual(['ip-local', 'wild']);
    for (const event of issued) {
      const manifest = await manifestOf(event.certificate);
      expect(event).toMatchObject({
        serial: manifest.serial,
        notAfter: manifest.notAfter,
        manifestKey: `certificates/${event.certificate}/current.json`,
        bucket: stack.bucket,
      });
      expect(JSON.stringify(event)).not.toMatch(/PRIVATE KEY/);
    }
  });

  it('records the issued certificate in the inventory', async () => {
    const record = await inventory.get('ip-local');
    const manifest = await manifestOf('ip-local');
    expect(record?.state).toMatchObject({
      status: 'valid',
      attempts: 0,
      current: { serial: manifest.serial, notAfter: manifest.notAfter },
    });
  });

  it('registered one ACME account, stored encrypted under accounts/', async () => {
    expect(acmeRequests.count('/sign-me-up')).toBe(1);
    const accounts = await listKeys(stack, 'accounts/');
    expect(accounts).toHaveLength(1);
  });

  it('reuses the stored account after a cold start: no second registration reaches Pebble', async () => {
    await declareCertificate(inventory, { name: 'ip-second', identifiers: ['127.0.0.1'] });
    pointHandlersAt(stack.env); // a new runtime: nothing cached in memory
    const before = acmeRequests.count('/sign-me-up');
    const ordersBefore = acmeRequests.count('/order-plz');
    const second = await tickServingHttp01();
    expect(second.scheduled.enqueued).toEqual(['ip-second']);
    expect(acmeRequests.count('/order-plz')).toBe(ordersBefore + 1);
    expect(acmeRequests.count('/sign-me-up')).toBe(before);
    expect(await listKeys(stack, 'accounts/')).toHaveLength(1);
  });

  it('the hourly stats run counts certificates by status and finds the nearest expiry', async () => {
    const stats = (await scheduler({ action: 'stats' })) as InventoryStats;
    expect(stats.byStatus).toMatchObject({ valid: 3, pending: 0, failing: 0 });
    const soonest = (await inventory.list()).reduce((a, b) =>
      a.state.current!.notAfter <= b.state.current!.notAfter ? a : b,
    );
    expect(stats.soonest).toBe(soonest.spec.name);
    const hours = (Date.parse(soonest.state.current!.notAfter) - Date.now()) / 3_600_000;
    expect(Math.abs(stats.minHoursToExpiry! - hours)).toBeLessThan(0.1);
  });

  it('leaves certificates that are not due alone on the next tick', async () => {
    const again = await runTick(stack.clients.sqs, stack.queueUrl);
    expect(again.scheduled).toMatchObject({ checked: 0, itemsRead: 0, enqueued: [] });
  });
});

describe('the issuer with a batch holding a malformed message', () => {
  it('reports only the malformed message as failed; the rest succeed', async () => {
    const response = await issuer(
      sqsEvent([
        { MessageId: 'bad-json', Body: 'not json' },
        { MessageId: 'bad-shape', Body: JSON.stringify({ cert: 'wild' }) },
        { MessageId: 'good', Body: JSON.stringify({ certificate: 'wild' }) },
      ]),
    );
    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(['bad-json', 'bad-shape']);
  });
});
