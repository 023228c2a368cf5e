/**
 * The Heartbeat contract: what the scheduler writes after each tick and what the stack's
 * alarm and `certkeeper doctor` read, run against every adapter (the file of local mode,
 * the `meta#scheduler` item on DynamoDB Local). A new adapter passes by adding one entry.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteTableCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTable, PARTITION_KEY, SCHEDULER_KEY } from '../../shared/dynamo/table.js';
import { DynamoHeartbeat } from '../../shared/heartbeat/dynamodb.js';
import { FileHeartbeat } from '../../shared/heartbeat/file.js';
import type { Heartbeat } from '../../shared/heartbeat/heartbeat.js';
import { MINUTE } from '../../shared/model/clock.js';
import { IntegrityError } from '../../shared/model/errors.js';
import { dynamodbClient, uniqueName } from '../../scripts/test-kit/peers.js';

interface HeartbeatFixture {
  heartbeat: Heartbeat;
  /** Stores something that is not a tick where the adapter keeps it. */
  corrupt(): Promise<void>;
  dispose(): Promise<void>;
}

const admin = dynamodbClient();
afterAll(() => admin.destroy());

const ADAPTERS: { name: string; make(): Promise<HeartbeatFixture> }[] = [
  {
    name: 'FileHeartbeat',
    async make() {
      const dir = await mkdtemp(join(tmpdir(), 'certkeeper-heartbeat-contract-'));
      return {
        heartbeat: new FileHeartbeat({ dir }),
        corrupt: () => writeFile(join(dir, '_scheduler.json'), '{"at": "yesterday"}'),
        dispose: () => rm(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'DynamoHeartbeat (DynamoDB Local)',
    async make() {
      const tableName = uniqueName('heartbeat-contract');
      await createTable(admin, tableName);
      return {
        heartbeat: new DynamoHeartbeat({ client: admin, tableName }),
        corrupt: async () => {
          await admin.send(
            new PutItemCommand({
              TableName: tableName,
              Item: { [PARTITION_KEY]: { S: SCHEDULER_KEY }, at: { S: 'yesterday' } },
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

const T0 = new Date('2026-03-01T00:00:00Z');

describe.each(ADAPTERS)('$name: the scheduler heartbeat', ({ make }) => {
  let f: HeartbeatFixture;
  beforeEach(async () => {
    f = await make();
  });
  afterEach(() => f.dispose());

  it('has no tick before the first, then the last one recorded', async () => {
    expect(await f.heartbeat.last()).toBeUndefined();
    await f.heartbeat.record(T0, { checked: 120, enqueued: 3 });
    expect(await f.heartbeat.last()).toEqual({ at: T0.toISOString(), checked: 120, enqueued: 3 });
    const later = new Date(T0.getTime() + 5 * MINUTE);
    await f.heartbeat.record(later, { checked: 121, enqueued: 0 });
    expect(await f.heartbeat.last()).toEqual({ at: later.toISOString(), checked: 121, enqueued: 0 });
  });

  it('calls a stored tick that is not one corrupted, and says to delete it', async () => {
    await f.corrupt();
    const error = await f.heartbeat.last().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IntegrityError);
    expect((error as IntegrityError).fix).toMatch(/delete .*the next tick writes it again/);
  });
});
