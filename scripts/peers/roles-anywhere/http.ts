/**
 * Answers in the shapes of AWS's restJson1 protocol, as @aws-sdk/client-rolesanywhere and
 * aws_signing_helper read them: JSON bodies, errors as `x-amzn-ErrorType` plus
 * `{"message": ...}`, a request id header.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export type AwsErrorType =
  'AccessDeniedException' | 'ValidationException' | 'ResourceNotFoundException' | 'InternalServerException';

const STATUS: Record<AwsErrorType, number> = {
  AccessDeniedException: 403,
  ValidationException: 400,
  ResourceNotFoundException: 404,
  InternalServerException: 500,
};

/** A refusal the handlers throw; the server turns it into an AWS error answer. */
export class AwsError extends Error {
  constructor(
    readonly type: AwsErrorType,
    message: string,
  ) {
    super(message);
  }
  get status(): number {
    return STATUS[this.type];
  }
}

export const accessDenied = (message: string): AwsError => new AwsError('AccessDeniedException', message);
export const invalid = (message: string): AwsError => new AwsError('ValidationException', message);
export const notFound = (message: string): AwsError => new AwsError('ResourceNotFoundException', message);

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
  });
  res.end(text);
}

export function sendError(res: ServerResponse, err: AwsError): void {
  const text = JSON.stringify({ message: err.message });
  res.writeHead(err.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-amzn-errortype': err.type,
    'x-amzn-requestid': randomUUID(),
  });
  res.end(text);
}

/** The whole body (bounded: the API's requests are small; a CRL is the largest). */
export function readBody(req: IncomingMessage, limit = 4 * 1024 * 1024): Promise<Buffer> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(invalid(`request body larger than ${limit} bytes`));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => resolveBody(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The body as a JSON object ({} when empty). */
export function jsonBody(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    if (value !== null && typeof value === 'object' && !Array.isArray(value))
      return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw invalid('request body is not a JSON object');
}

export function stringField(source: Record<string, unknown>, name: string, required: true): string;
export function stringField(
  source: Record<string, unknown>,
  name: string,
  required?: false,
): string | undefined;
export function stringField(
  source: Record<string, unknown>,
  name: string,
  required = false,
): string | undefined {
  const value = source[name];
  if (value === undefined || value === null) {
    if (required)
      throw invalid(
        `1 validation error detected: Value null at '${name}' failed to satisfy constraint: Member must not be null`,
      );
    return undefined;
  }
  if (typeof value !== 'string') throw invalid(`${name} must be a string`);
  return value;
}

export function booleanField(source: Record<string, unknown>, name: string): boolean | undefined {
  const value = source[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw invalid(`${name} must be a boolean`);
  return value;
}

export function integerField(source: Record<string, unknown>, name: string): number | undefined {
  const value = source[name];
  if (value === undefined || value === null) return undefined;
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw invalid(`${name} must be an integer`);
  return n;
}
