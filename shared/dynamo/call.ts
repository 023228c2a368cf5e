import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { describeEndpoint, isAwsPreconditionFailed, translateAwsError } from '../aws/errors.js';
import { type Clock, systemClock } from '../model/clock.js';
import { type CertkeeperError, ConflictError } from '../model/errors.js';
import { cancellationReasons } from './item.js';

/** Constructor options shared by the DynamoDB adapters. */
export interface DynamoTableOptions {
  client: DynamoDBClient;
  /** The deployment's table (see table.ts for its layout). */
  tableName: string;
  /** Source of time for lease expiry and initial states; defaults to the system clock. */
  clock?: Clock;
}

export interface DynamoRequest {
  operation: string;
  /** The item's key, for messages. */
  key: string;
  /** IAM actions, when they differ from dynamodb:<operation> (transactions). */
  permissions?: readonly string[];
}

/**
 * Runs one DynamoDB request. A failed condition (busy lock, lost lease) is an expected
 * outcome, so it goes to `onConditionFailed` untranslated, with the transaction's
 * cancellation reasons intact; anything else becomes a project error naming table and item.
 */
export async function sendDynamo<T>(
  table: DynamoTableOptions,
  request: DynamoRequest,
  send: () => Promise<T>,
  onConditionFailed?: (err: unknown) => T | Promise<T>,
): Promise<T> {
  try {
    return await send();
  } catch (err) {
    if (onConditionFailed && (isAwsPreconditionFailed(err) || cancellationReasons(err) !== undefined)) {
      return await onConditionFailed(err);
    }
    throw await translateDynamoError(table, request, err);
  }
}

/** A project error naming table and item, for anything DynamoDB threw. */
export async function translateDynamoError(
  table: DynamoTableOptions,
  request: DynamoRequest,
  err: unknown,
): Promise<CertkeeperError> {
  return translateAwsError(err, {
    service: 'DynamoDB',
    operation: request.operation,
    resource: `${table.tableName} item ${request.key}`,
    ...(request.permissions ? { permissions: request.permissions } : {}),
    clock: table.clock ?? systemClock,
    endpoint: await describeEndpoint(table.client),
  });
}

/**
 * Runs an optimistic write (read, decide, conditional write) until it lands: `attempt`
 * returns the result, or undefined when its condition lost to another writer. Backs off with
 * jitter between tries, so writers racing for one item spread out instead of colliding again.
 */
export async function untilLanded<T>(
  what: string,
  attempt: () => Promise<{ value: T } | undefined>,
  attempts = 12,
): Promise<T> {
  for (let i = 1; i <= attempts; i++) {
    const landed = await attempt();
    if (landed) return landed.value;
    await new Promise((resolve) => setTimeout(resolve, 10 * i * (1 + Math.random())));
  }
  throw new ConflictError(`${what} collided with other writes ${attempts} times; try again`);
}
