import type { AxiosError, AxiosResponse, InternalAxiosRequestConfig } from 'axios';

/**
 * How the transport (transport.ts) reads requests and answers: ACME problem documents,
 * Retry-After, the nonce a signed request carries, and what to tell a person when a peer
 * cannot be reached. Pure: no state, no clock of its own.
 */

export const PROBLEM_PREFIX = 'urn:ietf:params:acme:error:';
export const BAD_NONCE = `${PROBLEM_PREFIX}badNonce`;

export const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EAI_AGAIN',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);

export interface Problem {
  type: string;
  detail: string;
}

/** RFC 8555 §6.7 problem document, subproblems (§6.7.1) folded into the detail. */
export function problemOf(response: AxiosResponse): Problem | undefined {
  if (response.status < 400) return undefined;
  const data = response.data as { type?: unknown; detail?: unknown; subproblems?: unknown } | undefined;
  if (!data || typeof data !== 'object' || typeof data.type !== 'string') return undefined;
  let detail = typeof data.detail === 'string' ? data.detail : '';
  if (Array.isArray(data.subproblems) && data.subproblems.length > 0) {
    const parts = (
      data.subproblems as { type?: string; detail?: string; identifier?: { value?: string } }[]
    ).map((p) => `${p.identifier?.value ?? '?'}: ${p.detail ?? ''} (${shortType(p.type ?? '')})`);
    detail = `${detail}; ${parts.join('; ')}`;
  }
  return { type: data.type, detail };
}

/** RFC 9110 §10.2.3: delay-seconds or an HTTP-date (then measured from `now`). */
export function parseRetryAfter(header: unknown, now: Date): number | undefined {
  if (typeof header !== 'string' || header.trim() === '') return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now.getTime());
}

/** The nonce in a signed request's protected header (RFC 8555 §6.5), if it has one. */
export function nonceOf(config: InternalAxiosRequestConfig): string | undefined {
  try {
    const body: unknown = typeof config.data === 'string' ? JSON.parse(config.data) : config.data;
    const encoded = (body as { protected?: unknown } | undefined)?.protected;
    if (typeof encoded !== 'string') return undefined;
    const header = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')) as { nonce?: unknown };
    return typeof header.nonce === 'string' ? header.nonce : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Only unsigned GET/HEAD requests are resent inline. A POST carries a JWS whose nonce the
 * server may already have consumed (RFC 8555 §6.5): resending it earns badNonce at best,
 * so a failed POST fails the attempt and the scheduled retry (which resumes the order)
 * signs afresh.
 */
export function resendable(config: InternalAxiosRequestConfig): boolean {
  const method = (config.method ?? 'get').toLowerCase();
  return method === 'get' || method === 'head';
}

export function fixFor(code: string, where: string): string {
  if (code === 'ECONNREFUSED') return `check the directory URL (${where}) and that the CA is listening there`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return `check the host name in ${where} and DNS resolution from this network`;
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ALTNAME/.test(code)) {
    return "the CA's HTTPS certificate is not trusted: for a private CA (e.g. Pebble) give its CA certificate: --ca-file PEM or CERTKEEPER_ACME_CA_PEM (the PEM or its path) to the CLI, caPem in code";
  }
  if (TRANSIENT_CODES.has(code))
    return 'the CA did not answer in time; check egress (NAT gateway, security groups) and retry later';
  return 'check the directory URL and network access to the CA';
}

export function errorCode(error: AxiosError): string {
  const cause = (error as { cause?: { code?: unknown } }).cause;
  const code = error.code ?? (typeof cause?.code === 'string' ? cause.code : '');
  return String(code);
}

export function requestUrl(config: InternalAxiosRequestConfig): URL | undefined {
  try {
    return new URL(config.url ?? '', config.baseURL);
  } catch {
    return undefined;
  }
}

export function describeUrl(config: InternalAxiosRequestConfig): string {
  const url = requestUrl(config);
  return url ? `${url.origin}${url.pathname}` : 'the ACME server';
}

export const shortType = (type: string): string => type.replace(PROBLEM_PREFIX, '');
