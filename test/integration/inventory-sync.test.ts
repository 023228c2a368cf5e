/**
 * The deploy-time custom resource against DynamoDB Local: declared certificates are
 * written, removed ones retired (kept, out of the schedule), re-declared ones revived.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { handler } from '../../functions/inventory-sync.js';
import { customResourceEvent } from '../../scripts/stand-in-stack/pipeline.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import { ValidationError } from '../../shared/model/errors.js';
import { parseCertificateSpec } from '../../shared/model/spec.js';
import { createTable } from '../../shared/dynamo/table.js';
import { dynamodbClient, peers, uniqueName } from '../../scripts/test-kit/peers.js';

let inventory: DynamoInventory;

const web = parseCertificateSpec({ name: 'web-1', identifiers: ['203.0.113.10'] });
const site = parseCertificateSpec({ name: 'site', identifiers: ['example.com', '*.example.com'] });

beforeAll(async () => {
  const table = uniqueName('sync').slice(0, 40);
  await createTable(dynamodbClient(), table);
  Object.assign(process.env, {
    CERTKEEPER_TABLE: table,
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
    const out = await handler(customResourceEvent('Update', [web]));
    expect(out.Data).toEqual({ Declared: 1, Revived: 0, Retired: 1, Agents: 0 });
    const retired = await inventory.get('site');
    expect(retired?.state.status).toBe('retired');
    expect(retired?.state.dueAt).toBeUndefined();
    const due = await inventory.listDue(new Date(Date.now() + 1000));
    expect(due.records.map((r) => r.spec.name)).toEqual(['web-1']);
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
