/**
 * DynamoInventory against DynamoDB Local: the claim and the fenced state write are
 * conditional writes whose conditions must hold atomically, which only DynamoDB Local
 * reproduces locally.
 */
import {
  DeleteItemCommand,
  DeleteTableCommand,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certKey, createTable, lockKey } from '../../shared/dynamo/table.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import { DynamoLeaseLock } from '../../shared/lock/dynamodb.js';
import { ManualClock, MINUTE, SECOND } from '../../shared/model/clock.js';
import { ConflictError, IntegrityError, NotFoundError } from '../../shared/model/errors.js';
import { parseCertificateSpec } from '../../shared/model/spec.js';
import { type CertificateState, initialState } from '../../shared/model/state.js';
import { dynamodbClient, uniqueName } from '../../scripts/test-kit/peers.js';
import { declareSpec } from '../../shared/usecases/declare-certificates.js';
import { DynamoHeartbeat } from '../../shared/heartbeat/dynamodb.js';

const TTL = 30 * SECOND;
const tableName = uniqueName('inventory-test');
const admin = dynamodbClient();

/** A worker: its own client, lock and inventory, on the shared table and clock. */
function worker(clock: ManualClock) {
  const table = { client: dynamodbClient(), tableName, clock };
  return { lock: new DynamoLeaseLock(table), inventory: new DynamoInventory(table) };
}

const spec = (name: string, identifiers = [`${name}.example.com`]) =>
  parseCertificateSpec({ name, identifiers });
const state = (
  clock: ManualClock,
  status: CertificateState['status'],
  extra: Partial<CertificateState> = {},
) => ({
  status,
  attempts: 0,
  updatedAt: clock.now().toISOString(),
  ...extra,
});

beforeAll(() => createTable(admin, tableName));
afterAll(async () => {
  await admin.send(new DeleteTableCommand({ TableName: tableName }));
  admin.destroy();
});

