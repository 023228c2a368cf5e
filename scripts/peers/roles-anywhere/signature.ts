/**
 * CreateSession's signature, checked from the receiving side as AWS documents it ("IAM
 * Roles Anywhere authentication signing process", which defers to SigV4 for everything it
 * does not restate). Written apart from certkeeper's signer (shared/identity): the
 * stand-in must catch the signer's mistakes, not share them. It rebuilds the canonical
 * request from the bytes received and the headers the Authorization header lists.
 */
import { X509Certificate, createHash, verify } from 'node:crypto';
import { accessDenied, invalid } from './http.js';

/** SigV4: "a request must reach AWS within five minutes of the time stamp in the request". */
export const SKEW_ALLOWANCE_MS = 5 * 60_000;
const SERVICE = 'rolesanywhere';
const ALGORITHMS = {
  'AWS4-X509-ECDSA-SHA256': 'ec',
  'AWS4-X509-RSA-SHA256': 'rsa',
} as const;
type Algorithm = keyof typeof ALGORITHMS;
/** Headers that must be covered by the signature (SigV4: host and the date; here also the certificate). */
const MUST_SIGN = ['host', 'x-amz-date', 'x-amz-x509'];

export interface ReceivedRequest {
  readonly method: string;
  /** The request target as received: path and raw query. */
  readonly url: string;
  /** Node's rawHeaders: name, value, name, value... in arrival order. */
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
}

export interface VerifiedRequest {
  readonly certificate: X509Certificate;
  /** X-Amz-X509-Chain, in order. */
  readonly chain: readonly X509Certificate[];
  readonly algorithm: Algorithm;
  readonly signedAt: Date;
  readonly canonicalRequest: string;
  readonly stringToSign: string;
}

/** Whatever the verdict, what the stand-in computed (tests compare it with the signers'). */
export interface SignatureTrace {
  canonicalRequest?: string;
  stringToSign?: string;
}

export function verifyRequestSignature(
  request: ReceivedRequest,
  region: string,
  now: Date,
  trace: SignatureTrace = {},
): VerifiedRequest {
  const headers = headerValues(request.rawHeaders);
  const certificate = parseCertificateHeader(headers.get('x-amz-x509'));
  const chainHeader = headers.get('x-amz-x509-chain');
  const chain =
    chainHeader === undefined
      ? []
      : chainHeader
          .join(',')
          .split(',')
          .map((b64) => parseDer(b64.trim(), 'X-Amz-X509-Chain'));

  const authorization = headers.get('authorization')?.[0];
  if (!authorization) throw accessDenied('Missing Authorization header');
  const auth = parseAuthorization(authorization);

  const dateText = headers.get('x-amz-date')?.[0];
  const signedAt = dateText === undefined ? undefined : parseAmzDate(dateText);
  if (!dateText || !signedAt) throw accessDenied('Invalid signature: missing or malformed X-Amz-Date');
  checkSkew(dateText, signedAt, now);

  const [serial, scopeDate, scopeRegion, scopeService, terminator, ...rest] = auth.credential.split('/');
  if (rest.length > 0 || terminator !== 'aws4_request')
    throw accessDenied('Invalid signature: malformed Credential');
  if (scopeDate !== dateText.slice(0, 8))
    throw accessDenied('Invalid signature: Credential date is not the X-Amz-Date');
  if (scopeRegion !== region)
    throw accessDenied(`Invalid signature: Credential should be scoped to a valid region (${region})`);
  if (scopeService !== SERVICE)
    throw accessDenied(`Invalid signature: Credential should be scoped to the service '${SERVICE}'`);
  if (serial !== BigInt(`0x${certificate.serialNumber}`).toString(10)) {
    throw accessDenied(
      'Invalid signature: Credential serial is not the serial number of the X-Amz-X509 certificate',
    );
  }
  const mustSign = chainHeader === undefined ? MUST_SIGN : [...MUST_SIGN, 'x-amz-x509-chain'];
  const missing = mustSign.filter((name) => !auth.signedHeaders.includes(name));
  if (missing.length > 0) throw accessDenied(`Invalid signature: ${missing.join(', ')} must be signed`);
  if (ALGORITHMS[auth.algorithm] !== certificate.publicKey.asymmetricKeyType) {
    throw accessDenied(`Invalid signature: ${auth.algorithm} does not match the certificate's key`);
  }

  const canonicalRequest = canonicalRequestOf(request, headers, auth.signedHeaders);
  const scope = [scopeDate, scopeRegion, scopeService, terminator].join('/');
  const stringToSign = [auth.algorithm, dateText, scope, sha256Hex(canonicalRequest)].join('\n');
  trace.canonicalRequest = canonicalRequest;
  trace.stringToSign = stringToSign;
  const signature = Buffer.from(auth.signature, 'hex');
  const key =
    auth.algorithm === 'AWS4-X509-ECDSA-SHA256'
      ? { key: certificate.publicKey, dsaEncoding: 'der' as const }
      : certificate.publicKey;
  let valid = false;
  try {
    valid = signature.length > 0 && verify('sha256', Buffer.from(stringToSign, 'utf8'), key, signature);
  } catch {
    valid = false;
  }
  if (!valid) throw accessDenied('Invalid signature');
  return { certificate, chain, algorithm: auth.algorithm, signedAt, canonicalRequest, stringToSign };
}

