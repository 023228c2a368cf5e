/**
 * How refusals are reported: a fenced state write or claim the item refuses (the answer a
 * scripted client gives exactly), and a declaration outrun again and again. A scripted
 * client stands in for DynamoDB here; everything else is tested against DynamoDB Local.
 */
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { describe, expect, it, vi } from 'vitest';
import { DynamoInventory } from '../../../shared/inventory/dynamodb.js';
import type { Lease } from '../../../shared/lock/lock.js';
import { ManualClock } from '../../../shared/model/clock.js';
import { CertkeeperError, ConflictError } from '../../../shared/model/errors.js';
import { parseCertificateSpec } from '../../../shared/model/spec.js';
import { declareSpec } from '../../../shared/usecases/declare-certificates.js';

const clock = new ManualClock('2026-03-01T00:00:00Z');
const lease: Lease = {
  name: 'web',
  owner: 'me',
  fencingToken: 7,
  expiresAt: new Date('2026-03-01T00:01:00Z'),
};
const state = { status: 'valid' as const, attempts: 0, updatedAt: clock.now().toISOString() };

function inventoryAnswering(...answers: unknown[]) {
  const send = vi.fn();
  for (const answer of answers) {
    if (answer instanceof Error) send.mockRejectedValueOnce(answer);
    else send.mockResolvedValueOnce(answer);
  }
  const client = { send } as unknown as DynamoDBClient;
  return { send, inventory: new DynamoInventory({ client, tableName: 't', clock }) };
}

describe('DynamoInventory.putState and claim refused by the item', () => {
  const refused = (item?: Record<string, unknown>) =>
    new ConditionalCheckFailedException({
      message: 'The conditional request failed',
      $metadata: {},
      Item: item as never,
    });

  it('one conditional write; a newer lease on the item is a lost lease, not retried', async () => {
    const { send, inventory } = inventoryAnswering(refused({ pk: { S: 'cert#web' }, fence: { N: '8' } }));
    const err = await inventory.putState('web', state, lease).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as ConflictError).message).toMatch(/lease for web was lost \(fencing token 7\)/);
    expect((err as ConflictError).message).toMatch(/written under a newer lease \(fence 8\)/);
    expect(send).toHaveBeenCalledTimes(1);
  });

  it('a claim refused by a newer lease throws; a claim of an absent certificate reads undefined', async () => {
    const newer = inventoryAnswering(refused({ pk: { S: 'cert#web' }, fence: { N: '9' } }));
    await expect(newer.inventory.claim('web', lease)).rejects.toThrow(/lease for web was lost/);
    const absent = inventoryAnswering(refused());
    expect(await absent.inventory.claim('web', lease)).toBeUndefined();
  });

  it('passes other errors on, translated, naming the item', async () => {
    const { send, inventory } = inventoryAnswering(
      Object.assign(new Error('boom'), { name: 'ValidationException', $metadata: {} }),
    );
    const err = await inventory.putState('web', state, lease).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CertkeeperError);
    expect((err as Error).message).toContain('DynamoDB UpdateItem on t item cert#web');
    expect(send).toHaveBeenCalledTimes(1);
  });
});

describe('DynamoInventory.update under concurrent writes', () => {
  const declared = parseCertificateSpec({ name: 'web', identifiers: ['web.example.com'] });
  const item = {
    Item: {
      pk: { S: 'cert#web' },
      spec: { S: JSON.stringify(declared) },
      state: { S: JSON.stringify(state) },
    },
  };
  const outrun = () =>
    new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
  const changed = parseCertificateSpec({ name: 'web', identifiers: ['web.example.com', 'www.example.com'] });

  it('reads again and retries when the item changed after it was read', async () => {
    const { send, inventory } = inventoryAnswering(item, outrun(), item, {});
    await declareSpec(inventory, changed, clock);
    expect(send).toHaveBeenCalledTimes(4);
  });

  it('gives up with a retryable ConflictError when outrun every time', async () => {
    const { send, inventory } = inventoryAnswering(
      ...Array.from({ length: 4 }, () => [item, outrun()]).flat(),
    );
    const err = await declareSpec(inventory, changed, clock).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as ConflictError).retryable).toBe(true);
    expect((err as Error).message).toMatch(/changing web collided with other writes 4 times/);
    expect(send).toHaveBeenCalledTimes(8);
  });
});
