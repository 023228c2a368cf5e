/**
 * The project's error classes. Adapters translate SDK and ACME errors into these at the
 * boundary, so every caller can ask two questions without knowing the source: what does a
 * person need to do (`message`, `fix`), and is trying again later worthwhile (`retryable`).
 */
export type ErrorCode =
  | 'validation'
  | 'not-found'
  | 'acme-problem'
  | 'retry-later'
  | 'unreachable'
  | 'conflict'
  | 'integrity'
  | 'internal';

export interface ErrorDetails {
  /** Whether a later attempt can succeed without anyone changing anything. */
  retryable?: boolean;
  /** What the operator should do about it. */
  fix?: string;
  cause?: unknown;
}

export class CertkeeperError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly fix: string | undefined;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = details.retryable ?? false;
    this.fix = details.fix;
  }

  /** The message followed by the fix, for people. */
  describe(): string {
    return this.fix ? `${this.message}. Fix: ${this.fix}` : this.message;
  }
}

/** Bad input: names the field and how to correct it. Never retryable. */
export class ValidationError extends CertkeeperError {
  readonly field: string;
  constructor(field: string, problem: string, fix: string) {
    super('validation', `${field}: ${problem}`, { fix, retryable: false });
    this.field = field;
  }
}

/**
 * The CA does not offer the certificate's profile (draft-ietf-acme-profiles): a bad spec for
 * this CA, but a fault of the CA as far as fallback goes (shared/authorities/choice.ts), since
 * another CA may offer it.
 */
export class ProfileNotOfferedError extends ValidationError {
  constructor(problem: string, fix: string) {
    super('profile', problem, fix);
  }
}

export class NotFoundError extends CertkeeperError {
  constructor(what: string, fix: string) {
    super('not-found', what, { fix, retryable: false });
  }
}

/**
 * An RFC 8555 §6.7 problem document returned by the CA. `type` is the full URN
 * (urn:ietf:params:acme:error:...). Rate limits and server errors are retryable;
 * problems with the request itself are not.
 */
export class AcmeProblemError extends CertkeeperError {
  readonly type: string;
  readonly detail: string;
  readonly status: number | undefined;
  constructor(type: string, detail: string, status?: number, details: ErrorDetails = {}) {
    super('acme-problem', `ACME ${shortProblemType(type)}: ${detail}`, {
      retryable: details.retryable ?? isRetryableProblem(type, status),
      fix: details.fix,
      cause: details.cause,
    });
    this.type = type;
    this.detail = detail;
    this.status = status;
  }
}

/**
 * The CA (or AWS) asked us to come back later. Lambdas must not sleep through a long
 * Retry-After (RFC 8555 §6.6): the caller records `retryAt` and schedules the next attempt.
 */
export class RetryLaterError extends CertkeeperError {
  readonly retryAt: Date;
  readonly problemType: string | undefined;
  /**
   * The wait as the peer stated it (Retry-After in seconds), when it did: callers that run
   * on their own clock (tests, replays) add it to their "now" instead of trusting retryAt.
   */
  readonly delayMs: number | undefined;
  constructor(message: string, retryAt: Date, problemType?: string, cause?: unknown, delayMs?: number) {
    super('retry-later', `${message} (retry after ${retryAt.toISOString()})`, {
      retryable: true,
      cause,
    });
    this.retryAt = retryAt;
    this.problemType = problemType;
    this.delayMs = delayMs;
  }
}

/** A peer (CA, AWS endpoint) could not be reached at all. */
export class UnreachableError extends CertkeeperError {
  constructor(what: string, fix: string, cause?: unknown) {
    super('unreachable', what, { fix, retryable: true, cause });
  }
}

/** A conditional write lost: someone else holds the lease or wrote first. */
export class ConflictError extends CertkeeperError {
  constructor(message: string) {
    super('conflict', message, { retryable: true });
  }
}

/**
 * The cloud refused a call for want of permission (AWS 403 AccessDenied). Code 'internal' as
 * before: a person grants the permission named in `fix`. Its own class because S3 answers
 * an absent key with it for a reader without s3:ListBucket, which a challenge responder
 * reads as "nothing there".
 */
export class AccessDeniedError extends CertkeeperError {
  constructor(message: string, fix: string, cause?: unknown) {
    super('internal', message, { fix, retryable: false, cause });
  }
}

/** Stored data does not match what it claims (hash, key/certificate pair, chain). */
export class IntegrityError extends CertkeeperError {
  constructor(message: string, fix: string) {
    super('integrity', message, { fix, retryable: false });
  }
}

const RETRYABLE_PROBLEMS = new Set(['rateLimited', 'serverInternal', 'badNonce', 'connection', 'dns']);

export function shortProblemType(type: string): string {
  return type.replace(/^urn:ietf:params:acme:error:/, '');
}

function isRetryableProblem(type: string, status: number | undefined): boolean {
  if (status !== undefined && status >= 500) return true;
  return RETRYABLE_PROBLEMS.has(shortProblemType(type));
}

/** Normalises anything thrown into a CertkeeperError without losing the original. */
export function asCertkeeperError(err: unknown): CertkeeperError {
  if (err instanceof CertkeeperError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new CertkeeperError('internal', message, { retryable: true, cause: err });
}
