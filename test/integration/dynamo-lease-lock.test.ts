/**
 * DynamoLeaseLock against DynamoDB Local, the only local emulator whose conditional writes
 * are atomic under concurrency (moto's are not, so it would pass races it should fail).
 */
import { DeleteTableCommand, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTable, lockKey } from '../../shared/dynamo/table.js';
import { DynamoLeaseLock, LOCK_RETENTION_MS } from '../../shared/lock/dynamodb.js';
import { type Clock, ManualClock, SECOND } from '../../shared/model/clock.js';
import { dynamodbClient, uniqueName } from '../../scripts/test-kit/peers.js';

const TTL = 30 * SECOND;
const tableName = uniqueName('lock-test');
const admin = dynamodbClient();
/** Each simulated worker has its own client and lock: only the table and the clock are shared. */
const worker = (clock: Clock) => new DynamoLeaseLock({ client: dynamodbClient(), tableName, clock });
const startClock = () => new ManualClock('2026-03-01T00:00:00Z');

beforeAll(() => createTable(admin, tableName));
afterAll(async () => {
  await admin.send(new DeleteTableCommand({ TableName: tableName }));
  admin.destroy();
});

// What every LeaseLock promises is in test/contracts/lease-lock.test.ts; these are the
// DynamoDB adapter's own: the item it keeps and its TTL attribute.
describe('DynamoLeaseLock', () => {
  it("keeps the new holder's owner in the item when the old holder releases late", async () => {
    const clock = startClock();
    const old = (await worker(clock).acquire('late', TTL))!;
    clock.advance(TTL + 1);
    const current = (await worker(clock).acquire('late', TTL))!;
    await worker(clock).release(old);
    expect((await lockItem('late'))?.['owner']?.S).toBe(current.owner);
  });

  it('frees the lease in the item on release, keeping the fence counter and a TTL', async () => {
    const clock = startClock();
    const first = (await worker(clock).acquire('release', TTL))!;
    await worker(clock).release(first);
    const item = await lockItem('release');
    expect(item?.['owner']).toBeUndefined();
    expect(item?.['fence']?.N).toBe(String(first.fencingToken));
    // TTL only ever removes an item long idle; correctness never waits for it.
    expect(Number(item?.['ttl']?.N)).toBe(Math.ceil((clock.now().getTime() + LOCK_RETENTION_MS) / 1000));
  });
});

async function lockItem(name: string) {
  const out = await admin.send(
    new GetItemCommand({ TableName: tableName, Key: { pk: { S: lockKey(name) } }, ConsistentRead: true }),
  );
  return out.Item;
}