describe('DynamoInventory', () => {
  it('stores, lists (certificates only, sorted) and removes specs, starting them pending', async () => {
    const clock = new ManualClock('2026-03-01T00:00:00Z');
    const { inventory, lock } = worker(clock);
    await declareSpec(inventory, spec('zeta'), clock);
    await declareSpec(
      inventory,
      parseCertificateSpec({ name: 'alpha', identifiers: ['203.0.113.10'] }),
      clock,
    );
    // Lock and heartbeat items in the same table are not certificates.
    await lock.acquire('alpha', TTL);
    await new DynamoHeartbeat({ client: admin, tableName }).record(clock.now(), { checked: 2, enqueued: 2 });

    expect(await inventory.get('zeta')).toEqual({ spec: spec('zeta'), state: initialState(clock.now()) });
    expect(await inventory.get('missing')).toBeUndefined();
    const listed = await inventory.list();
    expect(listed.map((r) => r.spec.name)).toEqual(['alpha', 'zeta']);
    expect(listed[0]?.spec.profile).toBe('shortlived');

    await inventory.remove('zeta');
    await inventory.remove('alpha');
    expect(await inventory.list()).toEqual([]);
  });

  it("refuses a late holder's state after a takeover and keeps the new holder's", async () => {
    const clock = new ManualClock('2026-03-01T00:00:00Z');
    const late = worker(clock);
    const current = worker(clock);
    await declareSpec(current.inventory, spec('fenced'), clock);
    const oldLease = (await late.lock.acquire('fenced', TTL))!;
    clock.advance(TTL + 1); // the late worker is paused past its expiry...
    const newLease = (await current.lock.acquire('fenced', TTL))!;
    const renewed = state(clock, 'valid');
    await current.inventory.putState('fenced', renewed, newLease);

    // ...and wakes up believing it still holds the lease.
    const stale = late.inventory.putState('fenced', state(clock, 'failing', { attempts: 3 }), oldLease);
    await expect(stale).rejects.toThrow(ConflictError);
    await expect(stale).rejects.toThrow(/lease for fenced was lost/);
    expect((await current.inventory.get('fenced'))?.state).toEqual(renewed);
    const item = await certItem('fenced');
    expect(item?.['fence']?.N).toBe(String(newLease.fencingToken));
  });

  it("sees a late holder's write that landed before the new holder's claim, and refuses it after", async () => {
    const clock = new ManualClock('2026-03-01T00:00:00Z');
    const late = worker(clock);
    const current = worker(clock);
    await declareSpec(current.inventory, spec('claimed'), clock);
    const oldLease = (await late.lock.acquire('claimed', TTL))!;
    expect(await late.inventory.claim('claimed', oldLease)).toBeDefined();
    clock.advance(TTL + 1);
    const newLease = (await current.lock.acquire('claimed', TTL))!;
    // Between the takeover and the claim: the item still carries the old token.
    const renewedLate = state(clock, 'valid', { attempts: 0, lastSuccessAt: clock.now().toISOString() });
    await late.inventory.putState('claimed', renewedLate, oldLease);
    // The claim reads it, so the new holder sees the renewal and does not order again...
    expect((await current.inventory.claim('claimed', newLease))?.state).toEqual(renewedLate);
    expect((await certItem('claimed'))?.['fence']?.N).toBe(String(newLease.fencingToken));
    // ...and from then on the late holder is refused, before the new holder wrote anything.
    await expect(
      late.inventory.putState('claimed', state(clock, 'failing', { attempts: 1 }), oldLease, {
        followsOwnWrite: true,
      }),
    ).rejects.toThrow(/lease for claimed was lost/);
    await expect(late.inventory.claim('claimed', oldLease)).rejects.toThrow(/lease for claimed was lost/);
    expect((await current.inventory.get('claimed'))?.state).toEqual(renewedLate);
    expect(await current.inventory.claim('absent', newLease)).toBeUndefined();
    expect(await certItem('absent')).toBeUndefined();
  });

  it('refuses a token older than the last state write even if the lock item lost its counter', async () => {
    const clock = new ManualClock('2026-03-01T00:00:00Z');
    const { inventory, lock } = worker(clock);
    await declareSpec(inventory, spec('counter'), clock);
    const first = (await lock.acquire('counter', TTL))!;
    await inventory.putState('counter', state(clock, 'valid'), first);
    // The lock item disappears and a clock running behind restarts the counter lower.
    await admin.send(new DeleteItemCommand({ TableName: tableName, Key: { pk: { S: lockKey('counter') } } }));
    clock.advance(-MINUTE);
    const lower = (await lock.acquire('counter', TTL))!;
    expect(lower.fencingToken).toBeLessThan(first.fencingToken);
    await expect(inventory.putState('counter', state(clock, 'failing'), lower)).rejects.toThrow(
      /written under a newer lease/,
    );
  });

  it('refuses a state write for a certificate removed meanwhile, without recreating it', async () => {
    const clock = new ManualClock('2026-03-01T00:00:00Z');
    const { inventory, lock } = worker(clock);
    await declareSpec(inventory, spec('gone'), clock);
    const lease = (await lock.acquire('gone', TTL))!;
    await inventory.remove('gone');
    await expect(inventory.putState('gone', state(clock, 'valid'), lease)).rejects.toThrow(NotFoundError);
    expect(await certItem('gone')).toBeUndefined();
  });

  it('lets state writes and renewals by the same holder interleave', async () => {
    const clock = new ManualClock('2026-03-01T00:00:00Z');
    const { inventory, lock } = worker(clock);
    await declareSpec(inventory, spec('busy'), clock);
    const lease = (await lock.acquire('busy', TTL))!;
    await Promise.all([
      ...Array.from({ length: 5 }, () => lock.renew(lease, TTL)),
      ...Array.from({ length: 5 }, (_, attempts) =>
        inventory.putState('busy', state(clock, 'failing', { attempts }), lease),
      ),
    ]);
    expect((await inventory.get('busy'))?.state.status).toBe('failing');
  });

  it('reports a damaged item as an IntegrityError naming it', async () => {
    const clock = new ManualClock('2026-03-01T00:00:00Z');
    const { inventory } = worker(clock);
    await admin.send(
      new PutItemCommand({
        TableName: tableName,
        Item: {
          pk: { S: certKey('broken') },
          spec: { S: JSON.stringify(spec('broken')) },
          state: { S: '{"status":"odd"}' },
        },
      }),
    );
    await expect(inventory.get('broken')).rejects.toThrow(IntegrityError);
    await expect(inventory.list()).rejects.toThrow(
      /DynamoDB item cert#broken \(state\) is corrupted: status/,
    );
    await inventory.remove('broken');
  });

  it('stores the state gzip-compressed, reads a state stored as JSON text, and refuses a damaged one', async () => {
    const clock = new ManualClock('2026-03-01T00:00:00Z');
    const { inventory, lock } = worker(clock);
    const legacy = state(clock, 'valid', { dueAt: clock.now().toISOString() });
    await admin.send(
      new PutItemCommand({
        TableName: tableName,
        Item: {
          pk: { S: certKey('legacy') },
          spec: { S: JSON.stringify(spec('legacy')) },
          state: { S: JSON.stringify(legacy) },
        },
      }),
    );
    expect((await inventory.get('legacy'))?.state).toEqual(legacy);

    // The next write compresses it; what comes back is the same state.
    const lease = (await lock.acquire('legacy', TTL))!;
    const next = {
      ...legacy,
      attempts: 2,
      lastError: { code: 'x', detail: 'y'.repeat(400), at: legacy.updatedAt },
    };
    await inventory.putState('legacy', next, lease);
    const stored = (await certItem('legacy'))?.['state'];
    expect(stored?.S).toBeUndefined();
    expect(JSON.parse(gunzipSync(stored!.B!).toString('utf8'))).toEqual(next);
    expect(stored!.B!.length).toBeLessThan(JSON.stringify(next).length / 2);
    expect((await inventory.get('legacy'))?.state).toEqual(next);

    await admin.send(
      new PutItemCommand({
        TableName: tableName,
        Item: {
          pk: { S: certKey('legacy') },
          spec: { S: JSON.stringify(spec('legacy')) },
          state: { B: Buffer.from('not gzip') },
        },
      }),
    );
    await expect(inventory.get('legacy')).rejects.toThrow(
      /DynamoDB item cert#legacy \(state\): is not gzip-compressed JSON/,
    );
    await inventory.remove('legacy');
  });
});

async function certItem(name: string) {
  const out = await admin.send(
    new GetItemCommand({ TableName: tableName, Key: { pk: { S: certKey(name) } }, ConsistentRead: true }),
  );
  return out.Item;
}
