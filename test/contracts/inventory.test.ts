/**
 * The Inventory contract (inventory.contract.ts), with the Heartbeat kept in the same
 * storage, against every adapter: the directory of
 * local mode and DynamoDB Local. A new adapter passes by adding one call here.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { afterAll } from 'vitest';
import { createTable } from '../../shared/dynamo/table.js';
import { DynamoHeartbeat } from '../../shared/heartbeat/dynamodb.js';
import { FileHeartbeat } from '../../shared/heartbeat/file.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import { FileInventory } from '../../shared/inventory/file.js';
import { DynamoLeaseLock } from '../../shared/lock/dynamodb.js';
import { FileLeaseLock } from '../../shared/lock/file.js';
import { ManualClock } from '../../shared/model/clock.js';
import { dynamodbClient, uniqueName } from '../../scripts/test-kit/peers.js';
import { describeDueInventory, T0 } from './inventory.contract.js';

describeDueInventory('FileInventory', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'certkeeper-inventory-contract-'));
  const clock = new ManualClock(T0);
  const lock = new FileLeaseLock({ dir: join(dir, 'locks'), clock });
  return {
    inventory: new FileInventory({ dir: join(dir, 'inventory'), lock }),
    heartbeat: new FileHeartbeat({ dir: join(dir, 'inventory') }),
    lock,
    clock,
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
});

const admin = dynamodbClient();
afterAll(() => admin.destroy());

// A fresh table per test: the suite asserts on everything that is due.
describeDueInventory('DynamoInventory (DynamoDB Local)', async () => {
  const tableName = uniqueName('inventory-contract');
  await createTable(admin, tableName);
  const clock = new ManualClock(T0);
  const table = { client: admin, tableName, clock };
  return {
    inventory: new DynamoInventory(table),
    heartbeat: new DynamoHeartbeat(table),
    lock: new DynamoLeaseLock(table),
    clock,
    dispose: async () => {
      await admin.send(new DeleteTableCommand({ TableName: tableName }));
    },
  };
});
