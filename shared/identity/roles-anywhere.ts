import { type KeyObject, X509Certificate, createPrivateKey } from 'node:crypto';
import * as z from 'zod';
import { type Clock, MINUTE, SECOND } from '../model/clock.js';
import { CertkeeperError, ValidationError } from '../model/errors.js';
import { describeJsonProblem, parseJson, validateJson } from '../model/json.js';
import { errorMessage, errorType, retryAfter, send } from './roles-anywhere-http.js';
import {
  malformedAnswer,
  translateRefusal,
  unreachable,
  type RefusedRequest,
} from './roles-anywhere-errors.js';
import {
  type SignableRequest,
  type X509SigningAlgorithm,
  amzDate,
  serialDecimal,
  signX509Request,
  signingAlgorithmFor,
} from './roles-anywhere-signing.js';

/**
 * The agent's client for IAM Roles Anywhere: a short X.509 client certificate (certkeeper's
 * own CA, a trust anchor) is exchanged for temporary AWS credentials through CreateSession,
 * signed here as AWS documents it (roles-anywhere-signing.ts) with node:crypto and node:https
 * only: the agent ships as one executable, with no helper binary beside it.
 *
 * The request has the shape AWS's aws_signing_helper v1.4.0 sends (`POST /sessions` with
 * profileArn, roleArn and trustAnchorArn in the query string, `{"durationSeconds": N}` as
 * the body); the API accepts them there or in the body, and this shape is the one every
 * helper in the field already proves.
 */
export interface RolesAnywhereIdentity {
  /** The agent's certificate (PEM), first of the chain. */
  readonly certificatePem: string;
  /** Intermediates up to (not including) the trust anchor, when there are any. */
  readonly chainPem?: readonly string[];
  /** The certificate's private key: a KeyObject or a PEM (PKCS #8, SEC 1 or PKCS #1). */
  readonly privateKey: KeyObject | string;
}

export interface RolesAnywhereTarget {
  readonly region: string;
  /** Default https://rolesanywhere.<region>.amazonaws.com. */
  readonly endpoint?: string;
  readonly trustAnchorArn: string;
  readonly profileArn: string;
  readonly roleArn: string;
  /** 900 to 43200; the service's default (3600, capped by the profile) when absent. */
  readonly durationSeconds?: number;
  /** An extra CA (PEM) trusted for the endpoint's TLS, besides the public roots (tests). */
  readonly caPem?: string;
}

export interface RolesAnywhereOptions {
  readonly clock: Clock;
  readonly signal?: AbortSignal;
}

/** Temporary credentials; structurally an AWS SDK v3 AwsCredentialIdentity. */
export interface RolesAnywhereCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: Date;
}

/** An AWS SDK v3 credential provider (AwsCredentialIdentityProvider): pass it as `credentials`. */
export type RolesAnywhereCredentialProvider = () => Promise<RolesAnywhereCredentials>;

const arn = (kind: string) =>
  new RegExp(`^arn:aws[a-z-]*:rolesanywhere:[a-z0-9-]+:\\d{12}:${kind}/[0-9a-zA-Z-]+$`);
const targetSchema = z.object({
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'is not an AWS region (like eu-west-1)'),
  endpoint: z.url({ protocol: /^https$/, error: 'must be an https:// URL' }).optional(),
  trustAnchorArn: z.string().regex(arn('trust-anchor'), 'is not a trust anchor ARN'),
  profileArn: z.string().regex(arn('profile'), 'is not a Roles Anywhere profile ARN'),
  roleArn: z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/, 'is not an IAM role ARN'),
  durationSeconds: z.number().int().min(900).max(43_200).optional(),
  caPem: z.string().optional(),
});

const answerSchema = z.object({
  credentialSet: z
    .array(
      z.object({
        credentials: z.object({
          accessKeyId: z.string().min(1),
          secretAccessKey: z.string().min(1),
          sessionToken: z.string().min(1),
          expiration: z.string().refine((text) => !Number.isNaN(Date.parse(text)), 'is not a timestamp'),
        }),
      }),
    )
    .min(1, 'holds no credentials'),
});

interface PreparedIdentity {
  readonly certificate: X509Certificate;
  readonly key: KeyObject;
  readonly algorithm: X509SigningAlgorithm;
  readonly chain: readonly X509Certificate[];
}

