import { Agent } from 'node:https';
import acme from 'acme-client';
import type { AxiosError, AxiosRequestConfig, AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import type { Clock } from '../model/clock.js';
import { AcmeProblemError, CertkeeperError, RetryLaterError, UnreachableError } from '../model/errors.js';
import {
  BAD_NONCE,
  describeUrl,
  errorCode,
  fixFor,
  nonceOf,
  PROBLEM_PREFIX,
  parseRetryAfter,
  problemOf,
  requestUrl,
  resendable,
  shortType,
  TRANSIENT_CODES,
} from './http-answers.js';
import { nodeHttpAdapter } from './http-adapter.js';

/**
 * The HTTP policy under acme-client, as an object the composition makes (one per process
 * or per test) and hands to the accounts and CAs that share it. acme-client sends every
 * request through one shared axios instance whose interceptors retry 429/5xx and network
 * errors up to five times, sleeping for whatever Retry-After says (hours, for a rate limit)
 * and 5-25 s between network retries, then lose the cause of a network failure. Inside a
 * Lambda that is wrong, so the clients this transport is attached to (`attach`) send their
 * requests through its own axios instance instead, with:
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
 * Nothing is process-wide: acme-client's own axios instance is left as it is, and every
 * time the transport reads comes from its Clock.
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

export const DEFAULT_TRANSPORT_POLICY: TransportPolicy = {
  maxInlineWaitMs: 5_000,
  maxRetries: 2,
  retryBaseMs: 1_000,
  timeoutMs: 30_000,
};

/**
 * RFC 8555 §6.5 / §7.2: every successful POST answer carries a fresh Replay-Nonce, and a
 * nonce is good for one request. acme-client ignores them and sends HEAD newNonce before
 * each signed request; those answers are kept (per origin, a few, briefly) and handed to its
 * next HEAD instead of a round trip. A nonce the server has since dropped earns badNonce,
 * which acme-client retries with the nonce that answer carries.
 */
const NONCE_POOL_SIZE = 16;
const NONCE_MAX_AGE_MS = 30_000;
/**
 * Directories certkeeper has just fetched (fetchDirectory), handed to acme-client's own GET of
 * the same URL (its first signed request needs newNonce's URL) instead of a second round trip
 * for the same document (RFC 8555 §7.1.1). Kept briefly: acme-client keeps its copy itself.
 */
const DIRECTORY_REUSE_MS = 60_000;
/**
 * acme-client's HttpClient.maxBadNonceRetries (5). After that many retries it hands the
 * badNonce answer to its caller, which throws a plain Error carrying only the detail: the
 * problem type, and with it the retryable classification, would be lost. The transport
 * follows each retry chain by its nonces (a retry is signed with the nonce the badNonce
 * answer carried, RFC 8555 §6.5) and turns the last answer into AcmeProblemError itself.
 */
export const ACME_CLIENT_BAD_NONCE_RETRIES = 5;
const BAD_NONCE_CHAINS_MAX = 256;
const USER_AGENT_PREFIX = 'certkeeper';

type RetryConfig = InternalAxiosRequestConfig & { certkeeperAttempt?: number };
/** certkeeper's own GETs (get): always sent, never answered from the held directories. */
type OwnRequest = AxiosRequestConfig & { certkeeperOwn?: boolean };
/** The part of acme-client's HttpClient (src/http.js) every request of a Client goes through. */
type AcmeHttp = { request?: (url: string, method: string, opts?: AxiosRequestConfig) => Promise<unknown> };

export class AcmeTransport {
  /** The axios instance the attached clients' requests go through (tests drive it directly). */
  readonly axios: typeof acme.axios;
  private policy: TransportPolicy;
  private readonly clock: Clock;
  private readonly agents = new Map<string, Agent>();
  /**
   * Retry-After of successful answers, keyed by the parsed body acme-client hands back (it
   * returns `response.data` itself), so a poll loop over acme-client's methods can honour it
   * (RFC 8555 §7.4, §7.5.1). Weak: nothing is kept once the body is dropped.
   */
  private readonly retryAfterByBody = new WeakMap<object, number>();
  private readonly noncePool = new Map<string, { nonce: string; at: number }[]>();
  private readonly fetchedDirectories = new Map<string, { body: unknown; at: number }>();
  /** Fresh nonce from a badNonce answer → retries already spent by the chain it continues. */
  private readonly badNonceChains = new Map<string, number>();

  constructor(options: { clock: Clock; policy?: Partial<TransportPolicy> }) {
    this.clock = options.clock;
    this.policy = { ...DEFAULT_TRANSPORT_POLICY, ...options.policy };
    // A fresh instance: none of acme-client's interceptors, a lighter adapter (http-adapter.ts).
    this.axios = acme.axios.create({ adapter: nodeHttpAdapter });
    this.axios.defaults.headers.common['User-Agent'] = acme.axios.defaults.headers.common['User-Agent'];
    this.axios.interceptors.request.use((config) => this.prepare(config));
    this.axios.interceptors.response.use(
      (response) => this.onResponse(response),
      (error: AxiosError) => this.onError(error),
    );
  }

  /** Adjusts the policy (doctor: no retries; tests: shorter waits). Returns the previous one. */
  configure(changes: Partial<TransportPolicy>): TransportPolicy {
    const previous = this.policy;
    this.policy = { ...this.policy, ...changes };
    return previous;
  }

  /**
   * Trusts `caPem` (PEM, one or more certificates) for HTTPS requests to the origin of `url`
   * only; other origins keep the system roots.
   */
  trust(url: string, caPem: string): void {
    this.agents.set(new URL(url).origin, new Agent({ ca: caPem, keepAlive: true }));
  }

  /**
   * Sends the client's requests through this transport. acme-client (pinned in
   * package.json) makes every request of a Client in its HttpClient's `request(url, method,
   * opts)`; that one method is replaced on this client alone.
   */
  attach(client: acme.Client): acme.Client {
    const http = (client as unknown as { http?: AcmeHttp }).http;
    if (typeof http?.request !== 'function') {
      throw new Error(
        'acme-client no longer sends its requests through Client.http.request; update AcmeTransport.attach',
      );
    }
    http.request = (url, method, opts = {}) =>
      this.axios.request({
        ...opts,
        url,
        method,
        // As acme-client's own: every status is an answer, judged by the interceptors.
        validateStatus: null,
        headers: {
          ...(opts.headers as Record<string, string> | undefined),
          'Content-Type': 'application/jose+json',
        },
      });
    return client;
  }

  /** A plain GET through the same policy (directory, ARI): the body and headers, any status. */
  get(url: string): Promise<AxiosResponse<unknown>> {
    const config: OwnRequest = {
      validateStatus: () => true,
      headers: { Accept: 'application/json' },
      certkeeperOwn: true,
    };
    return this.axios.get(url, config);
  }

  /** Offers a directory body just fetched from `url` to acme-client's next GET of it. */
  shareDirectory(url: string, body: unknown): void {
    this.fetchedDirectories.set(new URL(url).href, { body, at: this.now() });
  }

  /**
   * The Retry-After (ms) that came with a body acme-client returned (an order, authorization
   * or challenge), if the CA sent one.
   */
  retryAfterOf(body: unknown): number | undefined {
    return body !== null && typeof body === 'object' ? this.retryAfterByBody.get(body) : undefined;
  }

  /** Forgets pooled nonces (tests that restart the CA). */
  clearNonces(): void {
    this.noncePool.clear();
  }

  private now(): number {
    return this.clock.now().getTime();
  }

  private prepare(config: InternalAxiosRequestConfig): InternalAxiosRequestConfig {
    const url = requestUrl(config);
    const local = url && this.heldAnswer(url, config);
    if (local) {
      config.adapter = async () => ({ ...local, status: 200, statusText: 'OK', config, request: undefined });
      return config;
    }
    const agent = url ? this.agents.get(url.origin) : undefined;
    if (agent) config.httpsAgent = agent;
    if (!config.timeout) config.timeout = this.policy.timeoutMs;
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
  private heldAnswer(
    url: URL,
    config: InternalAxiosRequestConfig,
  ): { data: unknown; headers: Record<string, string> } | undefined {
    const method = (config.method ?? 'get').toLowerCase();
    if (method === 'get' && (config as OwnRequest).certkeeperOwn !== true) {
      const fetched = this.fetchedDirectories.get(url.href);
      this.fetchedDirectories.delete(url.href);
      if (fetched && this.now() - fetched.at < DIRECTORY_REUSE_MS) return { data: fetched.body, headers: {} };
    }
    const nonce = method === 'head' ? this.takeNonce(url.origin) : undefined;
    return nonce === undefined ? undefined : { data: '', headers: { 'replay-nonce': nonce } };
  }

  private async onResponse(response: AxiosResponse): Promise<AxiosResponse> {
    const config = response.config as RetryConfig;
    const status = response.status;
    const problem = problemOf(response);
    // Error answers' nonces go to acme-client's own badNonce retry; HEAD answers are used by
    // the request that asked for them.
    const method = (config.method ?? 'get').toLowerCase();
    if (status < 400 && method === 'post') this.poolNonce(config, response.headers['replay-nonce']);
    if (status < 300 && response.data !== null && typeof response.data === 'object') {
      const retryAfterMs = parseRetryAfter(response.headers['retry-after'], this.clock.now());
      if (retryAfterMs !== undefined) this.retryAfterByBody.set(response.data as object, retryAfterMs);
    }

    if (status === 429 || status >= 500) {
      const attempt = config.certkeeperAttempt ?? 0;
      const retryAfterMs = parseRetryAfter(response.headers['retry-after'], this.clock.now());
      if (retryAfterMs !== undefined && retryAfterMs > this.policy.maxInlineWaitMs) {
        throw new RetryLaterError(
          `${describeUrl(config)} answered ${status}${problem ? ` ${shortType(problem.type)}: ${problem.detail}` : ''}`,
          new Date(this.now() + retryAfterMs),
          problem?.type,
          undefined,
          retryAfterMs,
        );
      }
      if (attempt < this.policy.maxRetries && resendable(config)) {
        const waitMs = Math.min(
          retryAfterMs ?? this.policy.retryBaseMs * 2 ** attempt,
          this.policy.maxInlineWaitMs,
        );
        await sleep(waitMs);
        config.certkeeperAttempt = attempt + 1;
        return this.axios.request(config);
      }
    }

    const spent = method === 'post' && this.badNonceChains.size > 0 ? this.retriesSpent(config) : 0;
    if (problem?.type === BAD_NONCE && method === 'post') {
      if (spent >= ACME_CLIENT_BAD_NONCE_RETRIES) {
        throw new AcmeProblemError(
          problem.type,
          `${problem.detail} (still refused after ${spent} retries with fresh nonces)`,
          status,
        );
      }
      this.followChain(response.headers['replay-nonce'], spent + 1);
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

  private async onError(error: AxiosError): Promise<AxiosResponse> {
    if (error instanceof CertkeeperError) throw error;
    const config = error.config as RetryConfig | undefined;
    if (!config || error.response) throw error;
    const code = errorCode(error);
    const attempt = config.certkeeperAttempt ?? 0;
    if (TRANSIENT_CODES.has(code) && attempt < this.policy.maxRetries && resendable(config)) {
      await sleep(Math.min(this.policy.retryBaseMs * 2 ** attempt, this.policy.maxInlineWaitMs));
      config.certkeeperAttempt = attempt + 1;
      return this.axios.request(config);
    }
    const where = describeUrl(config);
    // The cause is a plain summary: the axios error carries the signed request body.
    throw new UnreachableError(
      `cannot reach ${where}: ${code || 'error'} ${error.message}`.trim(),
      fixFor(code, where),
      new Error(`${code}: ${error.message}`),
    );
  }

  private retriesSpent(config: InternalAxiosRequestConfig): number {
    const nonce = nonceOf(config);
    const spent = nonce === undefined ? undefined : this.badNonceChains.get(nonce);
    if (nonce !== undefined) this.badNonceChains.delete(nonce);
    return spent ?? 0;
  }

  private followChain(nonce: unknown, spent: number): void {
    if (typeof nonce !== 'string' || nonce === '') return;
    this.badNonceChains.set(nonce, spent);
    // Chains end when acme-client retries or gives up; bound what an abandoned one leaves.
    if (this.badNonceChains.size > BAD_NONCE_CHAINS_MAX) {
      const oldest = this.badNonceChains.keys().next().value;
      if (oldest !== undefined) this.badNonceChains.delete(oldest);
    }
  }

  private poolNonce(config: InternalAxiosRequestConfig, nonce: unknown): void {
    const origin = requestUrl(config)?.origin;
    if (!origin || typeof nonce !== 'string' || nonce === '') return;
    const pool = this.noncePool.get(origin) ?? [];
    pool.push({ nonce, at: this.now() });
    if (pool.length > NONCE_POOL_SIZE) pool.shift();
    this.noncePool.set(origin, pool);
  }

  private takeNonce(origin: string): string | undefined {
    const pool = this.noncePool.get(origin);
    for (let entry = pool?.pop(); entry; entry = pool?.pop()) {
      if (this.now() - entry.at < NONCE_MAX_AGE_MS) return entry.nonce;
    }
    return undefined;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
