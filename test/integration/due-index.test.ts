/**
 * The due index on DynamoDB Local, beyond the Inventory contract (test/contracts): what only
 * the DynamoDB adapter has: the sparse `due-index` attributes on the item, a tick
 * that reads only the items due, and a declaration's conditional write when it is outrun.
 */
import { DeleteTableCommand, type DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certKey, createTable } from '../../shared/dynamo/table.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import { DynamoLeaseLock } from '../../shared/lock/dynamodb.js';
import { DAY, HOUR, ManualClock, MINUTE } from '../../shared/model/clock.js';
import { dynamodbClient, uniqueName } from '../../scripts/test-kit/peers.js';
import { declareWithState, failingState, spec, T0 } from '../contracts/inventory.contract.js';
import { declareSpec } from '../../shared/usecases/declare-certificates.js';

const admin = dynamodbClient();
afterAll(() => admin.destroy());

/** Lock and inventory on `tableName`, through `client` (its own, unless given). */
function worker(tableName: string, clock: ManualClock, client: DynamoDBClient = dynamodbClient()) {
  const table = { client, tableName, clock };
  return { lock: new DynamoLeaseLock(table), inventory: new DynamoInventory(table), clock };
}

const dropTable = (tableName: string) => admin.send(new DeleteTableCommand({ TableName: tableName }));

describe('DynamoInventory: the due-index items', () => {
  const tableName = uniqueName('due-index');
  beforeAll(() => createTable(admin, tableName));
  afterAll(() => dropTable(tableName));

  const item = async (name: string) =>
    (
      await admin.send(
        new GetItemCommand({ TableName: tableName, Key: { pk: { S: certKey(name) } }, ConsistentRead: true }),
      )
    ).Item;

  it('files a certificate under its dueAt as UTC, and not at all without one', async () => {
    const w = worker(tableName, new ManualClock(T0));
    await declareWithState(w, 'offset', { dueAt: '2026-03-01T01:00:00+02:00' });
    expect(await item('offset')).toMatchObject({
      dueShard: { S: 'due' },
      dueAt: { S: '2026-02-28T23:00:00.000Z' },
    });

    // nextAttemptAt alone no longer files it: the index is keyed on dueAt.
    await declareWithState(w, 'offset', { status: 'retired', nextAttemptAt: '2026-03-02T00:00:00Z' });
    const retired = await item('offset');
    expect(retired).not.toHaveProperty('dueShard');
    expect(retired).not.toHaveProperty('dueAt');
  });

  it('reads only the items that are due, however large the inventory', async () => {
    const clock = new ManualClock(T0);
    const w = worker(tableName, clock);
    const names = Array.from({ length: 12 }, (_, i) => `tick-${String(i).padStart(2, '0')}`);
    for (const [i, name] of names.entries()) {
      // Three due (an hour apart before T0), the rest from tomorrow on.
      await declareWithState(w, name, {
        dueAt: new Date(T0.getTime() + (i < 3 ? (i - 3) * HOUR : i * DAY)).toISOString(),
      });
    }
    const due = await w.inventory.listDue(T0);
    expect(due.records.map((r) => r.spec.name)).toEqual(['tick-00', 'tick-01', 'tick-02']);
    expect(due.itemsRead).toBe(3);
    expect(await w.inventory.listDue(T0, 2)).toMatchObject({ itemsRead: 2 });
  });

  it("keeps a renewal's state written between a declaration's read and its write", async () => {
    const clock = new ManualClock(T0);
    const renewer = worker(tableName, clock);
    await declareWithState(renewer, 'raced', failingState(new Date(T0.getTime() + HOUR).toISOString()));
    const renewed = {
      status: 'valid' as const,
      current: {
        serial: '02cd',
        notBefore: T0.toISOString(),
        notAfter: '2026-03-07T16:00:00.000Z',
        manifestKey: 'k',
      },
      attempts: 0,
      lastSuccessAt: T0.toISOString(),
      dueAt: '2026-03-05T00:00:00.000Z',
      updatedAt: T0.toISOString(),
    };
    // The operator's declaration reads the failing state; the renewal lands before it writes.
    const operator = worker(
      tableName,
      clock,
      afterFirstRead(dynamodbClient(), () => declareWithState(renewer, 'raced', renewed)),
    );
    clock.advance(MINUTE);
    const changed = spec('raced', { identifiers: ['raced.example.com', 'www.raced.example.com'] });
    await declareSpec(operator.inventory, changed, clock);

    const now = clock.now().toISOString();
    expect(await operator.inventory.get('raced')).toEqual({
      spec: changed,
      state: { ...renewed, reissue: true, dueAt: now, updatedAt: now },
    });
  });
});

/** `client`, running `between` once right after its first GetItem answered. */
function afterFirstRead(client: DynamoDBClient, between: () => Promise<void>): DynamoDBClient {
  const send = client.send.bind(client) as (command: unknown) => Promise<unknown>;
  let pending: (() => Promise<void>) | undefined = between;
  (client as unknown as { send: typeof send }).send = async (command) => {
    const out = await send(command);
    if (command instanceof GetItemCommand && pending) {
      const run = pending;
      pending = undefined;
      await run();
    }
    return out;
  };
  return client;
}
