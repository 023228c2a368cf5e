/**
 * The ports of what agents read and write themselves, against every adapter:
 * - AgentInboxes on the fleet table (DynamoDB Local): the cheap poll follows every change,
 *   concurrent deliveries lose nothing, a removed inbox reads as absent;
 * - AgentReportStore on the fleet table and as objects (directory and S3 on moto): reports
 *   read back, unknown agents are set aside unread, damaged ones are set aside with why.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteTableCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentInboxes, InboxEntry } from '../../shared/agents/inbox.js';
import { DynamoAgentInboxes } from '../../shared/agents/inbox-dynamodb.js';
import { createFleetTable, reportKey } from '../../shared/dynamo/fleet-table.js';
import type { AgentReport } from '../../shared/fleet/report.js';
import type { AgentReportStore } from '../../shared/fleet/report-store.js';
import { DynamoAgentReports } from '../../shared/fleet/reports-dynamodb.js';
import { ObjectAgentReports } from '../../shared/fleet/reports-objects.js';
import { FsObjectStore } from '../../shared/store/fs-store.js';
import { S3ObjectStore } from '../../shared/store/s3-store.js';
import { dynamodbClient, s3Client, uniqueName } from '../../scripts/test-kit/peers.js';

const admin = dynamodbClient();
afterAll(() => admin.destroy());

async function fleetTable(): Promise<{ tableName: string; dispose(): Promise<void> }> {
  const tableName = uniqueName('fleet-contract');
  await createFleetTable(admin, tableName);
  return {
    tableName,
    dispose: async () => void (await admin.send(new DeleteTableCommand({ TableName: tableName }))),
  };
}

const entry = (serial: string): InboxEntry => ({
  serial,
  key: `agents/edge-1/deliveries/site/${serial}.json`,
  sha256: 'a'.repeat(64),
  sealedTo: 'b'.repeat(16),
  identifiers: ['site.example.test'],
  notBefore: '2026-12-01T00:00:00.000Z',
  notAfter: '2026-12-08T00:00:00.000Z',
});

const INBOX_ADAPTERS = [
  {
    name: 'DynamoAgentInboxes (DynamoDB Local)',
    async open(): Promise<{ inboxes: AgentInboxes; dispose(): Promise<void> }> {
      const table = await fleetTable();
      return {
        inboxes: new DynamoAgentInboxes({ client: admin, tableName: table.tableName }),
        dispose: table.dispose,
      };
    },
  },
];

describe.each(INBOX_ADAPTERS)('AgentInboxes contract: $name', (adapter) => {
  let inboxes: AgentInboxes;
  let dispose: () => Promise<void>;
  beforeAll(async () => {
    ({ inboxes, dispose } = await adapter.open());
  });
  afterAll(() => dispose());

  it('has no inbox (and no generation) for an agent nothing was delivered to', async () => {
    expect(await inboxes.generation('edge-1')).toBeUndefined();
    expect(await inboxes.get('edge-1')).toBeUndefined();
  });

  it('moves the generation with every change, and leaves it when nothing changes', async () => {
    const first = await inboxes.update('edge-1', () => ({ site: entry('01') }));
    expect(first).toMatchObject({ generation: 1, entries: { site: entry('01') } });
    expect(await inboxes.generation('edge-1')).toBe(1);
    expect(await inboxes.update('edge-1', () => undefined)).toBeUndefined();
    await inboxes.update('edge-1', (entries) => ({ ...entries, site: entry('02') }));
    expect(await inboxes.generation('edge-1')).toBe(2);
    expect((await inboxes.get('edge-1'))!.entries.site!.serial).toBe('02');
  });

  it('loses no entry to concurrent deliveries', async () => {
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        inboxes.update('edge-2', (entries) => ({ ...entries, [`cert-${i}`]: entry(`0${i}`) })),
      ),
    );
    const inbox = (await inboxes.get('edge-2'))!;
    expect(Object.keys(inbox.entries).sort()).toEqual(Array.from({ length: 8 }, (_, i) => `cert-${i}`));
    expect(inbox.generation).toBe(8);
  });

  it('lists every inbox, and forgets a removed one (its poll then answers nothing)', async () => {
    expect((await inboxes.list()).map((i) => i.agent)).toEqual(['edge-1', 'edge-2']);
    await inboxes.remove('edge-2');
    expect(await inboxes.generation('edge-2')).toBeUndefined();
    expect((await inboxes.list()).map((i) => i.agent)).toEqual(['edge-1']);
  });
});

const report = (agent: string, at: string): AgentReport => ({
  version: 1,
  agent,
  host: `${agent}.example.test`,
  agentVersion: '0.1.0',
  at,
  pollIntervalSeconds: 900,
  certificates: { site: { installedSerial: '01AB', lastAction: 'installed', checkedAt: at } },
});

const REPORT_ADAPTERS: {
  name: string;
  open(): Promise<{
    store: AgentReportStore;
    damage(agent: string): Promise<void>;
    dispose(): Promise<void>;
  }>;
}[] = [
  {
    name: 'DynamoAgentReports (DynamoDB Local)',
    async open() {
      const table = await fleetTable();
      return {
        store: new DynamoAgentReports({ client: admin, tableName: table.tableName }),
        damage: async (agent) => {
          await admin.send(
            new PutItemCommand({
              TableName: table.tableName,
              Item: { pk: { S: reportKey(agent) }, report: { S: '{"version":1,' } },
            }),
          );
        },
        dispose: table.dispose,
      };
    },
  },
  {
    name: 'ObjectAgentReports (directory)',
    async open() {
      const root = await mkdtemp(join(tmpdir(), 'certkeeper-reports-contract-'));
      const objects = new FsObjectStore({ root });
      return {
        store: new ObjectAgentReports(objects),
        damage: (agent) => objects.put(`agents/${agent}/report.json`, '{"version":1,'),
        dispose: () => rm(root, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'ObjectAgentReports (S3, moto)',
    async open() {
      const client = s3Client();
      const bucket = uniqueName('reports-contract').slice(0, 50);
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      const objects = new S3ObjectStore(client, { bucket });
      return {
        store: new ObjectAgentReports(objects),
        damage: (agent) => objects.put(`agents/${agent}/report.json`, '{"version":1,'),
        dispose: async () => client.destroy(),
      };
    },
  },
];

describe.each(REPORT_ADAPTERS)('AgentReportStore contract: $name', (adapter) => {
  let store: AgentReportStore;
  let damage: (agent: string) => Promise<void>;
  let dispose: () => Promise<void>;
  beforeAll(async () => {
    ({ store, damage, dispose } = await adapter.open());
  });
  afterAll(() => dispose());

  it('reads back the reports of known agents; a newer report replaces the older', async () => {
    await store.put(report('edge-1', '2026-12-01T00:00:00.000Z'));
    await store.put(report('edge-1', '2026-12-01T00:15:00.000Z'));
    await store.put(report('edge-2', '2026-12-01T00:05:00.000Z'));
    const read = await store.list(() => true);
    expect([...read.reports.keys()].sort()).toEqual(['edge-1', 'edge-2']);
    expect(read.reports.get('edge-1')!.at).toBe('2026-12-01T00:15:00.000Z');
    expect(read.ignored).toEqual([]);
  });

  it('sets aside, with the reason, the report of an agent it does not know and a damaged one', async () => {
    await damage('edge-3');
    const read = await store.list((agent) => agent !== 'edge-2');
    expect([...read.reports.keys()]).toEqual(['edge-1']);
    const reasons = Object.fromEntries(
      read.ignored.map((i) => [i.key.replace(/.*(edge-\d).*/, '$1'), i.reason]),
    );
    expect(reasons['edge-2']).toBe('agent "edge-2" is not in the registry and no certificate lists it');
    expect(reasons['edge-3']).toMatch(/is not JSON|is corrupt|not valid/);
  });

  it('forgets a removed agent', async () => {
    await store.remove('edge-1');
    expect([...(await store.list(() => true)).reports.keys()]).toEqual(['edge-2']);
  });
});
