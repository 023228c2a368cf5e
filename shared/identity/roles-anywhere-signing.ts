import { type KeyObject, type X509Certificate, sign } from 'node:crypto';
import { ValidationError } from '../model/errors.js';
import { sha256Hex } from '../pki/hash.js';

/**
 * The IAM Roles Anywhere signature (AWS docs, "IAM Roles Anywhere authentication signing
 * process"): SigV4's canonical request and string to sign, signed with the private key of
 * the X.509 certificate instead of an HMAC key. Pure functions: createSession
 * (roles-anywhere.ts) builds the request, tests feed captured requests of AWS's own
 * aws_signing_helper through the same functions to show both produce the same bytes.
 *
 * Differences from SigV4 (AWS4-HMAC-SHA256), as the docs and aws_signing_helper v1.4.0 do it:
 * - algorithm AWS4-X509-ECDSA-SHA256 (EC keys, ASN.1 DER ECDSA signature) or
 *   AWS4-X509-RSA-SHA256 (RSA keys, PKCS #1 v1.5), over SHA-256 of the string to sign;
 * - headers X-Amz-X509 (the certificate, base64 DER) and, when there are intermediates,
 *   X-Amz-X509-Chain (each base64 DER, comma-separated), both signed;
 * - the Credential field carries the certificate's serial number in decimal, where SigV4
 *   puts the access key id: `Credential=<serial>/<yyyymmdd>/<region>/rolesanywhere/aws4_request`;
 * - the signature is hex of the signature bytes (not an HMAC).
 */
export const ROLES_ANYWHERE_SERVICE = 'rolesanywhere';

export type X509SigningAlgorithm = 'AWS4-X509-ECDSA-SHA256' | 'AWS4-X509-RSA-SHA256';

/** A request as it goes on the wire, headers in order (repeated names allowed). */
export interface SignableRequest {
  readonly method: string;
  /**
   * The path as sent (already percent-encoded), without the query string. CreateSession's
   * is "/sessions", which no encoding changes.
   */
  readonly path: string;
  readonly query: ReadonlyArray<readonly [string, string]>;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer | string;
}

export interface CanonicalForm {
  readonly canonicalRequest: string;
  /** Lower-case header names, sorted, joined by ";". */
  readonly signedHeaders: string;
}

/**
 * Headers aws_signing_helper leaves out of the signature (everything else it sends is
 * signed): a proxy or SDK middleware may rewrite these, and SigV4 never requires them.
 */
const UNSIGNED_HEADERS = new Set(['authorization', 'user-agent', 'x-amzn-trace-id']);

/** SigV4's timestamp form, UTC: 20211103T120000Z (the X-Amz-Date header). */
export function amzDate(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/** `<yyyymmdd>/<region>/rolesanywhere/aws4_request`. */
export function credentialScope(date: string, region: string): string {
  return `${date.slice(0, 8)}/${region}/${ROLES_ANYWHERE_SERVICE}/aws4_request`;
}

/**
 * RFC 3986 percent-encoding as SigV4 wants it: every byte but the unreserved characters
 * (A-Z a-z 0-9 - . _ ~) as %XX with upper-case hex; a space is %20, never "+".
 */
export function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/**
 * SigV4 task 1. `signed` names the headers to sign (the verifier's view: those the
 * Authorization header lists); by default every header present except UNSIGNED_HEADERS
 * (the signer's view, as aws_signing_helper does).
 */
export function canonicalize(request: SignableRequest, signed?: readonly string[]): CanonicalForm {
  const values = new Map<string, string[]>();
  for (const [name, value] of request.headers) {
    const key = name.toLowerCase();
    values.set(key, [...(values.get(key) ?? []), value]);
  }
  const names = (signed ?? [...values.keys()].filter((name) => !UNSIGNED_HEADERS.has(name)))
    .map((name) => name.toLowerCase())
    .sort();
  // SigV4: each value trimmed, runs of spaces made one; repeated headers joined by ",".
  const headerLines = names.map(
    (name) =>
      `${name}:${(values.get(name) ?? []).map((value) => value.trim().replace(/ {2,}/g, ' ')).join(',')}`,
  );
  const query = request.query
    .map(([key, value]) => [uriEncode(key), uriEncode(value)] as const)
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([key, value]) => `${key}=${value}`)
    .join('&');
  const signedHeaders = names.join(';');
  const canonicalRequest = [
    request.method.toUpperCase(),
    request.path || '/',
    query,
    ...headerLines,
    '',
    signedHeaders,
    sha256Hex(request.body),
  ].join('\n');
  return { canonicalRequest, signedHeaders };
}

/** SigV4 task 2: algorithm, X-Amz-Date, scope, hex SHA-256 of the canonical request. */
export function stringToSign(
  algorithm: X509SigningAlgorithm,
  date: string,
  scope: string,
  canonicalRequest: string,
): string {
  return [algorithm, date, scope, sha256Hex(canonicalRequest)].join('\n');
}

/** The algorithm for this key, or a ValidationError for a key type Roles Anywhere refuses. */
export function signingAlgorithmFor(key: KeyObject): X509SigningAlgorithm {
  if (key.asymmetricKeyType === 'ec') return 'AWS4-X509-ECDSA-SHA256';
  if (key.asymmetricKeyType === 'rsa') return 'AWS4-X509-RSA-SHA256';
  throw new ValidationError(
    'privateKey',
    `a ${key.asymmetricKeyType ?? 'symmetric'} key cannot sign for IAM Roles Anywhere (EC and RSA only)`,
    'use an EC (P-256) or RSA key for the agent identity',
  );
}

/** The certificate serial as the Credential field carries it: decimal, no leading zeros. */
export function serialDecimal(cert: X509Certificate): string {
  return BigInt(`0x${cert.serialNumber}`).toString(10);
}

/** SigV4 task 3, with the certificate's key: hex of the DER ECDSA or PKCS #1 v1.5 signature. */
export function signString(algorithm: X509SigningAlgorithm, key: KeyObject, text: string): string {
  const data = Buffer.from(text, 'utf8');
  const signature =
    algorithm === 'AWS4-X509-ECDSA-SHA256'
      ? sign('sha256', data, { key, dsaEncoding: 'der' })
      : sign('sha256', data, key);
  return signature.toString('hex');
}

export interface SignedParts {
  readonly authorization: string;
  readonly canonicalRequest: string;
  readonly stringToSign: string;
}

/**
 * Signs `request` (which must already carry Host, X-Amz-Date, X-Amz-X509 and, with
 * intermediates, X-Amz-X509-Chain): SigV4 task 4's Authorization header value.
 */
export function signX509Request(
  request: SignableRequest,
  identity: { certificate: X509Certificate; key: KeyObject; algorithm: X509SigningAlgorithm },
  date: string,
  region: string,
): SignedParts {
  const { canonicalRequest, signedHeaders } = canonicalize(request);
  const scope = credentialScope(date, region);
  const text = stringToSign(identity.algorithm, date, scope, canonicalRequest);
  const signature = signString(identity.algorithm, identity.key, text);
  const credential = `${serialDecimal(identity.certificate)}/${scope}`;
  return {
    authorization: `${identity.algorithm} Credential=${credential}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
    canonicalRequest,
    stringToSign: text,
  };
}
