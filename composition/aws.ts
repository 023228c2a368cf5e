import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoInventory } from '../shared/inventory/dynamodb.js';
import { DynamoHeartbeat } from '../shared/heartbeat/dynamodb.js';
import type { Heartbeat } from '../shared/heartbeat/heartbeat.js';
import type { Inventory } from '../shared/inventory/inventory.js';
import { type Clock, systemClock } from '../shared/model/clock.js';
import { ValidationError } from '../shared/model/errors.js';
import type { Log } from '../shared/model/log.js';
import { parseRuntimeEnv, type RuntimeEnv } from '../shared/model/runtime-config.js';
import type { WorkQueue } from '../shared/queue/queue.js';
import { SqsWorkQueue } from '../shared/queue/sqs.js';

/**
 * The AWS composition: what every handler shares (inventory, heartbeat, queue, logging,
 * metrics), built from the environment the stack sets. The renewal machinery (ACME, S3,
 * Route53, the lock) is composed in aws-issuer.ts, so the scheduler's bundle does not carry
 * it; the local composition (local.ts) is its counterpart without AWS. The handlers build
 * it once per cold start (functions/runtime.ts); the CLI builds it for the stack it talks
 * to (cli/context.ts). Nothing here decides anything.
 */
export interface Runtime {
  env: RuntimeEnv;
  clock: Clock;
  log: Log;
  metrics: Metrics;
  inventory: Inventory;
  heartbeat: Heartbeat;
  queue(): WorkQueue;
  /** Kept for the issuer's composition (aws-issuer.ts). */
  overrides: RuntimeOverrides;
}

/** What tests may replace; Lambdas always run on the system clock and Math.random. */
export interface RuntimeOverrides {
  clock?: Clock;
  random?: () => number;
  /** How long a forced request waits for a busy lease (usecases/renew-requested.ts). */
  busyWaitMs?: number;
}

export function buildRuntime(environment: NodeJS.ProcessEnv, options: RuntimeOverrides = {}): Runtime {
  const env = parseRuntimeEnv(environment);
  const clock = options.clock ?? systemClock;
  const log = toLog(new Logger({ serviceName: 'certkeeper' }));
  const metrics = new Metrics({ namespace: 'certkeeper', serviceName: 'certkeeper' });
  const region = env.AWS_REGION;

  const table = { client: new DynamoDBClient({ region }), tableName: env.CERTKEEPER_TABLE, clock };
  const inventory = new DynamoInventory(table);
  const heartbeat = new DynamoHeartbeat(table);

  let queue: WorkQueue | undefined;
  return {
    env,
    clock,
    log,
    metrics,
    inventory,
    heartbeat,
    queue: () => {
      if (!env.CERTKEEPER_QUEUE_URL) {
        throw new ValidationError(
          'environment.CERTKEEPER_QUEUE_URL',
          'is not set',
          'set it to the issuer queue URL',
        );
      }
      return (queue ??= new SqsWorkQueue(new SQSClient({ region }), env.CERTKEEPER_QUEUE_URL));
    },
    overrides: options,
  };
}

/** Powertools' Logger behind the small Log port shared/ writes to. */
export function toLog(logger: Logger): Log {
  const level =
    (fn: (message: string, ...extra: [Record<string, unknown>] | []) => void) =>
    (message: string, extra?: Record<string, unknown>) =>
      extra ? fn.call(logger, message, extra) : fn.call(logger, message);
  return {
    debug: level(logger.debug),
    info: level(logger.info),
    warn: level(logger.warn),
    error: level(logger.error),
  };
}
