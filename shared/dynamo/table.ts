import {
  type AttributeDefinition,
  type CreateTableCommandInput,
  CreateTableCommand,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
  type KeySchemaElement,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { callAws } from '../aws/errors.js';

/**
 * The one DynamoDB table of a deployment (single-table design). Infra (CDK) and tests both
 * build it from these constants, so the table the code talks to is the table that exists.
 *
 * Items, all under the string partition key `pk`:
 * - `cert#<name>`: `spec` (S, JSON of CertificateSpec), `state` (B, gzip of the
 *   JSON of CertificateState; S, the JSON itself, in items written before), `fence` (N, fencing token of the last claim or state write), and, only while
 *   the state has a `dueAt` (every certificate but a retired one), `dueShard` (S, always
 *   "due") + `dueAt` (S, `dueIndexTime(state.dueAt)`) for `due-index`.
 * - `lock#<name>`: `owner` (S, absent when free), `expiresAt` (N, epoch ms), `fence` (N,
 *   counter, never reset by us), `ttl` (N, epoch seconds; DynamoDB TTL cleanup only).
 * - `meta#scheduler`: the scheduler's heartbeat, `at` (S, ISO-8601), `checked` and
 *   `enqueued` (N) of the last completed tick.
 * - `agent#<name>`: the agent registry, `record` (S, JSON of AgentRecord: selector, status,
 *   the enrolment token's SHA-256, identity serial and dates, delivery key, revocations).
 * - `meta#agent-crl`: the agents' CRL last published to Roles Anywhere: `record` (S, JSON:
 *   its number, the SHA-256 of what it revokes, the CRL's ARN).
 *
 * Spec and state are JSON rather than maps: no marshalling layer, and the item is
 * validated with zod on every read anyway. The state is compressed because it is rewritten
 * several times per renewal and DynamoDB bills every write by the item's size.
 */
export const PARTITION_KEY = 'pk';
/** Attribute DynamoDB TTL is enabled on (CDK `timeToLiveAttribute`). */
export const TTL_ATTRIBUTE = 'ttl';
export const DUE_INDEX_NAME = 'due-index';
/** The constant partition of `due-index`; one shard is plenty for thousands of certificates. */
export const DUE_SHARD = 'due';
export const DUE_SHARD_ATTRIBUTE = 'dueShard';
export const DUE_AT_ATTRIBUTE = 'dueAt';

export const certKey = (name: string): string => `cert#${name}`;
export const lockKey = (name: string): string => `lock#${name}`;
export const CERT_KEY_PREFIX = certKey('');
export const agentKey = (name: string): string => `agent#${name}`;
export const AGENT_KEY_PREFIX = agentKey('');
export const AGENT_CRL_KEY = 'meta#agent-crl';
/** Not a certificate: `list()` skips it by the `cert#` prefix, the due index by its absence. */
export const SCHEDULER_KEY = 'meta#scheduler';

/**
 * The `dueAt` sort key: ISO-8601 UTC with milliseconds, fixed width, so string order is
 * time order. A state may carry another offset ("+00:00"), which would not compare.
 */
export const dueIndexTime = (at: string | Date): string => new Date(at).toISOString();

/** Key schema in the SDK's words; CDK: `partitionKey: { name: PARTITION_KEY, type: STRING }`. */
export const KEY_SCHEMA: KeySchemaElement[] = [{ AttributeName: PARTITION_KEY, KeyType: 'HASH' }];

export const ATTRIBUTE_DEFINITIONS: AttributeDefinition[] = [
  { AttributeName: PARTITION_KEY, AttributeType: 'S' },
  { AttributeName: DUE_SHARD_ATTRIBUTE, AttributeType: 'S' },
  { AttributeName: DUE_AT_ATTRIBUTE, AttributeType: 'S' },
];

/**
 * Sparse index of certificates that say when they are next due: only items carrying
 * `dueShard` appear. Projects everything so the due query needs no second read.
 */
export const DUE_INDEX: GlobalSecondaryIndex = {
  IndexName: DUE_INDEX_NAME,
  KeySchema: [
    { AttributeName: DUE_SHARD_ATTRIBUTE, KeyType: 'HASH' },
    { AttributeName: DUE_AT_ATTRIBUTE, KeyType: 'RANGE' },
  ],
  Projection: { ProjectionType: 'ALL' },
};

/** The CreateTable request for tests and local setups (on demand billing, the due index). */
export function createTableInput(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    KeySchema: KEY_SCHEMA,
    AttributeDefinitions: ATTRIBUTE_DEFINITIONS,
    GlobalSecondaryIndexes: [DUE_INDEX],
    BillingMode: 'PAY_PER_REQUEST',
  };
}

/** Creates the table and waits until it is ACTIVE (tests, DynamoDB Local). */
export async function createTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await callAws(
    {
      service: 'DynamoDB',
      operation: 'CreateTable',
      resource: tableName,
      client,
    },
    async () => {
      await client.send(new CreateTableCommand(createTableInput(tableName)));
      await waitUntilTableExists({ client, maxWaitTime: 60 }, { TableName: tableName });
    },
  );
}
