import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { KMSClient } from '@aws-sdk/client-kms';
import { RolesAnywhereClient } from '@aws-sdk/client-rolesanywhere';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import * as z from 'zod';
import { sqsDeliveryRequests, sqsShardRequests } from '../shared/agents/delivery-requests.js';
import { DynamoAgentRegistry } from '../shared/agents/dynamodb.js';
import { DynamoAgentInboxes } from '../shared/agents/inbox-dynamodb.js';
import { KmsCaSigner } from '../shared/identity/kms-signer.js';
import { RolesAnywhereCrlTarget } from '../shared/identity/rolesanywhere-crl.js';
import { DynamoInventory } from '../shared/inventory/dynamodb.js';
import type { Clock } from '../shared/model/clock.js';
import { ValidationError } from '../shared/model/errors.js';
import { zodToValidationError } from '../shared/model/json.js';
import { S3CertificateStore, S3ObjectStore } from '../shared/store/s3-store.js';
import type { IdentityDeps } from '../shared/usecases/agent-identity.js';
import type { DeliveryDeps } from '../shared/usecases/deliver-certificates.js';
import type { CrlDeps } from '../shared/usecases/publish-agent-crl.js';
import { toLog } from './aws.js';

/**
 * The composition of the agent-facing Lambdas (identity, deliver), from
 * the environment the stack sets, built once per cold start by functions/agents-runtime.ts
 * (what an operator command reaches of it is operator-agents.ts). Nothing here decides
 * anything.
 */
const optional = z
  .string()
  .optional()
  .transform((v) => (v === '' ? undefined : v));

/**
 * 1,000 agents take one deliver invocation about 17 s with 512 MB's CPU (bench:fleet); a
 * certificate for 10,000 is then 10 shards, five at a time (the event source's concurrency).
 */
const DELIVER_SHARD_SIZE = 1000;

const agentsEnv = z.object({
  AWS_REGION: z.string().default('us-east-1'),
  CERTKEEPER_TABLE: z.string().min(3),
  CERTKEEPER_BUCKET: z.string().min(3),
  CERTKEEPER_FLEET_TABLE: z.string().min(3),
  CERTKEEPER_KMS_KEY_ID: optional,
  CERTKEEPER_S3_FORCE_PATH_STYLE: optional.transform((v) => v === 'true' || v === '1'),
  CERTKEEPER_AGENT_CA_KEY_ID: optional,
  CERTKEEPER_AGENT_CA_CERT: optional,
  CERTKEEPER_AGENT_IDENTITY_SECONDS: optional.transform((v) => (v === undefined ? undefined : Number(v))),
  CERTKEEPER_AGENT_TRUST_ANCHOR_ARN: optional,
  CERTKEEPER_AGENT_PROFILE_ARN: optional,
  CERTKEEPER_AGENT_ROLE_ARN: optional,
  CERTKEEPER_DELIVER_QUEUE_URL: optional,
  /** Receiving agents one deliver invocation serves before a certificate's delivery is split. */
  CERTKEEPER_DELIVER_SHARD_SIZE: z.coerce.number().int().min(1).default(DELIVER_SHARD_SIZE),
  /** Only where Roles Anywhere is not the region's own endpoint (tests: the stand-in). */
  CERTKEEPER_ROLES_ANYWHERE_ENDPOINT: optional,
  /** A CA (PEM, or a file of it) to trust for that endpoint's TLS, beside the public roots. */
  CERTKEEPER_ROLES_ANYWHERE_CA: optional,
});
type AgentsEnv = z.output<typeof agentsEnv>;

export interface AgentsRuntime {
  env: AgentsEnv;
  clock: Clock;
  log: ReturnType<typeof toLog>;
  metrics: Metrics;
  delivery: DeliveryDeps;
  /** The identity function's dependencies; throws when the CA variables are missing. */
  identity(): IdentityDeps;
  crl(): CrlDeps;
  /** Asks for one agent's delivery (the deliver queue). */
  requestDelivery(agent: string): Promise<void>;
}

