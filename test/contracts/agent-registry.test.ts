/**
 * The AgentRegistry contract, against every adapter: local mode's directory and DynamoDB
 * Local (the stack's table, whose conditional writes are the ones a deployed registry gets).
 * What the use cases rely on: a record reads back as written, removed agents stay listed,
 * a change is never lost to a concurrent one, and a refusal thrown by `change` reaches the
 * caller with nothing written. A new adapter passes by adding one entry to ADAPTERS.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteTableCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoAgentRegistry } from '../../shared/agents/dynamodb.js';
import { FileAgentRegistry } from '../../shared/agents/file.js';
import { newAgentRecord, removedRecord, withEnrolmentToken } from '../../shared/agents/records.js';
import type { AgentRegistry } from '../../shared/agents/registry.js';
import { createTable } from '../../shared/dynamo/table.js';
import { IntegrityError } from '../../shared/model/errors.js';
import { dynamodbClient, uniqueName } from '../../scripts/test-kit/peers.js';

interface RegistryAdapter {
  name: string;
  open(): Promise<{
    registry: AgentRegistry;
    corrupt(name: string): Promise<void>;
    dispose(): Promise<void>;
  }>;
}

const admin = dynamodbClient();
afterAll(() => admin.destroy());

const ADAPTERS: RegistryAdapter[] = [
  {
    name: 'FileAgentRegistry',
    async open() {
      const dir = await mkdtemp(join(tmpdir(), 'certkeeper-registry-contract-'));
      return {
        registry: new FileAgentRegistry({ dir }),
        corrupt: (name) => writeFile(join(dir, `${name}.json`), '{"version": 1, "name": '),
        dispose: () => rm(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'DynamoAgentRegistry (DynamoDB Local)',
    async open() {
      const tableName = uniqueName('registry-contract');
      await createTable(admin, tableName);
      return {
        registry: new DynamoAgentRegistry({ client: admin, tableName }),
        corrupt: async (name) => {
          await admin.send(
            new PutItemCommand({
              TableName: tableName,
              Item: { pk: { S: `agent#${name}` }, record: { S: '{"version":1}' } },
            }),
          );
        },
        dispose: async () => {
          await admin.send(new DeleteTableCommand({ TableName: tableName }));
        },
      };
    },
  },
];

const T0 = new Date('2026-12-01T00:00:00Z');
const edge = { certificates: [], labels: { role: 'edge' } };

describe.each(ADAPTERS)('AgentRegistry contract: $name', (adapter) => {
  let registry: AgentRegistry;
  let corrupt: (name: string) => Promise<void>;
  let dispose: () => Promise<void>;
  beforeAll(async () => {
    ({ registry, corrupt, dispose } = await adapter.open());
  });
  afterAll(() => dispose());

  it('reads an absent agent as undefined, and a written one back as written', async () => {
    expect(await registry.get('nobody')).toBeUndefined();
    const record = withEnrolmentToken(
      newAgentRecord('web-7', edge, 'cli', T0),
      'a'.repeat(64),
      T0,
      new Date(T0.getTime() + 3600_000),
    );
    expect(await registry.update('web-7', () => record)).toEqual(record);
    expect(await registry.get('web-7')).toEqual(record);
  });

  it('lists every agent sorted by name, removed ones included', async () => {
    await registry.update('alpha', () => newAgentRecord('alpha', edge, 'config', T0));
    await registry.update('zulu', () => removedRecord(newAgentRecord('zulu', edge, 'cli', T0), T0));
    const names = (await registry.list()).map((a) => `${a.name}:${a.status}`);
    expect(names).toEqual(['alpha:pending', 'web-7:pending', 'zulu:removed']);
  });

  it('writes nothing when change returns undefined, and passes a refusal through with nothing written', async () => {
    const before = await registry.get('alpha');
    expect(await registry.update('alpha', () => undefined)).toBeUndefined();
    await expect(
      registry.update('alpha', () => {
        throw new Error('refused: token used');
      }),
    ).rejects.toThrow('refused: token used');
    expect(await registry.get('alpha')).toEqual(before);
  });

  it('loses no change to a concurrent one: ten writers each add their label', async () => {
    await registry.update('busy', () =>
      newAgentRecord('busy', { certificates: ['x'], labels: {} }, 'cli', T0),
    );
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        registry.update('busy', (stored) => ({
          ...stored!,
          selector: { ...stored!.selector, labels: { ...stored!.selector.labels, [`k${i}`]: 'v' } },
        })),
      ),
    );
    expect(Object.keys((await registry.get('busy'))!.selector.labels).sort()).toEqual(
      Array.from({ length: 10 }, (_, i) => `k${i}`).sort(),
    );
  });

  it('names a damaged record with the fix, instead of failing somewhere downstream', async () => {
    await corrupt('damaged');
    const error = await registry.get('damaged').catch((err: unknown) => err);
    expect(error).toBeInstanceOf(IntegrityError);
    expect((error as IntegrityError).describe()).toMatch(
      /damaged.*Fix: restore .* from a backup, or remove the agent and add it again/s,
    );
  });

  it('refuses a name that is not an agent name before touching storage', async () => {
    await expect(registry.update('../etc', () => newAgentRecord('../etc', edge, 'cli', T0))).rejects.toThrow(
      /is not an agent name|agent name/,
    );
  });
});
