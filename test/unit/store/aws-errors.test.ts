import { describe, expect, it } from 'vitest';
import { callAws, translateAwsError } from '../../../shared/aws/errors.js';
import { ManualClock } from '../../../shared/model/clock.js';
import {
  CertkeeperError,
  ConflictError,
  NotFoundError,
  RetryLaterError,
  UnreachableError,
} from '../../../shared/model/errors.js';

/** Errors shaped as the SDK v3 throws them (name, $fault, $metadata). */
const sdkError = (name: string, status: number, message = 'boom') =>
  Object.assign(new Error(message), {
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });

const ctx = { service: 'S3', operation: 'PutObject', resource: 's3://certs/certificates/web/current.json' };

describe('translateAwsError', () => {
  it('names the endpoint and service when the connection is refused', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4566'), {
      code: 'ECONNREFUSED',
      address: '127.0.0.1',
      port: 4566,
      $metadata: { attempts: 3 },
    });
    const err = translateAwsError(refused, ctx);
    expect(err).toBeInstanceOf(UnreachableError);
    expect(err.retryable).toBe(true);
    expect(err.message).toContain('127.0.0.1:4566');
    expect(err.message).toContain('S3 PutObject');
    expect(err.cause).toBe(refused);
  });

  it('treats SDK timeouts as unreachable, naming the configured endpoint', () => {
    const timeout = Object.assign(new Error('socket timed out'), { name: 'TimeoutError' });
    const err = translateAwsError(timeout, { ...ctx, endpoint: 'https://s3.eu-west-1.amazonaws.com' });
    expect(err).toBeInstanceOf(UnreachableError);
    expect(err.message).toContain('https://s3.eu-west-1.amazonaws.com');
  });

  it('names the permission to grant when access is denied', () => {
    const err = translateAwsError(sdkError('AccessDenied', 403), {
      ...ctx,
      permissions: ['s3:PutObject', 'kms:GenerateDataKey'],
    });
    expect(err.retryable).toBe(false);
    expect(err.fix).toContain('s3:PutObject and kms:GenerateDataKey');
    expect(err.fix).toContain('s3://certs/certificates/web/current.json');
    const derived = translateAwsError(sdkError('AccessDeniedException', 400), {
      service: 'DynamoDB',
      operation: 'PutItem',
    });
    expect(derived.fix).toContain('dynamodb:PutItem');
  });

  it('maps a missing bucket to NotFoundError', () => {
    const err = translateAwsError(sdkError('NoSuchBucket', 404, 'The specified bucket does not exist'), ctx);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toContain('bucket');
    expect(err.retryable).toBe(false);
  });

  it('makes throttling a RetryLaterError dated by the clock', () => {
    const clock = new ManualClock('2026-05-01T00:00:00Z');
    for (const e of [
      sdkError('SlowDown', 503),
      sdkError('PriorRequestNotComplete', 400),
      sdkError('Whatever', 429),
    ]) {
      const err = translateAwsError(e, { ...ctx, clock });
      expect(err).toBeInstanceOf(RetryLaterError);
      expect(err.retryable).toBe(true);
      expect((err as RetryLaterError).retryAt.toISOString()).toBe('2026-05-01T00:01:00.000Z');
    }
  });

  it('maps failed preconditions to ConflictError and server faults to retryable errors', () => {
    expect(translateAwsError(sdkError('PreconditionFailed', 412), ctx)).toBeInstanceOf(ConflictError);
    expect(translateAwsError(sdkError('ConditionalCheckFailedException', 400), ctx)).toBeInstanceOf(
      ConflictError,
    );
    const server = translateAwsError(sdkError('InternalError', 500), ctx);
    expect(server.retryable).toBe(true);
    const invalid = translateAwsError(sdkError('InvalidArgument', 400), ctx);
    expect(invalid.retryable).toBe(false);
    expect(invalid.code).toBe('internal');
  });

  it('passes CertkeeperErrors through unchanged', () => {
    const own = new ConflictError('mine');
    expect(translateAwsError(own, ctx)).toBe(own);
  });
});

describe('callAws', () => {
  it('resolves the client endpoint only to describe a failure', async () => {
    const client = {
      config: { endpoint: async () => ({ protocol: 'http:', hostname: '127.0.0.1', port: 1, path: '/' }) },
    };
    const err = await callAws({ ...ctx, client }, async () => {
      throw Object.assign(new Error('timed out'), { name: 'TimeoutError' });
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CertkeeperError);
    expect((err as Error).message).toContain('http://127.0.0.1:1');
  });
});
