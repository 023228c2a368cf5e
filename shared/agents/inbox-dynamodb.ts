import {
  type AttributeValue,
  DeleteItemCommand,
  GetItemCommand,
  ScanCommand,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import * as z from 'zod';
import { type DynamoTableOptions, sendDynamo, untilLanded } from '../dynamo/call.js';
import { INBOX_KEY_PREFIX, inboxKey, pollKey } from '../dynamo/fleet-table.js';
import { N, S, integerAttribute, stringAttribute } from '../dynamo/item.js';
import { PARTITION_KEY } from '../dynamo/table.js';
import { parseStored, parseStoredJson } from '../lock/stored.js';
import { systemClock } from '../model/clock.js';
import { type AgentInboxes, type Inbox, type InboxEntries, inboxEntriesSchema } from './inbox.js';

const inboxItem = z.object({
  pk: stringAttribute,
  generation: integerAttribute,
  entries: stringAttribute,
  updatedAt: stringAttribute,
});
const pollItem = z.object({ generation: integerAttribute });

/**
 * Inboxes on the fleet table: `inbox#<agent>` holds the entries, `poll#<agent>` only the
 * generation, and both are written in one transaction so the poll never announces a
 * generation whose entries are not there.
 */
export class DynamoAgentInboxes implements AgentInboxes {
  constructor(private readonly table: DynamoTableOptions) {}

  async generation(agent: string): Promise<number | undefined> {
    const out = await sendDynamo(this.table, { operation: 'GetItem', key: pollKey(agent) }, () =>
      // Eventually consistent, half the price of a consistent read: a poll that misses a
      // change by a moment sees it at the next one.
      this.table.client.send(
        new GetItemCommand({ TableName: this.table.tableName, Key: key(pollKey(agent)) }),
      ),
    );
    if (!out.Item) return undefined;
    return parseStored(pollItem, out.Item, this.at(pollKey(agent))).generation;
  }

  async get(agent: string): Promise<Inbox | undefined> {
    const out = await sendDynamo(this.table, { operation: 'GetItem', key: inboxKey(agent) }, () =>
      this.table.client.send(
        new GetItemCommand({
          TableName: this.table.tableName,
          Key: key(inboxKey(agent)),
          ConsistentRead: true,
        }),
      ),
    );
    return out.Item ? this.parse(out.Item) : undefined;
  }

  async update(
    agent: string,
    change: (entries: InboxEntries) => InboxEntries | undefined,
  ): Promise<Inbox | undefined> {
    return untilLanded(`changing the inbox of agent ${agent}`, async () => {
      const stored = await this.get(agent);
      const entries = change(stored?.entries ?? {});
      if (!entries) return { value: undefined };
      const text = JSON.stringify(inboxEntriesSchema.parse(entries));
      const generation = (stored?.generation ?? 0) + 1;
      const updatedAt = (this.table.clock ?? systemClock).now().toISOString();
      const written = await sendDynamo(
        this.table,
        { operation: 'TransactWriteItems', key: inboxKey(agent), permissions: ['dynamodb:PutItem'] },
        async () => {
          await this.table.client.send(
            new TransactWriteItemsCommand({
              TransactItems: [
                {
                  Put: {
                    TableName: this.table.tableName,
                    Item: {
                      ...key(inboxKey(agent)),
                      generation: N(generation),
                      entries: S(text),
                      updatedAt: S(updatedAt),
                    },
                    ConditionExpression: stored ? 'generation = :read' : 'attribute_not_exists(#pk)',
                    ...(stored
                      ? { ExpressionAttributeValues: { ':read': N(stored.generation) } }
                      : { ExpressionAttributeNames: { '#pk': PARTITION_KEY } }),
                  },
                },
                {
                  Put: {
                    TableName: this.table.tableName,
                    Item: { ...key(pollKey(agent)), generation: N(generation) },
                  },
                },
              ],
            }),
          );
          return true;
        },
        () => false,
      );
      return written ? { value: { agent, generation, entries, updatedAt } } : undefined;
    });
  }

  async remove(agent: string): Promise<void> {
    for (const k of [pollKey(agent), inboxKey(agent)]) {
      await sendDynamo(this.table, { operation: 'DeleteItem', key: k }, () =>
        this.table.client.send(new DeleteItemCommand({ TableName: this.table.tableName, Key: key(k) })),
      );
    }
  }

  async list(): Promise<Inbox[]> {
    const inboxes: Inbox[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await sendDynamo(this.table, { operation: 'Scan', key: `${INBOX_KEY_PREFIX}*` }, () =>
        this.table.client.send(
          new ScanCommand({
            TableName: this.table.tableName,
            FilterExpression: 'begins_with(#pk, :prefix)',
            ExpressionAttributeNames: { '#pk': PARTITION_KEY },
            ExpressionAttributeValues: { ':prefix': S(INBOX_KEY_PREFIX) },
            ConsistentRead: true,
            ExclusiveStartKey: start,
          }),
        ),
      );
      for (const item of out.Items ?? []) inboxes.push(this.parse(item));
      start = out.LastEvaluatedKey;
    } while (start);
    return inboxes.sort((a, b) => a.agent.localeCompare(b.agent));
  }

  private parse(item: Record<string, AttributeValue>): Inbox {
    const at = this.at(item[PARTITION_KEY]?.S ?? '?');
    const parsed = parseStored(inboxItem, item, at);
    return {
      agent: parsed.pk.slice(INBOX_KEY_PREFIX.length),
      generation: parsed.generation,
      entries: parseStoredJson(inboxEntriesSchema, parsed.entries, at),
      updatedAt: parsed.updatedAt,
    };
  }

  private at(k: string) {
    const where = `DynamoDB item ${k} of ${this.table.tableName}`;
    return { where, fix: `delete ${where}: the next delivery writes it again` };
  }
}

const key = (pk: string): Record<string, AttributeValue> => ({ [PARTITION_KEY]: S(pk) });
