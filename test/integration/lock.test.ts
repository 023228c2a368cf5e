/**
 * DynamoLeaseLock against DynamoDB Local, the only local emulator whose conditional writes
 * are atomic under concurrency (moto's are not, so it would pass races it should fail).
 */
import { DeleteTableCommand, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTable, lockKey } from '../../shared/dynamo/table.js';
import { DynamoLeaseLock, LOCK_RETENTION_MS } from '../../shared/lock/dynamodb.js';
import { type Clock, ManualClock, SECOND } from '../../shared/model/clock.js';
import { ConflictError } from '../../shared/model/errors.js';
import { dynamodbClient, uniqueName } from '../support/peers.js';

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

describe('DynamoLeaseLock', () => {
  it('gives the lease to exactly one of eight concurrent acquirers; the others are busy', async () => {
    const clock = startClock();
    const results = await Promise.all(Array.from({ length: 8 }, () => worker(clock).acquire('race', TTL)));
    expect(results.filter((r) => r !== undefined)).toHaveLength(1);
    expect(results.filter((r) => r === undefined)).toHaveLength(7);
  });

  it("keeps a crashed holder's lease until it expires, then hands it over with a larger token", async () => {
    const clock = startClock();
    const crashed = (await worker(clock).acquire('crash', TTL))!;
    expect(crashed.expiresAt).toEqual(new Date(clock.now().getTime() + TTL));
    clock.advance(TTL);
    expect(await worker(clock).acquire('crash', TTL)).toBeUndefined();
    clock.advance(1);
    const next = await worker(clock).acquire('crash', TTL);
    expect(next?.fencingToken).toBeGreaterThan(crashed.fencingToken);
  });

  it("does not let the old holder renew or release the new holder's lease", async () => {
    const clock = startClock();
    const old = (await worker(clock).acquire('late', TTL))!;
    clock.advance(TTL + 1);
    const current = (await worker(clock).acquire('late', TTL))!;

    await expect(worker(clock).renew(old, TTL)).rejects.toThrow(ConflictError);
    await expect(worker(clock).renew(old, TTL)).rejects.toThrow(/lease for late was lost/);
    await worker(clock).release(old);
    expect(await worker(clock).acquire('late', TTL)).toBeUndefined();
    expect((await lockItem('late'))?.['owner']?.S).toBe(current.owner);
  });

  it('extends the lease when the owner renews it', async () => {
    const clock = startClock();
    const lease = (await worker(clock).acquire('renew', TTL))!;
    clock.advance(TTL - SECOND);
    const renewed = await worker(clock).renew(lease, TTL);
    expect(renewed).toEqual({ ...lease, expiresAt: new Date(clock.now().getTime() + TTL) });
    clock.advance(TTL - SECOND); // past the first expiry, within the renewed one
    expect(await worker(clock).acquire('renew', TTL)).toBeUndefined();
  });

  it('frees the lease on release and keeps the fence counter for the next holder', async () => {
    const clock = startClock();
    const first = (await worker(clock).acquire('release', TTL))!;
    await worker(clock).release(first);
    const item = await lockItem('release');
    expect(item?.['owner']).toBeUndefined();
    expect(item?.['fence']?.N).toBe(String(first.fencingToken));
    // TTL only ever removes an item long idle; correctness never waits for it.
    expect(Number(item?.['ttl']?.N)).toBe(Math.ceil((clock.now().getTime() + LOCK_RETENTION_MS) / 1000));

    const second = await worker(clock).acquire('release', TTL);
    expect(second?.fencingToken).toBe(first.fencingToken + 1);
  });
});

async function lockItem(name: string) {
  const out = await admin.send(
    new GetItemCommand({ TableName: tableName, Key: { pk: { S: lockKey(name) } }, ConsistentRead: true }),
  );
  return out.Item;
}
