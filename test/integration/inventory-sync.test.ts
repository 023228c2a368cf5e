/**
 * The deploy-time custom resource against DynamoDB Local and moto's S3: declared
 * certificates are written, removed ones retired (kept, out of the schedule, only the key
 * kept for an unfinished order deleted), re-declared ones revived.
 */
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand, GetPublicKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoAgentRegistry } from '../../shared/agents/dynamodb.js';
import { newAgentRecord } from '../../shared/agents/records.js';
import { exampleConfigInput, synth } from '../support/synth.js';
import { handler } from '../../functions/inventory-sync.js';
import { customResourceEvent } from '../../scripts/stand-in-stack/pipeline.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import { ValidationError } from '../../shared/model/errors.js';
import { parseCertificateSpec } from '../../shared/model/spec.js';
import { createTable } from '../../shared/dynamo/table.js';
import { dynamodbClient, peers, s3Client, uniqueName } from '../../scripts/test-kit/peers.js';

let inventory: DynamoInventory;
let bucket: string;
const s3 = s3Client();
const objectKeys = async (prefix: string) =>
  ((await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))).Contents ?? []).map(
    (o) => o.Key,
  );

const web = parseCertificateSpec({ name: 'web-1', identifiers: ['203.0.113.10'] });
const site = parseCertificateSpec({ name: 'site', identifiers: ['example.com', '*.example.com'] });

beforeAll(async () => {
  const table = uniqueName('sync').slice(0, 40);
  await createTable(dynamodbClient(), table);
  bucket = uniqueName('sync');
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  Object.assign(process.env, {
    CERTKEEPER_TABLE: table,
    CERTKEEPER_BUCKET: bucket,
    CERTKEEPER_S3_FORCE_PATH_STYLE: 'true',
    AWS_ENDPOINT_URL_S3: peers().motoEndpoint,
    AWS_ENDPOINT_URL_DYNAMODB: peers().dynamodbEndpoint,
    POWERTOOLS_LOG_LEVEL: 'ERROR',
  });
  inventory = new DynamoInventory({ client: dynamodbClient(), tableName: table });
});

describe('inventory sync on deploy', () => {
  it('declares every certificate of the config, due at once', async () => {
    const out = await handler(customResourceEvent('Create', [web, site]));
    expect(out).toEqual({
      PhysicalResourceId: 'certkeeper-inventory',
      Data: { Declared: 2, Revived: 0, Retired: 0, Agents: 0 },
    });
    expect((await inventory.get('web-1'))?.spec).toEqual(web);
    const due = await inventory.listDue(new Date(Date.now() + 1000));
    expect(due.records.map((r) => r.spec.name).sort()).toEqual(['site', 'web-1']);
  });

  it('retires a certificate removed from the config, keeping it, out of the schedule', async () => {
    // Its files, and the key an order cut off after finalize left behind.
    for (const key of ['certificates/site/0a1b/cert.pem', 'certificates/site/pending/order-key.json']) {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'stand-in, not a key' }));
    }
    const out = await handler(customResourceEvent('Update', [web]));
    expect(out.Data).toEqual({ Declared: 1, Revived: 0, Retired: 1, Agents: 0 });
    const retired = await inventory.get('site');
    expect(retired?.state.status).toBe('retired');
    expect(retired?.state.dueAt).toBeUndefined();
    const due = await inventory.listDue(new Date(Date.now() + 1000));
    expect(due.records.map((r) => r.spec.name)).toEqual(['web-1']);
    // The kept key goes (its order is never resumed); the certificate's files stay.
    expect(await objectKeys('certificates/site/')).toEqual(['certificates/site/0a1b/cert.pem']);
    // A second deploy of the same config changes nothing.
    expect((await handler(customResourceEvent('Update', [web]))).Data).toEqual({
      Declared: 1,
      Revived: 0,
      Retired: 0,
      Agents: 0,
    });
  });

  it('brings a retired certificate back when it is declared again', async () => {
    const out = await handler(customResourceEvent('Update', [web, site]));
    expect(out.Data).toEqual({ Declared: 2, Revived: 1, Retired: 0, Agents: 0 });
    expect((await inventory.get('site'))?.state).toMatchObject({ status: 'pending', attempts: 0 });
  });

  it('keeps the delivery targets the config declared (agents, probes, ACM regions), without a reissue', async () => {
    const delivered = {
      ...web,
      delivery: {
        agents: ['web-1', 'edge-2'],
        probes: [{ host: '203.0.113.10', port: 443 }],
        acmRegions: ['us-east-1'],
      },
    };
    const before = (await inventory.get('web-1'))!.state;
    await handler(customResourceEvent('Update', [delivered, site]));
    const after = await inventory.get('web-1');
    expect(after?.spec.delivery).toEqual(delivered.delivery);
    // Where it is delivered is not what it is: the state (due time, attempts) is untouched.
    expect(after?.state).toEqual(before);
    await handler(customResourceEvent('Update', [web, site]));
    expect((await inventory.get('web-1'))?.spec.delivery).toBeUndefined();
  });

  it('changes nothing when the stack is deleted', async () => {
    await handler(customResourceEvent('Delete', []));
    expect((await inventory.list()).map((r) => [r.spec.name, r.state.status])).toEqual([
      ['site', 'pending'],
      ['web-1', 'pending'],
    ]);
  });

  it('refuses a malformed property, naming it', async () => {
    const error = await handler(
      customResourceEvent('Update', [{ name: 'bad', identifiers: ['2001:db8:0:0::1'] }]),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('Certificates[0].identifiers[0]');
  });
});