/** Parses and checks the identity: the key must be the certificate's, of a type AWS accepts. */
export function prepareIdentity(identity: RolesAnywhereIdentity): PreparedIdentity {
  const certificate = parsePem(identity.certificatePem, 'certificatePem');
  const chain = (identity.chainPem ?? []).map((pem, i) => parsePem(pem, `chainPem[${i}]`));
  let key: KeyObject;
  try {
    key =
      typeof identity.privateKey === 'string' ? createPrivateKey(identity.privateKey) : identity.privateKey;
  } catch {
    // The parser's message may quote the text: never repeat it.
    throw new ValidationError(
      'privateKey',
      'is not a private key in PEM form',
      'give the PEM the agent wrote at enrolment',
    );
  }
  if (key.type !== 'private') {
    throw new ValidationError(
      'privateKey',
      `is a ${key.type} key, not a private key`,
      'give the private key',
    );
  }
  const algorithm = signingAlgorithmFor(key);
  if (!certificate.checkPrivateKey(key)) {
    throw new ValidationError(
      'privateKey',
      `does not belong to the certificate (serial ${serialDecimal(certificate)}, ${certificate.subject || 'no subject'})`,
      'give the key and the certificate of the same identity (the agent keeps both side by side)',
    );
  }
  return { certificate, key, algorithm, chain };
}

function parsePem(pem: string, field: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw new ValidationError(
      field,
      'is not an X.509 certificate in PEM form',
      'give the PEM text of the certificate',
    );
  }
}

export interface PreparedRequest extends SignableRequest {
  readonly url: URL;
  readonly canonicalRequest: string;
  readonly stringToSign: string;
  readonly sentAt: Date;
}

/** Builds and signs the CreateSession request at `at`: everything but sending it. */
export function prepareCreateSession(
  identity: PreparedIdentity,
  target: RolesAnywhereTarget,
  at: Date,
): PreparedRequest {
  const base = new URL(target.endpoint ?? `https://rolesanywhere.${target.region}.amazonaws.com`);
  const path = `${base.pathname.replace(/\/+$/, '')}/sessions`;
  const query: Array<[string, string]> = [
    ['profileArn', target.profileArn],
    ['roleArn', target.roleArn],
    ['trustAnchorArn', target.trustAnchorArn],
  ];
  const url = new URL(path, base);
  for (const [name, value] of query) url.searchParams.append(name, value);
  const body = JSON.stringify(
    target.durationSeconds === undefined ? {} : { durationSeconds: target.durationSeconds },
  );
  const date = amzDate(at);
  const headers: Array<[string, string]> = [
    ['host', base.host],
    ['content-type', 'application/json'],
    ['content-length', String(Buffer.byteLength(body))],
    ['x-amz-date', date],
    ['x-amz-x509', identity.certificate.raw.toString('base64')],
  ];
  if (identity.chain.length > 0) {
    headers.push(['x-amz-x509-chain', identity.chain.map((c) => c.raw.toString('base64')).join(',')]);
  }
  const unsigned = { method: 'POST', path, query, headers, body };
  const signed = signX509Request(unsigned, identity, date, target.region);
  return {
    ...unsigned,
    headers: [...headers, ['authorization', signed.authorization]],
    url,
    canonicalRequest: signed.canonicalRequest,
    stringToSign: signed.stringToSign,
    sentAt: at,
  };
}

/** Exchanges the identity for temporary credentials (CreateSession). */
export async function createSession(
  identity: RolesAnywhereIdentity,
  target: RolesAnywhereTarget,
  options: RolesAnywhereOptions,
): Promise<RolesAnywhereCredentials> {
  const checked = checkTarget(target);
  const prepared = prepareIdentity(identity);
  const request = prepareCreateSession(prepared, checked, options.clock.now());
  const endpoint = request.url.origin;
  const answer = await send(request, checked.caPem, options.signal).catch((err: unknown) => {
    // The caller's own abort is not the endpoint's fault: it goes back as it came.
    if (err instanceof CertkeeperError || options.signal?.aborted) throw err;
    throw unreachable(endpoint, err);
  });
  if (answer.status < 200 || answer.status >= 300) {
    throw translateRefusal(
      {
        status: answer.status,
        errorType: errorType(answer.headers, answer.body),
        message: errorMessage(answer.body),
        retryAfterSeconds: retryAfter(answer.headers),
      },
      refusedRequest(endpoint, checked, prepared.certificate, request.sentAt),
    );
  }
  const parsed = parseJson(answer.body, answerSchema, {
    as: (problem) => malformedAnswer(endpoint, describeJsonProblem(problem)),
  });
  const { credentials } = parsed.credentialSet[0]!;
  return {
    accessKeyId: credentials.accessKeyId,
    secretAccessKey: credentials.secretAccessKey,
    sessionToken: credentials.sessionToken,
    expiration: new Date(credentials.expiration),
  };
}

