import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import * as z from 'zod';
import { type DynamoTableOptions, sendDynamo } from '../dynamo/call.js';
import { integerAttribute, N, S, stringAttribute } from '../dynamo/item.js';
import { PARTITION_KEY, SCHEDULER_KEY } from '../dynamo/table.js';
import { parseStored } from '../lock/stored.js';
import type { Heartbeat, SchedulerTick } from './heartbeat.js';

const tickItem = z.object({ at: stringAttribute, checked: integerAttribute, enqueued: integerAttribute });

/** The heartbeat as the `meta#scheduler` item of the deployment table (dynamo/table.ts). */
export class DynamoHeartbeat implements Heartbeat {
  constructor(private readonly table: DynamoTableOptions) {}

  async record(at: Date, summary: { checked: number; enqueued: number }): Promise<void> {
    await sendDynamo(this.table, { operation: 'PutItem', key: SCHEDULER_KEY }, () =>
      this.table.client.send(
        new PutItemCommand({
          TableName: this.table.tableName,
          Item: {
            [PARTITION_KEY]: S(SCHEDULER_KEY),
            at: S(at.toISOString()),
            checked: N(summary.checked),
            enqueued: N(summary.enqueued),
          },
        }),
      ),
    );
  }

  async last(): Promise<SchedulerTick | undefined> {
    const out = await sendDynamo(this.table, { operation: 'GetItem', key: SCHEDULER_KEY }, () =>
      this.table.client.send(
        new GetItemCommand({
          TableName: this.table.tableName,
          Key: { [PARTITION_KEY]: S(SCHEDULER_KEY) },
          ConsistentRead: true,
        }),
      ),
    );
    if (!out.Item) return undefined;
    const where = `DynamoDB item ${SCHEDULER_KEY}`;
    return parseStored(tickItem, out.Item, { where, fix: `delete ${where}; the next tick writes it again` });
  }
}
