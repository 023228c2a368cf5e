import {
  AccessDeniedError,
  CertkeeperError,
  ConflictError,
  NotFoundError,
  RetryLaterError,
  UnreachableError,
} from '../model/errors.js';
import { type Clock, systemClock } from '../model/clock.js';

/**
 * The one translator from AWS SDK v3 errors to certkeeper's error classes, shared by every
 * AWS adapter (S3, Route53, SNS, DynamoDB), so that operators read the same kind of message
 * whatever service failed: what was being done, on what, and what to change.
 */
export interface AwsCallContext {
  /** Service as people know it: "S3", "Route53", "SNS", "DynamoDB". */
  service: string;
  /** The API operation, e.g. "PutObject". */
  operation: string;
  /** What was being touched, e.g. "s3://bucket/key" or a table name, for the message. */
  resource?: string;
  /**
   * IAM actions the call needs, named in the fix of an access-denied error. Defaults to
   * `<service prefix>:<operation>`; give it explicitly when more is involved (SSE-KMS writes
   * also need kms:GenerateDataKey, reads kms:Decrypt).
   */
  permissions?: readonly string[];
  /** The endpoint the client talks to, named when it cannot be reached. */
  endpoint?: string;
  /** Throttling becomes a RetryLaterError this long after `clock.now()`. */
  clock?: Clock;
}

/** How long to come back after throttling that survived the SDK's own retries. */
const THROTTLE_BACKOFF_MS = 60_000;

// Names as the SDK reports them (`err.name`), from the services certkeeper calls. The SDK
// retries these itself first; what reaches us has exhausted those attempts.
const THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'SlowDown',
  'PriorRequestNotComplete',
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'TransactionInProgressException',
]);
const ACCESS_DENIED = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'AuthorizationError',
  'Forbidden',
  'KMS.AccessDeniedException',
  'UnauthorizedOperation',
]);
const BAD_CREDENTIALS = new Set([
  'CredentialsProviderError',
  'InvalidAccessKeyId',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'ExpiredTokenException',
]);
const CLOCK_SKEW = new Set(['RequestTimeTooSkewed', 'RequestExpired', 'RequestInTheFuture']);
const NOT_FOUND: Record<string, string> = {
  NoSuchBucket: 'bucket',
  NoSuchKey: 'object',
  NotFound: 'object',
  NoSuchHostedZone: 'hosted zone',
  NoSuchChange: 'change',
  ResourceNotFoundException: 'resource',
  NotFoundException: 'resource',
  'AWS.SimpleQueueService.NonExistentQueue': 'queue',
  QueueDoesNotExist: 'queue',
};
const CONFLICT = new Set([
  'PreconditionFailed',
  'ConditionalRequestConflict',
  'ConditionalCheckFailedException',
  'TransactionCanceledException',
]);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
const TIMEOUT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);

const IAM_PREFIX: Record<string, string> = {
  S3: 's3',
  Route53: 'route53',
  SNS: 'sns',
  SQS: 'sqs',
  DynamoDB: 'dynamodb',
  KMS: 'kms',
};

interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  address?: string;
  port?: number;
  errors?: unknown[];
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number; requestId?: string };
  $retryable?: { throttling?: boolean };
}