function checkSkew(dateText: string, signedAt: Date, now: Date): void {
  const stamp = (d: Date) =>
    d
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d{3}/, '');
  if (signedAt.getTime() < now.getTime() - SKEW_ALLOWANCE_MS) {
    throw accessDenied(
      `Signature expired: ${dateText} is now earlier than ${stamp(new Date(now.getTime() - SKEW_ALLOWANCE_MS))} (${stamp(now)} - 5 min.)`,
    );
  }
  if (signedAt.getTime() > now.getTime() + SKEW_ALLOWANCE_MS) {
    throw accessDenied(
      `Signature not yet current: ${dateText} is still later than ${stamp(new Date(now.getTime() + SKEW_ALLOWANCE_MS))} (${stamp(now)} + 5 min.)`,
    );
  }
}

/** Header values by lower-case name, repeated headers in arrival order. */
function headerValues(raw: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    out.set(name, [...(out.get(name) ?? []), raw[i + 1]!]);
  }
  return out;
}

function parseAuthorization(value: string): {
  algorithm: Algorithm;
  credential: string;
  signedHeaders: string[];
  signature: string;
} {
  const space = value.indexOf(' ');
  const algorithm = value.slice(0, space);
  if (space < 0 || !(algorithm in ALGORITHMS)) {
    throw accessDenied(`Invalid signature: unsupported algorithm ${JSON.stringify(algorithm.slice(0, 40))}`);
  }
  const fields = new Map<string, string>();
  for (const part of value.slice(space + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (!credential || !signedHeaders || !signature || !/^[0-9a-f]+$/i.test(signature)) {
    throw accessDenied(
      'Invalid signature: the Authorization header needs Credential, SignedHeaders and a hex Signature',
    );
  }
  return {
    algorithm: algorithm as Algorithm,
    credential,
    signedHeaders: signedHeaders.split(';'),
    signature,
  };
}

/** SigV4 task 1 from the receiving side. */
function canonicalRequestOf(
  request: ReceivedRequest,
  headers: Map<string, string[]>,
  signed: readonly string[],
): string {
  const q = request.url.indexOf('?');
  const path = q < 0 ? request.url : request.url.slice(0, q);
  const rawQuery = q < 0 ? '' : request.url.slice(q + 1);
  // Query parameters decoded (a "+" is a space, as the helper's Go url package reads it),
  // then each name and value encoded per RFC 3986 and sorted by name, then value.
  const pairs = rawQuery
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      const decode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
      return eq < 0
        ? [rfc3986(decode(p)), '']
        : [rfc3986(decode(p.slice(0, eq))), rfc3986(decode(p.slice(eq + 1)))];
    })
    .sort((a, b) => (a[0]! === b[0]! ? (a[1]! < b[1]! ? -1 : 1) : a[0]! < b[0]! ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const lines = [...signed]
    .sort()
    .map(
      (name) => `${name}:${(headers.get(name) ?? []).map((v) => v.trim().replace(/ +/g, ' ')).join(',')}\n`,
    )
    .join('');
  return `${request.method}\n${path || '/'}\n${pairs}\n${lines}\n${[...signed].sort().join(';')}\n${sha256Hex(request.body)}`;
}

function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function parseAmzDate(text: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return undefined;
  const t = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  return Number.isNaN(t) ? undefined : new Date(t);
}

function parseCertificateHeader(values: string[] | undefined): X509Certificate {
  if (!values || values.length !== 1)
    throw invalid('X-Amz-X509 header is required (the signing certificate, base64 DER)');
  return parseDer(values[0]!, 'X-Amz-X509');
}

function parseDer(b64: string, header: string): X509Certificate {
  try {
    return new X509Certificate(Buffer.from(b64, 'base64'));
  } catch {
    throw invalid(`${header} is not a base64 DER X.509 certificate`);
  }
}

function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
