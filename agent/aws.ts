import { readFileSync } from 'node:fs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { AgentInboxes } from '../shared/agents/inbox.js';
import { DynamoAgentInboxes } from '../shared/agents/inbox-dynamodb.js';
import { DynamoAgentReports } from '../shared/fleet/reports-dynamodb.js';
import { rolesAnywhereCredentials } from '../shared/identity/roles-anywhere.js';
import type { Clock } from '../shared/model/clock.js';
import { S3ObjectStore } from '../shared/store/s3-store.js';
import type { AgentConfig } from './config.js';
import { loadIdentity } from './identity.js';

/**
 * The agent's AWS clients. Credentials, and endpoints for tests or VPC endpoints, come from
 * the SDK's own chain (instance role, AWS_PROFILE, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3...);
 * CERTKEEPER_S3_FORCE_PATH_STYLE=true selects path-style S3 as the Lambdas do.
 */
export function agentS3Client(config: Pick<AgentConfig, 'region' | 'queueUrl'>): S3Client {
  const pathStyle = process.env.CERTKEEPER_S3_FORCE_PATH_STYLE;
  return new S3Client({
    region: agentRegion(config),
    forcePathStyle: pathStyle === 'true' || pathStyle === '1',
    // Bounded, so an unreachable bucket turns into a reported error (and maybe the
    // fallback) instead of a check that hangs; certificates are a few kilobytes.
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 30_000 },
  });
}

export function agentSqsClient(config: Pick<AgentConfig, 'region' | 'queueUrl'>): SQSClient {
  // Long polls last up to 20 s: the request timeout must outlast them.
  return new SQSClient({
    region: agentRegion(config),
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 40_000 },
  });
}

/** The config's region, else the SDK's environment, else the one in the queue URL. */
export function agentRegion(config: Pick<AgentConfig, 'region' | 'queueUrl'>): string | undefined {
  const fromQueue = config.queueUrl
    ? /^https:\/\/sqs\.([a-z0-9-]+)\.amazonaws\.com/.exec(config.queueUrl)?.[1]
    : undefined;
  return config.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? fromQueue;
}

/**
 * A registry agent's AWS credentials: IAM Roles Anywhere sessions signed with its own
 * identity, re-read from disk at every session so a renewed identity is used from the next.
 * `beforeSession` sees each session asked for (the fleet bench counts them).
 */
export function agentCredentials(
  identity: NonNullable<AgentConfig['identity']>,
  clock: Clock,
  endpointCaPem?: string,
  beforeSession?: () => void,
): ReturnType<typeof rolesAnywhereCredentials> {
  return rolesAnywhereCredentials(
    async () => {
      beforeSession?.();
      const current = await loadIdentity(identity.directory);
      return { certificatePem: current.certificatePem, privateKey: current.key };
    },
    {
      region: identity.region,
      ...(identity.rolesAnywhereEndpoint ? { endpoint: identity.rolesAnywhereEndpoint } : {}),
      trustAnchorArn: identity.trustAnchorArn,
      profileArn: identity.profileArn,
      roleArn: identity.roleArn,
      durationSeconds: AGENT_SESSION_SECONDS,
      ...(endpointCaPem ? { caPem: endpointCaPem } : {}),
    },
    { clock },
  );
}

/**
 * A registry agent's clients: credentials from IAM Roles Anywhere with its own identity
 * (re-read at every refresh, so a renewed identity is used from the next session), for the
 * bucket (its envelopes, challenge objects) and the fleet table (its inbox, its report).
 */
export function registryClients(
  config: AgentConfig,
  clock: Clock,
): { inboxes: AgentInboxes; objects: S3ObjectStore; reports: DynamoAgentReports; s3: S3Client } {
  const identity = config.identity!;
  const endpointCa = identity.endpointCaFile ? readFileSync(identity.endpointCaFile, 'utf8') : undefined;
  const credentials = agentCredentials(identity, clock, endpointCa);
  const pathStyle = process.env.CERTKEEPER_S3_FORCE_PATH_STYLE;
  const s3 = new S3Client({
    region: identity.region,
    credentials,
    forcePathStyle: pathStyle === 'true' || pathStyle === '1',
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 30_000 },
  });
  const dynamodb = new DynamoDBClient({
    region: identity.region,
    credentials,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 10_000 },
  });
  const fleetTable = { client: dynamodb, tableName: identity.fleetTable, clock };
  return {
    s3,
    inboxes: new DynamoAgentInboxes(fleetTable),
    objects: new S3ObjectStore(s3, { bucket: config.bucket, clock }),
    reports: new DynamoAgentReports(fleetTable),
  };
}

/**
 * The session length the agent asks Roles Anywhere for: the shortest it allows, so that a
 * removed agent's last credentials die within a quarter of an hour (the stack's profile
 * allows this much, infra/issuer/agents.ts).
 */
export const AGENT_SESSION_SECONDS = 900;