/** Translates anything an AWS SDK call threw. CertkeeperErrors pass through unchanged. */
export function translateAwsError(err: unknown, ctx: AwsCallContext): CertkeeperError {
  if (err instanceof CertkeeperError) return err;
  const e = shape(err);
  const name = e.name ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const what = `${ctx.service} ${ctx.operation}${ctx.resource ? ` on ${ctx.resource}` : ''}`;
  const detail = `${name}${status ? ` (HTTP ${status})` : ''}${e.message && e.message !== name ? `: ${e.message}` : ''}`;

  const network = networkCode(e);
  if (network || TIMEOUT_NAMES.has(name)) {
    const endpoint = e.address ? `${e.address}${e.port ? `:${e.port}` : ''}` : ctx.endpoint;
    return new UnreachableError(
      `${what} failed: the ${ctx.service} endpoint ${endpoint ?? '(default for the region)'} is unreachable (${network ?? name})`,
      `check the ${ctx.service} endpoint and region in the configuration and that the network path to it is open (VPC endpoint, NAT, security group)`,
      err,
    );
  }
  if (THROTTLING.has(name) || e.$retryable?.throttling || status === 429) {
    const now = (ctx.clock ?? systemClock).now().getTime();
    return new RetryLaterError(
      `${what} was throttled: ${detail}`,
      new Date(now + THROTTLE_BACKOFF_MS),
      name,
      err,
    );
  }
  if (ACCESS_DENIED.has(name) || (status === 403 && !BAD_CREDENTIALS.has(name) && !CLOCK_SKEW.has(name))) {
    const permissions = ctx.permissions ?? [
      `${IAM_PREFIX[ctx.service] ?? ctx.service.toLowerCase()}:${ctx.operation}`,
    ];
    return new AccessDeniedError(
      `${what} was denied: ${detail}`,
      `grant ${permissions.join(' and ')}${ctx.resource ? ` on ${ctx.resource}` : ''} to the role certkeeper runs as`,
      err,
    );
  }
  if (BAD_CREDENTIALS.has(name)) {
    return new CertkeeperError(
      'internal',
      `${what} was refused: the AWS credentials are not valid (${detail})`,
      {
        // Expired session credentials are refreshed by the SDK on the next attempt.
        retryable: name.startsWith('Expired'),
        fix: 'check the AWS credentials (environment, profile or role) certkeeper runs with',
        cause: err,
      },
    );
  }
  if (CLOCK_SKEW.has(name)) {
    return new CertkeeperError('internal', `${what} was refused: the local clock is off (${detail})`, {
      retryable: false,
      fix: 'synchronise the system clock (NTP)',
      cause: err,
    });
  }
  const missing = NOT_FOUND[name];
  if (missing) {
    return new NotFoundError(
      `${what} failed: the ${ctx.service} ${missing} does not exist (${detail})`,
      `create it, or correct its name in the configuration`,
    );
  }
  if (CONFLICT.has(name) || status === 412) {
    return new ConflictError(`${what} lost a conditional write: ${detail}`);
  }
  const serverSide = e.$fault === 'server' || (status !== undefined && status >= 500);
  return new CertkeeperError('internal', `${what} failed: ${detail}`, {
    retryable: serverSide,
    fix: serverSide ? undefined : 'this request was rejected as invalid; report it with the message above',
    cause: err,
  });
}

/**
 * Runs one SDK call and translates what it throws. `endpoint` is resolved only on failure,
 * so the happy path pays nothing for the nicer message.
 */
export async function callAws<T>(
  ctx: AwsCallContext & { client?: EndpointAware },
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const endpoint = ctx.endpoint ?? (ctx.client ? await describeEndpoint(ctx.client) : undefined);
    throw translateAwsError(err, { ...ctx, endpoint });
  }
}

/** True for the SDK's "object/key does not exist" errors, which adapters turn into `undefined`. */
export function isAwsNotFound(err: unknown): boolean {
  const e = shape(err);
  return (
    e.name === 'NoSuchKey' ||
    e.name === 'NotFound' ||
    (e.$metadata?.httpStatusCode === 404 && e.name !== 'NoSuchBucket')
  );
}

/** True when a conditional write (If-None-Match, DynamoDB condition) did not hold. */
export function isAwsPreconditionFailed(err: unknown): boolean {
  const e = shape(err);
  return (
    e.name === 'PreconditionFailed' ||
    e.name === 'ConditionalCheckFailedException' ||
    e.$metadata?.httpStatusCode === 412
  );
}

/** The part of an SDK client's config that says where it sends requests. */
export interface EndpointAware {
  config: {
    endpoint?: () => Promise<{ protocol?: string; hostname?: string; port?: number; path?: string }>;
    region?: string | (() => Promise<string>);
  };
}

/** "http://127.0.0.1:5000" for a custom endpoint, "the AWS endpoint in eu-west-1" otherwise. */
export async function describeEndpoint(client: EndpointAware): Promise<string | undefined> {
  try {
    const ep = await client.config.endpoint?.();
    if (ep?.hostname) return `${ep.protocol ?? 'https:'}//${ep.hostname}${ep.port ? `:${ep.port}` : ''}`;
    const region =
      typeof client.config.region === 'function' ? await client.config.region() : client.config.region;
    return region ? `(AWS, region ${region})` : undefined;
  } catch {
    return undefined;
  }
}

function shape(err: unknown): SdkErrorShape {
  return typeof err === 'object' && err !== null ? (err as SdkErrorShape) : { message: String(err) };
}

/** Node reports a refused dual-stack connect as an AggregateError holding the real codes. */
function networkCode(e: SdkErrorShape): string | undefined {
  if (e.code && NETWORK_CODES.has(e.code)) return e.code;
  for (const inner of e.errors ?? []) {
    const code = shape(inner).code;
    if (code && NETWORK_CODES.has(code)) return code;
  }
  return undefined;
}
