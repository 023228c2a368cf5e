import { Agent } from 'node:https';
import acme from 'acme-client';
import type { AxiosError, AxiosRequestConfig, AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import { systemClock } from '../model/clock.js';
import { nodeHttpAdapter } from './http-adapter.js';
import { AcmeProblemError, CertkeeperError, RetryLaterError, UnreachableError } from '../model/errors.js';

/**
 * The HTTP policy under acme-client. acme-client sends every request through one shared
 * axios instance (`acme.axios`) whose interceptors retry 429/5xx and network errors up to
 * five times, sleeping for whatever Retry-After says (hours, for a rate limit) and 5-25 s
 * between network retries, then lose the cause of a network failure. Inside a Lambda that is
 * wrong, so we replace those interceptors once with ours:
 *
 * - trust: an explicit CA certificate per origin (Pebble's HTTPS API), never a global
 *   switch and never NODE_EXTRA_CA_CERTS;
 * - RFC 8555 §6.1: a User-Agent naming certkeeper (Pebble rejects requests without one);
 * - RFC 8555 §6.6 / §6.7: 429 and 5xx answers are retried only while Retry-After is short;
 *   a longer one becomes RetryLaterError carrying the time, for the scheduler;
 * - RFC 8555 §6.7: any other problem document becomes AcmeProblemError (type URN, detail,
 *   status, subproblems), except badNonce, which acme-client retries itself with the fresh
 *   nonce (RFC 8555 §6.5) and must therefore see as a response;
 * - a peer that cannot be reached becomes UnreachableError naming the URL and the likely fix.
 *
 * The policy is process-wide because acme.axios is; certkeeper is its only user.
 */
export interface TransportPolicy {
  /** Longest Retry-After (or backoff) slept through in-process. */
  maxInlineWaitMs: number;
  /** Retries of a 429/5xx answer or a transient network error. */
  maxRetries: number;
  /** Backoff before the first retry when the CA gave no Retry-After; doubles each time. */
  retryBaseMs: number;
  /** Per-request timeout; acme-client sets none. */
  timeoutMs: number;
}

const DEFAULT_POLICY: TransportPolicy = {
  maxInlineWaitMs: 5_000,
  maxRetries: 2,
  retryBaseMs: 1_000,
  timeoutMs: 30_000,
};

let policy: TransportPolicy = { ...DEFAULT_POLICY };
let installed = false;
/**
 * Retry-After of successful answers, keyed by the parsed body acme-client hands back (it
 * returns `response.data` itself), so a poll loop over acme-client's methods can honour it
 * (RFC 8555 §7.4, §7.5.1). Weak: nothing is kept once the body is dropped.
 */
const retryAfterByBody = new WeakMap<object, number>();

/**
 * RFC 8555 §6.5 / §7.2: every successful POST answer carries a fresh Replay-Nonce, and a
 * nonce is good for one request. acme-client ignores them and sends HEAD newNonce before
 * each signed request; those answers are kept here (per origin, a few, briefly) and handed
 * to its next HEAD instead of a round trip. A nonce the server has since dropped earns
 * badNonce, which acme-client retries with the nonce that answer carries.
 */
const NONCE_POOL_SIZE = 16;
const NONCE_MAX_AGE_MS = 30_000;
const noncePool = new Map<string, { nonce: string; at: number }[]>();
/**
 * Directories certkeeper has just fetched (fetchDirectory), handed to acme-client's own GET of
 * the same URL (its first signed request needs newNonce's URL) instead of a second round trip
 * for the same document (RFC 8555 §7.1.1). Kept briefly: acme-client keeps its copy itself.
 */
const DIRECTORY_REUSE_MS = 60_000;
const fetchedDirectories = new Map<string, { body: unknown; at: number }>();
const agents = new Map<string, Agent>();

const PROBLEM_PREFIX = 'urn:ietf:params:acme:error:';
const BAD_NONCE = `${PROBLEM_PREFIX}badNonce`;
/**
 * acme-client's HttpClient.maxBadNonceRetries (5). After that many retries it hands the
 * badNonce answer to its caller, which throws a plain Error carrying only the detail: the
 * problem type, and with it the retryable classification, would be lost. The transport
 * follows each retry chain by its nonces (a retry is signed with the nonce the badNonce
 * answer carried, RFC 8555 §6.5) and turns the last answer into AcmeProblemError itself.
 */
export const ACME_CLIENT_BAD_NONCE_RETRIES = 5;
const BAD_NONCE_CHAINS_MAX = 256;
/** Fresh nonce from a badNonce answer → retries already spent by the chain it continues. */
const badNonceChains = new Map<string, number>();
const USER_AGENT_PREFIX = 'certkeeper';
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EAI_AGAIN',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);

type RetryConfig = InternalAxiosRequestConfig & { certkeeperAttempt?: number };
/** certkeeper's own GETs (httpGet): always sent, never answered from fetchedDirectories. */
type OwnRequest = AxiosRequestConfig & { certkeeperOwn?: boolean };

/** Adjusts the policy (tests shorten the waits). Returns the previous one. */
export function configureTransport(changes: Partial<TransportPolicy>): TransportPolicy {
  const previous = policy;
  policy = { ...policy, ...changes };
  return previous;
}

/**
 * Trusts `caPem` (PEM, one or more certificates) for HTTPS requests to the origin of `url`
 * only; other origins keep the system roots.
 */
export function trustCaForOrigin(url: string, caPem: string): void {
  installTransport();
  agents.set(new URL(url).origin, new Agent({ ca: caPem, keepAlive: true }));
}

export function installTransport(): void {
  if (installed) return;
  installed = true;
  // A lighter adapter than axios's own Node one (see http-adapter.ts).
  acme.axios.defaults.adapter = nodeHttpAdapter;
  acme.axios.interceptors.request.clear();
  acme.axios.interceptors.response.clear();
  acme.axios.interceptors.request.use(prepare);
  acme.axios.interceptors.response.use(onResponse, onError);
}

/** A plain GET through the same policy (directory, ARI): the body and headers, any status. */
export async function httpGet(url: string): Promise<AxiosResponse<unknown>> {
  installTransport();
  const config: OwnRequest = {
    validateStatus: () => true,
    headers: { Accept: 'application/json' },
    certkeeperOwn: true,
  };
  return acme.axios.get(url, config);
}

/** Offers a directory body just fetched from `url` to acme-client's next GET of it. */
export function shareDirectory(url: string, body: unknown): void {
  fetchedDirectories.set(new URL(url).href, { body, at: Date.now() });
}

function prepare(config: InternalAxiosRequestConfig): InternalAxiosRequestConfig {
  const url = requestUrl(config);
  const local = url && heldAnswer(url, config);
  if (local) {
    config.adapter = async () => ({ ...local, status: 200, statusText: 'OK', config, request: undefined });
    return config;
  }
  const agent = url ? agents.get(url.origin) : undefined;
  if (agent) config.httpsAgent = agent;
  if (!config.timeout) config.timeout = policy.timeoutMs;
  const current = String(config.headers.get('User-Agent') ?? '');
  if (!current.startsWith(USER_AGENT_PREFIX)) {
    config.headers.set('User-Agent', `${USER_AGENT_PREFIX} ${current || 'node'}`.trim());
  }
  return config;
}

/**
 * An answer certkeeper already holds for this request, so it is not sent: a directory it has
 * just fetched (acme-client's own GET of it), or a pooled nonce (acme-client sends HEAD only
 * to newNonce, and reads only the Replay-Nonce header).
 */
function heldAnswer(
  url: URL,
  config: InternalAxiosRequestConfig,
): { data: unknown; headers: Record<string, string> } | undefined {
  const method = (config.method ?? 'get').toLowerCase();
  if (method === 'get' && (config as OwnRequest).certkeeperOwn !== true) {
    const fetched = fetchedDirectories.get(url.href);
    fetchedDirectories.delete(url.href);
    if (fetched && Date.now() - fetched.at < DIRECTORY_REUSE_MS) return { data: fetched.body, headers: {} };
  }
  const nonce = method === 'head' ? takeNonce(url.origin) : undefined;
  return nonce === undefined ? undefined : { data: '', headers: { 'replay-nonce': nonce } };
}

async function onResponse(response: AxiosResponse): Promise<AxiosResponse> {
  const config = response.config as RetryConfig;
  const status = response.status;
  const problem = problemOf(response);
  // Error answers' nonces go to acme-client's own badNonce retry; HEAD answers are used by
  // the request that asked for them.
  const method = (config.method ?? 'get').toLowerCase();
  if (status < 400 && method === 'post') poolNonce(config, response.headers['replay-nonce']);
  if (status < 300 && response.data !== null && typeof response.data === 'object') {
    const retryAfterMs = parseRetryAfter(response.headers['retry-after']);
    if (retryAfterMs !== undefined) retryAfterByBody.set(response.data as object, retryAfterMs);
  }

  if (status === 429 || status >= 500) {
    const attempt = config.certkeeperAttempt ?? 0;
    const retryAfterMs = parseRetryAfter(response.headers['retry-after']);
    if (retryAfterMs !== undefined && retryAfterMs > policy.maxInlineWaitMs) {
      throw new RetryLaterError(
        `${describeUrl(config)} answered ${status}${problem ? ` ${shortType(problem.type)}: ${problem.detail}` : ''}`,
        new Date(systemClock.now().getTime() + retryAfterMs),
        problem?.type,
        undefined,
        retryAfterMs,
      );
    }
    if (attempt < policy.maxRetries && resendable(config)) {
      const waitMs = Math.min(retryAfterMs ?? policy.retryBaseMs * 2 ** attempt, policy.maxInlineWaitMs);
      await sleep(waitMs);
      config.certkeeperAttempt = attempt + 1;
      return acme.axios.request(config);
    }
  }

  const spent = method === 'post' && badNonceChains.size > 0 ? retriesSpent(config) : 0;
  if (problem?.type === BAD_NONCE && method === 'post') {
    if (spent >= ACME_CLIENT_BAD_NONCE_RETRIES) {
      throw new AcmeProblemError(
        problem.type,
        `${problem.detail} (still refused after ${spent} retries with fresh nonces)`,
        status,
      );
    }
    followChain(response.headers['replay-nonce'], spent + 1);
  }
  if (problem && problem.type !== BAD_NONCE) {
    throw new AcmeProblemError(problem.type, problem.detail, status);
  }
  if (!problem && status >= 500) {
    throw new AcmeProblemError(
      `${PROBLEM_PREFIX}serverInternal`,
      `${describeUrl(config)} answered HTTP ${status}`,
      status,
    );
  }
  return response;
}

async function onError(error: AxiosError): Promise<AxiosResponse> {
  if (error instanceof CertkeeperError) throw error;
  const config = error.config as RetryConfig | undefined;
  if (!config || error.response) throw error;
  const code = errorCode(error);
  const attempt = config.certkeeperAttempt ?? 0;
  if (TRANSIENT_CODES.has(code) && attempt < policy.maxRetries && resendable(config)) {
    await sleep(Math.min(policy.retryBaseMs * 2 ** attempt, policy.maxInlineWaitMs));
    config.certkeeperAttempt = attempt + 1;
    return acme.axios.request(config);
  }
  const where = describeUrl(config);
  // The cause is a plain summary: the axios error carries the signed request body.
  throw new UnreachableError(
    `cannot reach ${where}: ${code || 'error'} ${error.message}`.trim(),
    fixFor(code, where),
    new Error(`${code}: ${error.message}`),
  );
}

/**
 * Only unsigned GET/HEAD requests are resent inline. A POST carries a JWS whose nonce the
 * server may already have consumed (RFC 8555 §6.5): resending it earns badNonce at best,
 * so a failed POST fails the attempt and the scheduled retry (which resumes the order)
 * signs afresh.
 */
function resendable(config: InternalAxiosRequestConfig): boolean {
  const method = (config.method ?? 'get').toLowerCase();
  return method === 'get' || method === 'head';
}

function fixFor(code: string, where: string): string {
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

interface Problem {
  type: string;
  detail: string;
}

/** RFC 8555 §6.7 problem document, subproblems (§6.7.1) folded into the detail. */
function problemOf(response: AxiosResponse): Problem | undefined {
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

/** The nonce in a signed request's protected header (RFC 8555 §6.5), if it has one. */
function nonceOf(config: InternalAxiosRequestConfig): string | undefined {
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

function retriesSpent(config: InternalAxiosRequestConfig): number {
  const nonce = nonceOf(config);
  const spent = nonce === undefined ? undefined : badNonceChains.get(nonce);
  if (nonce !== undefined) badNonceChains.delete(nonce);
  return spent ?? 0;
}

function followChain(nonce: unknown, spent: number): void {
  if (typeof nonce !== 'string' || nonce === '') return;
  badNonceChains.set(nonce, spent);
  // Chains end when acme-client retries or gives up; bound what an abandoned one leaves.
  if (badNonceChains.size > BAD_NONCE_CHAINS_MAX) {
    const oldest = badNonceChains.keys().next().value;
    if (oldest !== undefined) badNonceChains.delete(oldest);
  }
}

function poolNonce(config: InternalAxiosRequestConfig, nonce: unknown): void {
  const origin = requestUrl(config)?.origin;
  if (!origin || typeof nonce !== 'string' || nonce === '') return;
  const pool = noncePool.get(origin) ?? [];
  pool.push({ nonce, at: Date.now() });
  if (pool.length > NONCE_POOL_SIZE) pool.shift();
  noncePool.set(origin, pool);
}

function takeNonce(origin: string): string | undefined {
  const pool = noncePool.get(origin);
  for (let entry = pool?.pop(); entry; entry = pool?.pop()) {
    if (Date.now() - entry.at < NONCE_MAX_AGE_MS) return entry.nonce;
  }
  return undefined;
}

/** Forgets pooled nonces (tests that restart the CA). */
export function clearNonces(): void {
  noncePool.clear();
}

/**
 * The Retry-After (ms) that came with a body acme-client returned (an order, authorization
 * or challenge), if the CA sent one.
 */
export function retryAfterOf(body: unknown): number | undefined {
  return body !== null && typeof body === 'object' ? retryAfterByBody.get(body) : undefined;
}

/** RFC 9110 §10.2.3: delay-seconds or an HTTP-date. */
export function parseRetryAfter(header: unknown, now: Date = systemClock.now()): number | undefined {
  if (typeof header !== 'string' || header.trim() === '') return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now.getTime());
}

function errorCode(error: AxiosError): string {
  const cause = (error as { cause?: { code?: unknown } }).cause;
  const code = error.code ?? (typeof cause?.code === 'string' ? cause.code : '');
  return String(code);
}

function requestUrl(config: InternalAxiosRequestConfig): URL | undefined {
  try {
    return new URL(config.url ?? '', config.baseURL);
  } catch {
    return undefined;
  }
}

function describeUrl(config: InternalAxiosRequestConfig): string {
  const url = requestUrl(config);
  return url ? `${url.origin}${url.pathname}` : 'the ACME server';
}

const shortType = (type: string): string => type.replace(PROBLEM_PREFIX, '');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
