import type { CertkeeperError } from '../model/errors.js';
import {
  IntegrityError,
  NotFoundError,
  RetryLaterError,
  UnreachableError,
  ValidationError,
} from '../model/errors.js';
import { SECOND } from '../model/clock.js';

/**
 * What IAM Roles Anywhere's CreateSession answers, turned into certkeeper's errors: each
 * names what was refused and the fix, and never carries key material (the request's
 * certificate serial and dates are public).
 */
export type RefusalReason =
  | 'clock-skew'
  | 'certificate-expired'
  | 'certificate-not-yet-valid'
  | 'certificate-revoked'
  | 'certificate-untrusted'
  | 'signature-invalid'
  | 'not-authorized';

/** CreateSession refused the identity (HTTP 403 AccessDeniedException). Not retryable as is. */
export class RolesAnywhereRefusedError extends ValidationError {
  readonly reason: RefusalReason;
  /** The service's own message, verbatim. */
  readonly serviceMessage: string;
  /** For `clock-skew`, when the service said its time: ours minus theirs, in ms. */
  readonly skewMs: number | undefined;
  constructor(reason: RefusalReason, problem: string, fix: string, serviceMessage: string, skewMs?: number) {
    super(reason === 'clock-skew' ? 'clock' : 'certificate', problem, fix);
    this.reason = reason;
    this.serviceMessage = serviceMessage;
    this.skewMs = skewMs;
  }
}

/** What the refusal message needs to know about the request that was refused. */
export interface RefusedRequest {
  readonly endpoint: string;
  readonly trustAnchorArn: string;
  readonly profileArn: string;
  readonly roleArn: string;
  /** Decimal, as in the Credential field. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The X-Amz-Date sent. */
  readonly sentAt: Date;
}

export interface ServiceAnswer {
  readonly status: number;
  /** x-amzn-errortype (or the body's __type/code), without namespace or ":..." suffix. */
  readonly errorType: string | undefined;
  readonly message: string;
  /** Retry-After in seconds, when sent. */
  readonly retryAfterSeconds: number | undefined;
}

/** The SigV4 allowance: "a request must reach AWS within five minutes of the time stamp". */
export const SIGNATURE_SKEW_ALLOWANCE_MS = 5 * 60 * SECOND;
const ALLOWANCE_MINUTES = SIGNATURE_SKEW_ALLOWANCE_MS / (60 * SECOND);

const NTP_FIX =
  "synchronise this server's clock with NTP (e.g. `timedatectl set-ntp true`, chrony or systemd-timesyncd)";

/** Translates a non-2xx CreateSession answer. */
export function translateRefusal(answer: ServiceAnswer, request: RefusedRequest): CertkeeperError {
  const { status, errorType, message } = answer;
  const said = `IAM Roles Anywhere at ${request.endpoint} answered ${status}${errorType ? ` ${errorType}` : ''}: ${message || '(no message)'}`;
  if (status === 429 || errorType === 'ThrottlingException') {
    const seconds = answer.retryAfterSeconds ?? 60;
    return new RetryLaterError(
      said,
      new Date(request.sentAt.getTime() + seconds * SECOND),
      errorType,
      undefined,
      seconds * SECOND,
    );
  }
  if (status >= 500) {
    return new UnreachableError(
      `${said} (a fault on the service side)`,
      'nothing to change here: the agent tries again on its next run',
    );
  }
  if (errorType === 'ResourceNotFoundException' || status === 404) {
    return new NotFoundError(
      `${said} (trust anchor ${request.trustAnchorArn}, profile ${request.profileArn})`,
      'check trustAnchorArn and profileArn in the agent configuration against the stack outputs',
    );
  }
  if (status === 403 || errorType === 'AccessDeniedException') return refusal(message, said, request);
  return new ValidationError(
    'createSession',
    said,
    'the request was rejected as invalid: check durationSeconds (900 to 43200) and the ARNs in the agent configuration',
  );
}