function checkTarget(target: RolesAnywhereTarget): z.output<typeof targetSchema> {
  const checked = validateJson(target, targetSchema, {
    what: 'rolesAnywhere',
    fix: 'use the values the stack printed (trust anchor, profile and role ARNs, region)',
  });
  const anchorRegion = checked.trustAnchorArn.split(':')[3];
  for (const [field, value] of [
    ['trustAnchorArn', checked.trustAnchorArn],
    ['profileArn', checked.profileArn],
  ] as const) {
    if (value.split(':')[3] !== checked.region) {
      throw new ValidationError(
        `rolesAnywhere.${field}`,
        `is in ${value.split(':')[3]}, not in region ${checked.region}`,
        `the trust anchor, the profile and the region must agree (the trust anchor is in ${anchorRegion})`,
      );
    }
  }
  return checked;
}

function refusedRequest(
  endpoint: string,
  target: RolesAnywhereTarget,
  certificate: X509Certificate,
  sentAt: Date,
): RefusedRequest {
  return {
    endpoint,
    trustAnchorArn: target.trustAnchorArn,
    profileArn: target.profileArn,
    roleArn: target.roleArn,
    serial: serialDecimal(certificate),
    notBefore: new Date(certificate.validFrom),
    notAfter: new Date(certificate.validTo),
    sentAt,
  };
}

/**
 * How long before expiry the provider fetches new credentials. The AWS SDK v3 asks its
 * provider again once credentials are within 5 minutes of expiring; refreshing 10 minutes
 * ahead keeps the SDK from ever holding nearly-expired ones, and leaves 5 minutes of retries
 * (the current credentials still good) when a refresh fails.
 */
export const CREDENTIAL_REFRESH_AHEAD_MS = 10 * MINUTE;
/** After a failed refresh, served credentials are retried no sooner than this. */
export const REFRESH_RETRY_GAP_MS = 30 * SECOND;

/**
 * An AWS SDK v3 credential provider over CreateSession. Credentials are cached and renewed
 * CREDENTIAL_REFRESH_AHEAD_MS before they expire; each renewal calls `loadIdentity` again,
 * so an identity the agent renewed on disk is used from the next session on. When a renewal
 * fails while the cached credentials are still valid, those are served and the renewal is
 * tried again at most every REFRESH_RETRY_GAP_MS; with nothing valid cached, every call
 * tries, and its error reaches the caller (the agent's loop sets the pace).
 */
export function rolesAnywhereCredentials(
  loadIdentity: () => Promise<RolesAnywhereIdentity>,
  target: RolesAnywhereTarget,
  options: RolesAnywhereOptions,
): RolesAnywhereCredentialProvider {
  let cached: RolesAnywhereCredentials | undefined;
  let inFlight: Promise<RolesAnywhereCredentials> | undefined;
  let failedAt: number | undefined;

  const renew = async (): Promise<RolesAnywhereCredentials> => {
    try {
      const fresh = await createSession(await loadIdentity(), target, options);
      cached = fresh;
      failedAt = undefined;
      return fresh;
    } catch (err) {
      failedAt = options.clock.now().getTime();
      throw err;
    }
  };
  // One renewal at a time; cleared once settled (`finally` runs after the assignment, even
  // when loadIdentity throws before its first await).
  const refresh = (): Promise<RolesAnywhereCredentials> =>
    (inFlight ??= renew().finally(() => (inFlight = undefined)));

  return async () => {
    const now = options.clock.now().getTime();
    const usable = cached !== undefined && cached.expiration.getTime() > now;
    if (usable && cached!.expiration.getTime() - now > CREDENTIAL_REFRESH_AHEAD_MS) return cached!;
    if (usable && failedAt !== undefined && now - failedAt < REFRESH_RETRY_GAP_MS) return cached!;
    try {
      return await refresh();
    } catch (err) {
      if (cached !== undefined && cached.expiration.getTime() > options.clock.now().getTime()) return cached;
      throw err;
    }
  };
}
