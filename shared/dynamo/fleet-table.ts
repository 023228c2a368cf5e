import {
  CreateTableCommand,
  type CreateTableCommandInput,
  type DynamoDBClient,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { callAws } from '../aws/errors.js';
import { PARTITION_KEY } from './table.js';

/**
 * The fleet table: what agents read and write themselves, apart from the deployment table
 * (which holds the inventory, the leases and the registry, and which no agent may touch).
 * Encrypted with an AWS owned key on purpose: DynamoDB asks KMS for a customer managed
 * table key per caller connection, every five minutes, and a fleet of agents polling would
 * turn that into a KMS bill larger than the rest (about $0.026 per agent-month); nothing
 * here is secret (serials, dates, statuses, object keys).
 *
 * Items, all under the string partition key `pk`:
 * - `poll#<agent>`: `generation` (N), what the agent polls every few seconds: one small
 *   eventually consistent read, whatever the number of its certificates.
 * - `inbox#<agent>`: `generation` (N) and `entries` (S, JSON: per certificate the serial, the
 *   envelope's key and SHA-256, the identifiers and notAfter), read when the generation moves.
 * - `report#<agent>`: `report` (S, JSON of AgentReport), written by the agent itself.
 * The agent role may read `poll#` and `inbox#` and write `report#` of its own name only
 * (dynamodb:LeadingKeys with the session's principal tag).
 */
export const pollKey = (agent: string): string => `poll#${agent}`;
export const inboxKey = (agent: string): string => `inbox#${agent}`;
export const reportKey = (agent: string): string => `report#${agent}`;
export const INBOX_KEY_PREFIX = inboxKey('');
export const REPORT_KEY_PREFIX = reportKey('');

export function createFleetTableInput(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    KeySchema: [{ AttributeName: PARTITION_KEY, KeyType: 'HASH' }],
    AttributeDefinitions: [{ AttributeName: PARTITION_KEY, AttributeType: 'S' }],
    BillingMode: 'PAY_PER_REQUEST',
  };
}

/** Creates the fleet table and waits until it is ACTIVE (tests, DynamoDB Local). */
export async function createFleetTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await callAws({ service: 'DynamoDB', operation: 'CreateTable', resource: tableName, client }, async () => {
    await client.send(new CreateTableCommand(createFleetTableInput(tableName)));
    await waitUntilTableExists({ client, maxWaitTime: 60 }, { TableName: tableName });
  });
}