function refusal(message: string, said: string, request: RefusedRequest): RolesAnywhereRefusedError {
  const serial = `certificate serial ${request.serial}`;
  const skew = parseSkew(message, request.sentAt);
  if (skew !== undefined || /signature (expired|not yet current)|skew|request time/i.test(message)) {
    const by =
      skew === undefined
        ? `by more than ${ALLOWANCE_MINUTES} minutes`
        : `by about ${Math.round(Math.abs(skew) / SECOND)} s (${skew > 0 ? 'ahead of' : 'behind'} AWS)`;
    return new RolesAnywhereRefusedError(
      'clock-skew',
      `${said}: this server's clock is off ${by}; the signature's X-Amz-Date must be within ${ALLOWANCE_MINUTES} minutes of AWS's time`,
      NTP_FIX,
      message,
      skew,
    );
  }
  if (/revoked/i.test(message)) {
    return new RolesAnywhereRefusedError(
      'certificate-revoked',
      `${said}: the agent identity (${serial}) is on the trust anchor's revocation list`,
      'this agent was removed; if it should still receive certificates, add it again and enrol it with a new token',
      message,
    );
  }
  if (/not yet valid|not valid before/i.test(message)) {
    return new RolesAnywhereRefusedError(
      'certificate-not-yet-valid',
      `${said}: the agent identity (${serial}) is valid only from ${request.notBefore.toISOString()}`,
      `${NTP_FIX}, and check the clock of the machine that issued the certificate`,
      message,
    );
  }
  if (/expired/i.test(message)) {
    return new RolesAnywhereRefusedError(
      'certificate-expired',
      `${said}: the agent identity (${serial}) expired at ${request.notAfter.toISOString()}`,
      'the agent renews its identity before it expires; once expired, enrol the agent again with a new token',
      message,
    );
  }
  if (/untrusted|trust anchor|unknown ca|chain/i.test(message)) {
    return new RolesAnywhereRefusedError(
      'certificate-untrusted',
      `${said}: the agent identity (${serial}) does not chain to the CA of trust anchor ${request.trustAnchorArn}`,
      'check trustAnchorArn in the agent configuration; if the CA changed, enrol the agent again',
      message,
    );
  }
  if (/signature/i.test(message)) {
    return new RolesAnywhereRefusedError(
      'signature-invalid',
      `${said}: the request signature did not verify with the certificate (${serial})`,
      'check that the private key belongs to the certificate, and that no proxy between this server and AWS rewrites the request',
      message,
    );
  }
  return new RolesAnywhereRefusedError(
    'not-authorized',
    `${said}: role ${request.roleArn} is not granted through profile ${request.profileArn}`,
    'check that the profile and the trust anchor are enabled and that the profile lists the role',
    message,
  );
}

/**
 * SigV4 states the server's time in its refusals: "Signature expired: <sent> is now
 * earlier than <limit> (<now> - 5 min.)" or "Signature not yet current: <sent> is still
 * later than <limit> (<now> + 5 min.)". Returns our time minus theirs, in ms.
 */
function parseSkew(message: string, sentAt: Date): number | undefined {
  const match = /\((\d{8}T\d{6}Z) [+-] \d+ min\.?\)/.exec(message);
  if (!match) return undefined;
  const t = match[1]!;
  const theirs = Date.parse(
    `${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)}T${t.slice(9, 11)}:${t.slice(11, 13)}:${t.slice(13, 15)}Z`,
  );
  return Number.isNaN(theirs) ? undefined : sentAt.getTime() - theirs;
}

/** The endpoint answered 2xx with something that is not CreateSession's answer. */
export function malformedAnswer(endpoint: string, problem: string): IntegrityError {
  return new IntegrityError(
    `IAM Roles Anywhere at ${endpoint} answered CreateSession with a malformed body: ${problem}`,
    'check that the endpoint is IAM Roles Anywhere (https://rolesanywhere.<region>.amazonaws.com) and not a proxy or captive portal',
  );
}

const NETWORK_HINTS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'timed out',
  ENOTFOUND: 'name not found in DNS',
  EAI_AGAIN: 'DNS lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
};

/** A transport failure (no HTTP answer at all). */
export function unreachable(endpoint: string, err: unknown): UnreachableError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const tls = code !== undefined && /CERT|SELF_SIGNED|TLS|SSL|ERR_TLS/.test(code);
  const why = tls
    ? `its TLS certificate is not trusted (${code})`
    : (NETWORK_HINTS[code ?? ''] ?? code ?? String(err));
  return new UnreachableError(
    `IAM Roles Anywhere at ${endpoint} cannot be reached: ${why}`,
    tls
      ? 'check the endpoint URL (a TLS-intercepting proxy needs its CA trusted by the agent)'
      : 'check the endpoint URL, DNS and that outbound HTTPS (443) to it is open from this server',
    err,
  );
}
