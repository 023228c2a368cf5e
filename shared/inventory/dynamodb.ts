import { setTimeout as sleep } from 'node:timers/promises';
import {
  type AttributeValue,
  DeleteItemCommand,
  GetItemCommand,
  ScanCommand,
  TransactWriteItemsCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { z } from 'zod';
import { type DynamoTableOptions, sendDynamo, translateDynamoError } from '../dynamo/call.js';
import { cancellationReasons, N, S, stringAttribute } from '../dynamo/item.js';
import {
  CERT_KEY_PREFIX,
  certKey,
  DUE_AT_ATTRIBUTE,
  DUE_SHARD,
  DUE_SHARD_ATTRIBUTE,
  lockKey,
  PARTITION_KEY,
} from '../dynamo/table.js';
import { leaseLost } from '../lock/lease.js';
import type { Lease } from '../lock/lock.js';
import { parseStored, parseStoredJson } from '../lock/stored.js';
import { type Clock, systemClock } from '../model/clock.js';
import { ConflictError } from '../model/errors.js';
import type { CertificateSpec } from '../model/spec.js';
import { type CertificateState, initialState, type InventoryRecord } from '../model/state.js';
import type { Inventory } from './inventory.js';
import { certificateGone, newerFence } from './refusals.js';
import { storedSpecFor, storedState, toStoredSpec, toStoredState } from './record.js';

const certItem = z.object({ pk: stringAttribute, spec: stringAttribute, state: stringAttribute });

/** A concurrent write to the same items (our own lease renewal, typically) cancels a transaction. */
const TRANSACTION_ATTEMPTS = 4;

/**
 * Inventory on the `cert#<name>` items of the deployment table (see dynamo/table.ts).
 * Reads are strongly consistent: a worker that just took the lease re-reads the state to
 * see whether another worker already renewed, and an eventually consistent read could
 * answer with the state from before that renewal.
 */
export class DynamoInventory implements Inventory {
  private readonly clock: Clock;

  constructor(private readonly table: DynamoTableOptions) {
    this.clock = table.clock ?? systemClock;
  }

  async get(name: string): Promise<InventoryRecord | undefined> {
    const key = certKey(name);
    const out = await sendDynamo(this.table, { operation: 'GetItem', key }, () =>
      this.table.client.send(
        new GetItemCommand({ TableName: this.table.tableName, Key: this.key(name), ConsistentRead: true }),
      ),
    );
    return out.Item ? toRecord(out.Item) : undefined;
  }

  /** Every certificate, sorted by name. A Scan: the due-index query replaces it for the scheduler. */
  async list(): Promise<InventoryRecord[]> {
    const records: InventoryRecord[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await sendDynamo(this.table, { operation: 'Scan', key: `${CERT_KEY_PREFIX}*` }, () =>
        this.table.client.send(
          new ScanCommand({
            TableName: this.table.tableName,
            FilterExpression: 'begins_with(#pk, :prefix)',
            ExpressionAttributeNames: { '#pk': PARTITION_KEY },
            ExpressionAttributeValues: { ':prefix': S(CERT_KEY_PREFIX) },
            ConsistentRead: true,
            ExclusiveStartKey: start,
          }),
        ),
      );
      records.push(...(out.Items ?? []).map(toRecord));
      start = out.LastEvaluatedKey;
    } while (start);
    return records.sort((a, b) => a.spec.name.localeCompare(b.spec.name));
  }

  /**
   * One unconditional UpdateItem: the spec is replaced, the state kept when present. Not
   * fenced, on purpose: declaring a certificate is the operator's act, not a worker's.
   */
  async putSpec(spec: CertificateSpec): Promise<void> {
    const key = certKey(spec.name);
    await sendDynamo(this.table, { operation: 'UpdateItem', key }, () =>
      this.table.client.send(
        new UpdateItemCommand({
          TableName: this.table.tableName,
          Key: this.key(spec.name),
          UpdateExpression: 'SET #spec = :spec, #state = if_not_exists(#state, :initial)',
          ExpressionAttributeNames: { '#spec': 'spec', '#state': 'state' },
          ExpressionAttributeValues: {
            ':spec': S(JSON.stringify(toStoredSpec(spec))),
            ':initial': S(JSON.stringify(toStoredState(initialState(this.clock.now())))),
          },
        }),
      ),
    );
  }

  /**
   * The fenced write: one transaction that checks the lease item still names this owner and
   * fencing token, and writes the state stamped with the token. A worker whose lease expired
   * and was taken over fails the check, so it cannot overwrite the new holder's state however
   * late it wakes up. The `fence <= token` condition on the certificate item also refuses
   * tokens older than the last write should the lock item ever have been tampered with.
   */
  async putState(name: string, state: CertificateState, lease: Lease): Promise<void> {
    const json = JSON.stringify(toStoredState(state));
    const dueAt = state.nextAttemptAt && new Date(state.nextAttemptAt).toISOString();
    const request = {
      operation: 'TransactWriteItems',
      key: certKey(name),
      permissions: ['dynamodb:ConditionCheckItem', 'dynamodb:UpdateItem'],
    };
    const transaction = new TransactWriteItemsCommand({
      TransactItems: [
        {
          ConditionCheck: {
            TableName: this.table.tableName,
            Key: { [PARTITION_KEY]: S(lockKey(name)) },
            ConditionExpression: '#owner = :owner AND #fence = :fence',
            ExpressionAttributeNames: { '#owner': 'owner', '#fence': 'fence' },
            ExpressionAttributeValues: { ':owner': S(lease.owner), ':fence': N(lease.fencingToken) },
          },
        },
        {
          Update: {
            TableName: this.table.tableName,
            Key: this.key(name),
            // Only a state that names its next attempt enters the sparse due index.
            UpdateExpression: dueAt
              ? 'SET #state = :state, #fence = :fence, #dueShard = :shard, #dueAt = :dueAt'
              : 'SET #state = :state, #fence = :fence REMOVE #dueShard, #dueAt',
            ConditionExpression:
              'attribute_exists(#pk) AND (attribute_not_exists(#fence) OR #fence <= :fence)',
            ExpressionAttributeNames: {
              '#pk': PARTITION_KEY,
              '#state': 'state',
              '#fence': 'fence',
              '#dueShard': DUE_SHARD_ATTRIBUTE,
              '#dueAt': DUE_AT_ATTRIBUTE,
            },
            ExpressionAttributeValues: {
              ':state': S(json),
              ':fence': N(lease.fencingToken),
              ...(dueAt ? { ':shard': S(DUE_SHARD), ':dueAt': S(dueAt) } : {}),
            },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          },
        },
      ],
    });

    for (let attempt = 1; ; attempt++) {
      const written = await sendDynamo(
        this.table,
        request,
        async () => {
          await this.table.client.send(transaction);
          return true;
        },
        async (err) => {
          const [lock, cert] = cancellationReasons(err) ?? [];
          if (lock?.Code === 'ConditionalCheckFailed') throw leaseLost(lease, `writing the state of ${name}`);
          if (cert?.Code === 'ConditionalCheckFailed') throw refusedByCertificate(name, lease, cert.Item);
          if (lock?.Code === 'TransactionConflict' || cert?.Code === 'TransactionConflict') return false;
          throw await translateDynamoError(this.table, request, err);
        },
      );
      if (written) return;
      if (attempt === TRANSACTION_ATTEMPTS) {
        throw new ConflictError(
          `writing the state of ${name} collided with other writes ${attempt} times; the lease is still held, try again`,
        );
      }
      await sleep(50 * attempt * (1 + Math.random()));
    }
  }

  async remove(name: string): Promise<void> {
    // The lock item is left to DynamoDB TTL: a renewal in flight finds the certificate gone
    // (attribute_exists fails) rather than a lock that vanished under it.
    await sendDynamo(this.table, { operation: 'DeleteItem', key: certKey(name) }, () =>
      this.table.client.send(new DeleteItemCommand({ TableName: this.table.tableName, Key: this.key(name) })),
    );
  }

  private key(name: string): Record<string, AttributeValue> {
    return { [PARTITION_KEY]: S(certKey(name)) };
  }
}

function toRecord(item: Record<string, AttributeValue>): InventoryRecord {
  const where = `DynamoDB item ${item[PARTITION_KEY]?.S ?? '(without pk)'}`;
  const raw = parseStored(certItem, item, { where });
  const name = raw.pk.slice(CERT_KEY_PREFIX.length);
  return {
    spec: parseStoredJson(storedSpecFor(name), raw.spec, { where: `${where} (spec)` }),
    state: parseStoredJson(storedState, raw.state, { where: `${where} (state)` }),
  };
}

/** The lease was current, but the certificate item refused: removed, or a newer token wrote. */
const refusedByCertificate = (name: string, lease: Lease, old: Record<string, AttributeValue> | undefined) =>
  old ? newerFence(name, old['fence']?.N ?? '?', lease.fencingToken) : certificateGone(name);
