import {
  type AttributeValue,
  GetItemCommand,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import * as z from 'zod';
import { type DynamoTableOptions, sendDynamo, untilLanded } from '../dynamo/call.js';
import { S, stringAttribute } from '../dynamo/item.js';
import { AGENT_KEY_PREFIX, PARTITION_KEY, agentKey } from '../dynamo/table.js';
import { parseStored, parseStoredJson } from '../lock/stored.js';
import { type AgentRecord, agentRecordSchema, parseAgentName } from '../model/agent.js';
import { IntegrityError } from '../model/errors.js';
import type { AgentRegistry } from './registry.js';

const agentItem = z.object({ pk: stringAttribute, record: stringAttribute });

/**
 * The registry on `agent#<name>` items of the deployment table (see dynamo/table.ts): the
 * record as JSON text, validated on every read. Reads are strongly consistent: enrolment
 * reads the token it is about to consume, and removal must not be answered from before it.
 */
export class DynamoAgentRegistry implements AgentRegistry {
  constructor(private readonly table: DynamoTableOptions) {}

  async get(name: string): Promise<AgentRecord | undefined> {
    parseAgentName(name);
    return (await this.read(name))?.record;
  }

  async list(): Promise<AgentRecord[]> {
    const records: AgentRecord[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await sendDynamo(this.table, { operation: 'Scan', key: `${AGENT_KEY_PREFIX}*` }, () =>
        this.table.client.send(
          new ScanCommand({
            TableName: this.table.tableName,
            FilterExpression: 'begins_with(#pk, :prefix)',
            ExpressionAttributeNames: { '#pk': PARTITION_KEY },
            ExpressionAttributeValues: { ':prefix': S(AGENT_KEY_PREFIX) },
            ConsistentRead: true,
            ExclusiveStartKey: start,
          }),
        ),
      );
      for (const item of out.Items ?? []) records.push(this.parse(item).record);
      start = out.LastEvaluatedKey;
    } while (start);
    return records.sort((a, b) => a.name.localeCompare(b.name));
  }

  async update(
    name: string,
    change: (stored: AgentRecord | undefined) => AgentRecord | undefined,
  ): Promise<AgentRecord | undefined> {
    parseAgentName(name);
    return untilLanded(`changing agent ${name}`, async () => {
      const stored = await this.read(name);
      const next = change(stored?.record);
      if (!next) return { value: undefined };
      if (next.name !== name) throw new Error(`registry: a record for ${next.name} written as ${name}`);
      const text = JSON.stringify(agentRecordSchema.parse(next));
      const written = await sendDynamo(
        this.table,
        { operation: 'UpdateItem', key: agentKey(name) },
        async () => {
          await this.table.client.send(
            new UpdateItemCommand({
              TableName: this.table.tableName,
              Key: { [PARTITION_KEY]: S(agentKey(name)) },
              UpdateExpression: 'SET #record = :record',
              ConditionExpression: stored ? '#record = :read' : 'attribute_not_exists(#pk)',
              ExpressionAttributeNames: stored
                ? { '#record': 'record' }
                : { '#record': 'record', '#pk': PARTITION_KEY },
              ExpressionAttributeValues: stored
                ? { ':record': S(text), ':read': S(stored.text) }
                : { ':record': S(text) },
            }),
          );
          return true;
        },
        () => false,
      );
      return written ? { value: next } : undefined;
    });
  }

  private async read(name: string): Promise<{ record: AgentRecord; text: string } | undefined> {
    const out = await sendDynamo(this.table, { operation: 'GetItem', key: agentKey(name) }, () =>
      this.table.client.send(
        new GetItemCommand({
          TableName: this.table.tableName,
          Key: { [PARTITION_KEY]: S(agentKey(name)) },
          ConsistentRead: true,
        }),
      ),
    );
    return out.Item ? this.parse(out.Item) : undefined;
  }

  private parse(item: Record<string, AttributeValue>): { record: AgentRecord; text: string } {
    const where = `DynamoDB item ${item[PARTITION_KEY]?.S ?? '?'} of ${this.table.tableName}`;
    const fix = `restore ${where} from a backup, or remove the agent and add it again`;
    const { pk, record: text } = parseStored(agentItem, item, { where, fix });
    const record = parseStoredJson(agentRecordSchema, text, { where, fix });
    if (agentKey(record.name) !== pk) {
      throw new IntegrityError(`${where} holds the record of agent ${record.name}`, fix);
    }
    return { record, text };
  }
}
