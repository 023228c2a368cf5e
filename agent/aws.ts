import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { AgentConfig } from './config.js';

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