describe('agents declared in the deployment config (the upgrade from per-agent stack resources)', () => {
  it("carries today's config agents into the registry, pending until each server joins; removes the ones dropped", async () => {
    // The template a deploy of today's config makes: its agents ride in the inventory resource.
    const input = exampleConfigInput();
    const template = synth(input).template.toJSON() as {
      Resources: Record<string, { Type: string; Properties: Record<string, string> }>;
    };
    const [properties] = Object.values(template.Resources)
      .filter((r) => r.Type === 'Custom::CertkeeperInventory')
      .map((r) => r.Properties);
    const registry = new DynamoAgentRegistry({
      client: dynamodbClient(),
      tableName: process.env.CERTKEEPER_TABLE!,
    });
    // An agent an operator added at run time: a redeploy leaves it alone.
    await registry.update('added-by-cli', () =>
      newAgentRecord('added-by-cli', { certificates: [], labels: { role: 'edge' } }, 'cli', new Date()),
    );

    const out = await handler(
      customResourceEvent('Update', JSON.parse(properties!.Certificates!), {
        properties: { AgentsGzip: properties!.AgentsGzip! },
      }),
    );
    expect(out.Data).toMatchObject({ Agents: 2 });
    const listed = (await registry.list()).map(
      (a) => `${a.name} ${a.status} ${a.source} ${a.selector.certificates.join('+')}`,
    );
    expect(listed).toEqual([
      'added-by-cli pending cli ',
      'proxy pending config site',
      'web-1 pending config web-1',
    ]);

    // The next deploy without proxy: removed (kept, shown as removed); the CLI's agent untouched.
    const fewer = synth({
      ...input,
      agents: [{ name: 'web-1', certificates: ['web-1'] }],
    }).template.toJSON() as typeof template;
    const [next] = Object.values(fewer.Resources)
      .filter((r) => r.Type === 'Custom::CertkeeperInventory')
      .map((r) => r.Properties);
    await handler(
      customResourceEvent('Update', JSON.parse(next!.Certificates!), {
        properties: { AgentsGzip: next!.AgentsGzip! },
      }),
    );
    expect((await registry.get('proxy'))!.status).toBe('removed');
    expect((await registry.get('added-by-cli'))!.status).toBe('pending');
    expect((await registry.get('web-1'))!.status).toBe('pending');
  });
});

describe("the agents' CA on deploy", () => {
  it('signs its certificate with the KMS key, which never leaves KMS, and openssl verifies it', async () => {
    const kms = new KMSClient({
      endpoint: peers().motoEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    const key = await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }));
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: peers().motoEndpoint,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    });
    const out = await handler(
      customResourceEvent('Create', [], {
        resourceType: 'Custom::CertkeeperAgentCa',
        properties: { KeyId: key.KeyMetadata!.Arn!, CommonName: 'certkeeper agents Test' },
      }),
    );
    const pem = String(out.Data!.CertificatePem);
    const dir = mkdtempSync(join(tmpdir(), 'certkeeper-agent-ca-'));
    try {
      writeFileSync(join(dir, 'ca.pem'), pem);
      const verified = spawnSync('openssl', ['verify', '-CAfile', join(dir, 'ca.pem'), join(dir, 'ca.pem')], {
        encoding: 'utf8',
      });
      expect(`${verified.stdout}${verified.stderr}`).toContain('ca.pem: OK');
      const cert = new X509Certificate(pem);
      expect(cert.subject).toBe('O=certkeeper\nCN=certkeeper agents Test');
      expect(cert.ca).toBe(true);
      const spki = (await kms.send(new GetPublicKeyCommand({ KeyId: key.KeyMetadata!.KeyId }))).PublicKey!;
      expect(cert.publicKey.export({ type: 'spki', format: 'der' }).equals(Buffer.from(spki))).toBe(true);
      expect(out.PhysicalResourceId).toBe(
        `certkeeper-agent-ca-${cert.serialNumber.toLowerCase().replace(/^0+/, '')}`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
      kms.destroy();
    }
  });
});