export function buildAgentsRuntime(environment: NodeJS.ProcessEnv, clock: Clock): AgentsRuntime {
  const parsed = agentsEnv.safeParse(environment);
  if (!parsed.success) throw zodToValidationError(parsed.error, 'environment');
  const env = parsed.data;
  const region = env.AWS_REGION;
  const log = toLog(new Logger({ serviceName: 'certkeeper' }));
  const metrics = new Metrics({ namespace: 'certkeeper', serviceName: 'certkeeper' });
  const dynamodb = new DynamoDBClient({ region });
  const table = { client: dynamodb, tableName: env.CERTKEEPER_TABLE, clock };
  const fleetTable = { client: dynamodb, tableName: env.CERTKEEPER_FLEET_TABLE, clock };
  const s3 = new S3Client({ region, forcePathStyle: env.CERTKEEPER_S3_FORCE_PATH_STYLE });
  const sqs = new SQSClient({ region });
  const registry = new DynamoAgentRegistry(table);
  const objectOptions = {
    bucket: env.CERTKEEPER_BUCKET,
    clock,
    ...(env.CERTKEEPER_KMS_KEY_ID ? { kmsKeyId: env.CERTKEEPER_KMS_KEY_ID } : {}),
  };
  const requestDelivery = (agent: string): Promise<void> =>
    sqsDeliveryRequests(
      sqs,
      required(env.CERTKEEPER_DELIVER_QUEUE_URL, 'CERTKEEPER_DELIVER_QUEUE_URL'),
      clock,
    )(agent);
  const ca = () => ({
    signer: new KmsCaSigner(
      new KMSClient({ region }),
      required(env.CERTKEEPER_AGENT_CA_KEY_ID, 'CERTKEEPER_AGENT_CA_KEY_ID'),
      clock,
    ),
    caCertificate: required(env.CERTKEEPER_AGENT_CA_CERT, 'CERTKEEPER_AGENT_CA_CERT'),
  });
  return {
    env,
    clock,
    log,
    metrics,
    requestDelivery,
    delivery: {
      registry,
      inventory: new DynamoInventory(table),
      store: new S3CertificateStore(s3, objectOptions),
      objects: new S3ObjectStore(s3, objectOptions),
      inboxes: new DynamoAgentInboxes(fleetTable),
      clock,
      log,
      ...(env.CERTKEEPER_DELIVER_QUEUE_URL
        ? {
            shards: {
              size: env.CERTKEEPER_DELIVER_SHARD_SIZE,
              request: sqsShardRequests(sqs, env.CERTKEEPER_DELIVER_QUEUE_URL, clock),
            },
          }
        : {}),
    },
    identity: () => ({
      registry,
      ...ca(),
      clock,
      log,
      lifetimeMs: (env.CERTKEEPER_AGENT_IDENTITY_SECONDS ?? 7 * 24 * 3600) * 1000,
      settings: {
        region,
        bucket: env.CERTKEEPER_BUCKET,
        fleetTable: env.CERTKEEPER_FLEET_TABLE,
        trustAnchorArn: required(env.CERTKEEPER_AGENT_TRUST_ANCHOR_ARN, 'CERTKEEPER_AGENT_TRUST_ANCHOR_ARN'),
        profileArn: required(env.CERTKEEPER_AGENT_PROFILE_ARN, 'CERTKEEPER_AGENT_PROFILE_ARN'),
        roleArn: required(env.CERTKEEPER_AGENT_ROLE_ARN, 'CERTKEEPER_AGENT_ROLE_ARN'),
        ...(env.CERTKEEPER_ROLES_ANYWHERE_ENDPOINT
          ? { rolesAnywhereEndpoint: env.CERTKEEPER_ROLES_ANYWHERE_ENDPOINT }
          : {}),
      },
      requestDelivery,
    }),
    crl: () => ({
      registry,
      ...ca(),
      clock,
      log,
      target: new RolesAnywhereCrlTarget(
        new RolesAnywhereClient({
          region,
          ...(env.CERTKEEPER_ROLES_ANYWHERE_ENDPOINT
            ? { endpoint: env.CERTKEEPER_ROLES_ANYWHERE_ENDPOINT }
            : {}),
          ...(env.CERTKEEPER_ROLES_ANYWHERE_CA
            ? {
                requestHandler: new NodeHttpHandler({
                  httpsAgent: new Agent({ ca: pemOrFile(env.CERTKEEPER_ROLES_ANYWHERE_CA) }),
                }),
              }
            : {}),
        }),
        {
          trustAnchorArn: required(
            env.CERTKEEPER_AGENT_TRUST_ANCHOR_ARN,
            'CERTKEEPER_AGENT_TRUST_ANCHOR_ARN',
          ),
          name: 'certkeeper-agents',
          clock,
        },
      ),
    }),
  };
}

const pemOrFile = (value: string): string =>
  value.includes('-----BEGIN') ? value : readFileSync(value, 'utf8');

function required(value: string | undefined, name: string): string {
  if (value === undefined) {
    throw new ValidationError(
      `environment.${name}`,
      'is not set',
      'the stack sets it on the identity function; redeploy',
    );
  }
  return value;
}
