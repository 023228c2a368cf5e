import { readFileSync } from 'node:fs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Route53Client } from '@aws-sdk/client-route-53';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { AcmeAccounts, AcmeCertificateAuthority } from '../shared/acme/index.js';
import { SecretsManagerReader } from '../shared/aws/secrets.js';
import { Dns01Solver } from '../shared/challenges/dns01/solver.js';
import { Route53DnsProvider } from '../shared/challenges/dns01/route53.js';
import { S3Http01Solver } from '../shared/challenges/http01/s3.js';
import type { ChallengeSolver } from '../shared/challenges/solver.js';
import type { EventPublisher } from '../shared/events/publisher.js';
import { SnsPublisher } from '../shared/events/sns.js';
import { DynamoInventory } from '../shared/inventory/dynamodb.js';
import type { Inventory } from '../shared/inventory/inventory.js';
import { DynamoLeaseLock } from '../shared/lock/dynamodb.js';
import { type Clock, systemClock } from '../shared/model/clock.js';
import { ValidationError } from '../shared/model/errors.js';
import type { Log } from '../shared/model/log.js';
import { parseRuntimeEnv, type RuntimeEnv } from '../shared/model/runtime-config.js';
import type { CertificateSpec } from '../shared/model/spec.js';
import type { WorkQueue } from '../shared/queue/queue.js';
import { SqsWorkQueue } from '../shared/queue/sqs.js';
import type { RenewDeps } from '../shared/renew.js';
import { S3CertificateStore, S3ObjectStore } from '../shared/store/s3-store.js';

/**
 * The composition root: reads the environment once per cold start and builds the AWS
 * clients and adapters every handler shares. Nothing here decides anything.
 */
export interface Runtime {
  env: RuntimeEnv;
  clock: Clock;
  log: Log;
  metrics: Metrics;
  inventory: Inventory;
  queue(): WorkQueue;
  renewDeps: RenewDeps;
}

/** What tests may replace; Lambdas always run on the system clock and Math.random. */
export interface RuntimeOverrides {
  clock?: Clock;
  random?: () => number;
}

let current: Promise<Runtime> | undefined;
let overrides: RuntimeOverrides = {};

export function runtime(): Promise<Runtime> {
  if (!current) {
    current = withSecrets(process.env).then((env) => buildRuntime(env, overrides));
    // A failed cold start (a secret unreadable) is not cached: the next invocation retries.
    current.catch(() => (current = undefined));
  }
  return current;
}

/** Resolves the EAB HMAC key from Secrets Manager when the stack gave its ARN. */
async function withSecrets(env: NodeJS.ProcessEnv): Promise<NodeJS.ProcessEnv> {
  const arn = env.CERTKEEPER_EAB_HMAC_SECRET_ARN;
  if (!arn || env.CERTKEEPER_EAB_HMAC_KEY) return env;
  const reader = new SecretsManagerReader(new SecretsManagerClient({ region: env.AWS_REGION }));
  return { ...env, CERTKEEPER_EAB_HMAC_KEY: await reader.read(arn) };
}

/** Tests re-point the handlers at other peers (or another clock); Lambdas never call this. */
export function resetRuntime(next: RuntimeOverrides = {}): void {
  current = undefined;
  overrides = next;
}

export function buildRuntime(environment: NodeJS.ProcessEnv, options: RuntimeOverrides = {}): Runtime {
  const env = parseRuntimeEnv(environment);
  const clock = options.clock ?? systemClock;
  const log = toLog(new Logger({ serviceName: 'certkeeper' }));
  const metrics = new Metrics({ namespace: 'certkeeper', serviceName: 'certkeeper' });
  const region = env.AWS_REGION;

  const s3 = new S3Client({ region, forcePathStyle: env.CERTKEEPER_S3_FORCE_PATH_STYLE });
  const objects = new S3ObjectStore(s3, {
    bucket: env.CERTKEEPER_BUCKET,
    kmsKeyId: env.CERTKEEPER_KMS_KEY_ID,
    clock,
  });
  const table = { client: new DynamoDBClient({ region }), tableName: env.CERTKEEPER_TABLE, clock };
  const inventory = new DynamoInventory(table);
  const events: EventPublisher = env.CERTKEEPER_TOPIC_ARN
    ? new SnsPublisher(new SNSClient({ region }), { topicArn: env.CERTKEEPER_TOPIC_ARN, clock })
    : { publish: async (event) => log.info('event (no topic configured)', { event }) };

  const ca = new AcmeCertificateAuthority({
    directoryUrl: env.CERTKEEPER_DIRECTORY_URL,
    accounts: new AcmeAccounts(objects, { clock }),
    email: env.CERTKEEPER_CONTACT,
    eab:
      env.CERTKEEPER_EAB_KID && env.CERTKEEPER_EAB_HMAC_KEY
        ? { kid: env.CERTKEEPER_EAB_KID, hmacKey: env.CERTKEEPER_EAB_HMAC_KEY }
        : undefined,
    caPem: readPem(env.CERTKEEPER_ACME_CA_PEM),
    clock,
    warn: (message, extra) => log.warn(message, extra),
  });

  const route53 = new Route53DnsProvider(new Route53Client({ region }));
  const http01 = new S3Http01Solver({ store: objects });
  const nameservers = env.CERTKEEPER_DNS_RESOLVERS?.split(',').map((s) => s.trim());
  const solverFor = (spec: CertificateSpec): ChallengeSolver =>
    spec.challenge === 'http-01'
      ? http01
      : new Dns01Solver({ provider: route53, hostedZoneId: spec.hostedZoneId, nameservers, log });

  let queue: WorkQueue | undefined;
  return {
    env,
    clock,
    log,
    metrics,
    inventory,
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
    renewDeps: {
      clock,
      inventory,
      lock: new DynamoLeaseLock(table),
      store: new S3CertificateStore(s3, {
        bucket: env.CERTKEEPER_BUCKET,
        kmsKeyId: env.CERTKEEPER_KMS_KEY_ID,
        clock,
      }),
      ca,
      solverFor,
      events,
      bucket: env.CERTKEEPER_BUCKET,
      log,
      random: options.random,
    },
  };
}

/** The ACME server's CA, given inline as PEM or as a file path. */
function readPem(value: string | undefined): string | undefined {
  if (!value) return undefined;
  return value.startsWith('-----BEGIN') ? value : readFileSync(value, 'utf8');
}

/** Powertools' Logger behind the small Log port shared/ writes to. */
function toLog(logger: Logger): Log {
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
