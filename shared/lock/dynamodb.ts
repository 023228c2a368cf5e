import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import * as z from 'zod';
import { type Clock, DAY, systemClock } from '../model/clock.js';
import { type DynamoTableOptions, sendDynamo } from '../dynamo/call.js';
import { epochSeconds, integerAttribute, N, S, stringAttribute } from '../dynamo/item.js';
import { lockKey, PARTITION_KEY } from '../dynamo/table.js';
import { checkLeaseRequest, leaseLost } from './lease.js';
import type { Lease, LeaseLock } from './lock.js';
import { parseStored } from './stored.js';

/**
 * How long after its expiry a lock item may be deleted by DynamoDB TTL. TTL is housekeeping
 * only (it can lag by days): an expired lease is taken over by the condition below whether
 * or not TTL has run.
 */
export const LOCK_RETENTION_MS = 7 * DAY;

const NAMES = { '#owner': 'owner', '#expiresAt': 'expiresAt', '#fence': 'fence', '#ttl': 'ttl' };

const acquiredItem = z.object({
  owner: stringAttribute,
  expiresAt: integerAttribute,
  fence: integerAttribute,
});

/**
 * LeaseLock on the `lock#<name>` items of the deployment table (see dynamo/table.ts).
 *
 * Why fencing: a holder can pause (GC, a slow CA, a frozen Lambda) past its expiry while
 * another worker takes over; when it wakes it still believes it holds the lease. Expiry
 * alone cannot stop it, so every acquisition gets a larger fencing token, the new holder
 * stamps it on the certificate item before reading it (DynamoInventory.claim), and every
 * state write is refused once the item carries a newer token (DynamoInventory.putState).
 */
export class DynamoLeaseLock implements LeaseLock {
  private readonly clock: Clock;

  constructor(private readonly table: DynamoTableOptions) {
    this.clock = table.clock ?? systemClock;
  }

  async acquire(name: string, ttlMs: number): Promise<Lease | undefined> {
    checkLeaseRequest(name, ttlMs);
    const now = this.clock.now().getTime();
    const expiresAt = now + ttlMs;
    return sendDynamo(
      this.table,
      { operation: 'UpdateItem', key: lockKey(name) },
      async () => {
        const out = await this.update(name, {
          // The counter continues across acquisitions, so tokens only grow. Should TTL ever
          // delete the item, the counter restarts from the current time in ms, which is
          // beyond any token the old item handed out (it was idle for LOCK_RETENTION_MS),
          // so the `fence <= token` check on certificate items keeps admitting new holders.
          UpdateExpression:
            'SET #owner = :owner, #expiresAt = :expiresAt, #ttl = :ttl, #fence = if_not_exists(#fence, :seed) + :one',
          // Absent or released (no owner), or expired. Never relies on TTL having deleted it.
          ConditionExpression: 'attribute_not_exists(#owner) OR #expiresAt < :now',
          ExpressionAttributeValues: {
            ':owner': S(randomUUID()),
            ':expiresAt': N(expiresAt),
            ':ttl': N(epochSeconds(expiresAt + LOCK_RETENTION_MS)),
            ':seed': N(now),
            ':one': N(1),
            ':now': N(now),
          },
          ReturnValues: 'ALL_NEW',
        });
        const where = `DynamoDB item ${lockKey(name)} in ${this.table.tableName}`;
        const item = parseStored(acquiredItem, out.Attributes, {
          where,
          // A restarted counter is seeded from the clock, above every earlier token.
          fix: `delete ${where}; the next acquisition recreates it`,
        });
        return { name, owner: item.owner, fencingToken: item.fence, expiresAt: new Date(item.expiresAt) };
      },
      // Held by someone else and not expired: busy, which is not an error.
      () => undefined,
    );
  }

  async renew(lease: Lease, ttlMs: number): Promise<Lease> {
    checkLeaseRequest(lease.name, ttlMs);
    const expiresAt = this.clock.now().getTime() + ttlMs;
    // Extending an expired lease nobody took over is safe: the fence is unchanged, so no
    // other holder can have written in between.
    const renewed = await this.updateOwned(lease, 'SET #expiresAt = :expiresAt, #ttl = :ttl', {
      ':expiresAt': N(expiresAt),
      ':ttl': N(epochSeconds(expiresAt + LOCK_RETENTION_MS)),
    });
    if (!renewed) throw leaseLost(lease, 'renewing it');
    return { ...lease, expiresAt: new Date(expiresAt) };
  }

  async release(lease: Lease): Promise<void> {
    const now = this.clock.now().getTime();
    // The fence counter stays: the next holder must get a larger token than this one. When
    // the condition fails someone else holds the lease now (or it was released already):
    // theirs to release, so that outcome is ignored.
    await this.updateOwned(lease, 'REMOVE #owner SET #expiresAt = :zero, #ttl = :ttl', {
      ':zero': N(0),
      ':ttl': N(epochSeconds(now + LOCK_RETENTION_MS)),
    });
  }

  /** An update applied only while `lease` is the current one; false when it is not. */
  private updateOwned(
    lease: Lease,
    expression: string,
    values: Record<string, AttributeValue>,
  ): Promise<boolean> {
    return sendDynamo(
      this.table,
      { operation: 'UpdateItem', key: lockKey(lease.name) },
      async () => {
        await this.update(lease.name, {
          UpdateExpression: expression,
          ConditionExpression: '#owner = :mine AND #fence = :fence',
          ExpressionAttributeValues: { ...values, ':mine': S(lease.owner), ':fence': N(lease.fencingToken) },
        });
        return true;
      },
      () => false,
    );
  }

  /** Every expression here names all four attributes, so one name map serves them all. */
  private update(
    name: string,
    input: Omit<UpdateItemCommandInput, 'TableName' | 'Key' | 'ExpressionAttributeNames'>,
  ) {
    return this.table.client.send(
      new UpdateItemCommand({
        TableName: this.table.tableName,
        Key: { [PARTITION_KEY]: S(lockKey(name)) },
        ExpressionAttributeNames: NAMES,
        ...input,
      }),
    );
  }
}
