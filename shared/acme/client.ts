import { setTimeout as delay } from 'node:timers/promises';
import type { Authorization, Client, Order } from 'acme-client';
import type { Challenge, ChallengeSolver } from '../challenges/solver.js';
import { type Clock, MINUTE, systemClock } from '../model/clock.js';
import {
  AcmeProblemError,
  CertkeeperError,
  ProfileNotOfferedError,
  RetryLaterError,
  ValidationError,
  shortProblemType,
} from '../model/errors.js';
import type { Identifier } from '../model/identifiers.js';
import { certificateMatchesCsr } from '../pki/certificate.js';
import { splitPemChain } from '../pki/pem.js';
import type { AcmeAccount, AcmeAccounts, ExternalAccountBinding } from './account.js';
import { fetchRenewalInfo } from './ari.js';
import {
  type AcmeDirectoryInfo,
  type CertificateAuthority,
  type IssuedCertificate,
  type OrderRequest,
  type OrderStep,
  REVOCATION_REASONS,
  type RenewalInfo,
  type RevocationReason,
} from './ca.js';
import { fetchDirectory } from './directory.js';
import { DEFAULT_POLLING, PollSchedule, type PollingOptions } from './poll.js';
import type { AcmeTransport } from './transport.js';

export interface AcmeCaOptions {
  directoryUrl: string;
  accounts: AcmeAccounts;
  /** Account contact; also selects the stored account (one per contact). */
  email?: string;
  eab?: ExternalAccountBinding;
  /** PEM of the CA behind the ACME server's HTTPS certificate, for private CAs such as Pebble. */
  caPem?: string;
  clock?: Clock;
  /** How long a fetched directory is reused. */
  directoryTtlMs?: number;
  /** Receives failures that must not fail an issuance (challenge cleanup). */
  warn?: (message: string, extra: Record<string, unknown>) => void;
  /** How pending authorizations and orders are re-checked; see poll.ts. */
  polling?: PollingOptions;
}

/** newOrder payload: acme-client's type lacks the profiles draft and RFC 9773 fields. */
type OrderCreate = Parameters<Client['createOrder']>[0] & { profile?: string; replaces?: string };
/** The order object with the profiles draft field. */
type OrderWithProfile = Order & { profile?: string };
/** RFC 8555 §6.7 problem as embedded in challenge and order objects. */
type EmbeddedProblem = { type?: string; detail?: string; status?: number };

const ALREADY_REPLACED = 'alreadyReplaced';
const ACCOUNT_DOES_NOT_EXIST = 'accountDoesNotExist';

/**
 * CertificateAuthority backed by acme-client's low-level API. `auto()` is not used: it only
 * orders dns identifiers and runs its own challenge self-checks, which cannot reach IPs.
 */
export class AcmeCertificateAuthority implements CertificateAuthority {
  readonly directoryUrl: string;
  private readonly clock: Clock;
  private readonly directoryTtlMs: number;
  private readonly polling: PollingOptions;
  private readonly transport: AcmeTransport;
  private cachedDirectory: { at: number; value: Promise<AcmeDirectoryInfo> } | undefined;

  constructor(private readonly options: AcmeCaOptions) {
    this.directoryUrl = options.directoryUrl;
    this.clock = options.clock ?? systemClock;
    this.directoryTtlMs = options.directoryTtlMs ?? 10 * MINUTE;
    this.polling = options.polling ?? DEFAULT_POLLING;
    // The accounts' transport: their clients' requests and this CA's own GETs share it.
    this.transport = options.accounts.transport;
    if (options.caPem) this.transport.trust(options.directoryUrl, options.caPem);
  }

  directory(): Promise<AcmeDirectoryInfo> {
    const now = this.clock.now().getTime();
    if (!this.cachedDirectory || now - this.cachedDirectory.at > this.directoryTtlMs) {
      const value = fetchDirectory(this.transport, this.directoryUrl).then((dir) => {
        // Endpoints may live on another origin than the directory; trust the same CA there.
        if (this.options.caPem) {
          for (const url of [dir.newNonce, dir.newAccount, dir.newOrder, dir.renewalInfo]) {
            if (url && new URL(url).origin !== new URL(this.directoryUrl).origin) {
              this.transport.trust(url, this.options.caPem);
            }
          }
        }
        return dir;
      });
      const entry = { at: now, value };
      this.cachedDirectory = entry;
      value.catch(() => {
        if (this.cachedDirectory === entry) this.cachedDirectory = undefined;
      });
    }
    return this.cachedDirectory.value;
  }

  async issue(request: OrderRequest, solver: ChallengeSolver): Promise<IssuedCertificate> {
    checkProfile(request.profile, await this.directory());
    return this.withAccount((client) => this.runOrder(client, request, solver));
  }

  async getRenewalInfo(certId: string): Promise<RenewalInfo> {
    const dir = await this.directory();
    if (!dir.renewalInfo) {
      throw new CertkeeperError(
        'not-found',
        `the CA at ${this.directoryUrl} offers no renewal information (RFC 9773)`,
        {
          retryable: false,
          fix: 'nothing to do: renewal times are derived from the certificate lifetime',
        },
      );
    }
    return fetchRenewalInfo(this.transport, dir.renewalInfo, certId, this.clock.now());
  }

  async accountUrl(): Promise<string> {
    return (await this.options.accounts.get(this.accountSettings())).url;
  }

  async revoke(certPem: string, reason: RevocationReason = 'unspecified'): Promise<void> {
    await this.directory();
    await this.withAccount(async (client) => {
      // RFC 8555 §7.6: signed with the account key (kid) of the account that ordered it.
      await client.revokeCertificate(certPem, { reason: REVOCATION_REASONS[reason] as never });
    });
  }

  private accountSettings() {
    return {
      directoryUrl: this.directoryUrl,
      ...(this.options.email ? { email: this.options.email } : {}),
      ...(this.options.eab ? { eab: this.options.eab } : {}),
    };
  }

  /**
   * Runs `work` with the account's client. When the CA no longer knows the stored account
   * URL (accountDoesNotExist), the same key is registered again and `work` runs once more;
   * the first signed request of every operation is the one that meets this.
   */
  private async withAccount<T>(work: (client: Client) => Promise<T>): Promise<T> {
    const account: AcmeAccount = await this.options.accounts.get(this.accountSettings());
    try {
      return await work(account.client());
    } catch (err) {
      if (!(err instanceof AcmeProblemError) || shortProblemType(err.type) !== ACCOUNT_DOES_NOT_EXIST)
        throw err;
      const again = await this.options.accounts.reregister(this.accountSettings());
      return work(again.client());
    }
  }

  private async runOrder(
    client: Client,
    request: OrderRequest,
    solver: ChallengeSolver,
  ): Promise<IssuedCertificate> {
    const progress = (step: OrderStep): void => request.onProgress?.(step);
    progress('order');
    const resumed = await this.resume(client, request, solver);
    if (resumed && 'issued' in resumed) return resumed.issued;
    let order = resumed?.order;
    if (!order) {
      order = await this.createOrder(client, request);
      await request.onOrder?.(order.url);
    }

    const cleanups: Promise<void>[] = [];
    try {
      return await this.completeOrder(client, request, order, solver, progress, cleanups);
    } finally {
      await Promise.all(cleanups);
    }
  }

  private async completeOrder(
    client: Client,
    request: OrderRequest,
    order: Order,
    solver: ChallengeSolver,
    progress: (step: OrderStep) => void,
    cleanups: Promise<void>[],
  ): Promise<IssuedCertificate> {
    if (order.status === 'pending') {
      progress('authorize');
      await this.authorize(client, order, solver, progress, cleanups);
    }

    progress('finalize');
    // After the last authorization turns valid the order becomes ready (RFC 8555 §7.1.6),
    // so the order we hold (still "pending") is looked at again at once.
    if (order.status !== 'ready') order = await this.waitValid(client, order, 'order', { immediate: true });
    if (order.status === 'ready') {
      await request.beforeFinalize?.(order.url);
      try {
        order = await client.finalizeOrder(order, request.csrPem);
      } catch (err) {
        throw await this.profileError(err, request.profile);
      }
    }

    progress('download');
    // RFC 8555 §7.4: a processing order is looked at again after the Retry-After its finalize
    // answer gave; without one, at once (a CA that signs within the round trip, as most do,
    // is then seen valid without a wait), and from there on the schedule.
    if (order.status !== 'valid') {
      order = await this.waitValid(client, order, 'order', {
        immediate: this.transport.retryAfterOf(order) === undefined,
      });
    }
    const fullchainPem = await client.getCertificate(order);
    return { fullchainPem, orderUrl: order.url };
  }

  /**
   * RFC 8555 §7.4: an order survives an interrupted attempt. A pending or ready order for the
   * same identifiers (and profile) is continued with the new CSR. A processing or valid order
   * was finalized with an earlier CSR whose key the caller may no longer hold, so its
   * certificate is only returned when it carries this CSR's key.
   */
  private async resume(
    client: Client,
    request: OrderRequest,
    solver: ChallengeSolver,
  ): Promise<{ order: Order } | { issued: IssuedCertificate } | undefined> {
    if (!request.resumeOrderUrl) return undefined;
    let order: OrderWithProfile;
    try {
      order = await client.getOrder({ url: request.resumeOrderUrl } as Order);
    } catch (err) {
      if (err instanceof AcmeProblemError) return undefined; // gone, expired or not ours
      throw err;
    }
    if (!sameIdentifiers(order.identifiers, request.identifiers)) return undefined;
    if (request.profile && order.profile && order.profile !== request.profile) return undefined;
    if (order.status === 'pending') return { order };
    // Validated before the interruption: the responses it presented may still be up, and
    // nothing later in this order would take them down.
    await this.cleanupValidated(client, order, solver);
    if (order.status === 'ready') return { order };
    if (order.status !== 'valid' && order.status !== 'processing') return undefined;
    try {
      const valid = order.status === 'valid' ? order : await this.waitValid(client, order, 'order');
      const fullchainPem = await client.getCertificate(valid);
      if (certificateMatchesCsr(splitPemChain(fullchainPem).leaf, request.csrPem)) {
        return { issued: { fullchainPem, orderUrl: order.url } };
      }
    } catch (err) {
      if (!(err instanceof AcmeProblemError)) throw err;
    }
    return undefined;
  }

  private async createOrder(client: Client, request: OrderRequest): Promise<Order> {
    const body: OrderCreate = {
      // RFC 8738 §3: IPs are ordered as {type: "ip"}; acme-client passes the list through.
      identifiers: request.identifiers.map((i) => ({ type: i.type, value: i.value })),
      ...(request.profile ? { profile: request.profile } : {}),
      ...(request.replaces ? { replaces: request.replaces } : {}),
    };
    try {
      return await client.createOrder(body);
    } catch (err) {
      if (request.replaces && rejectsReplaces(err)) {
        // RFC 9773 §5: `replaces` only buys rate-limit exemption; if the CA refuses it
        // (alreadyReplaced, or Pebble's 500 for serials whose top bit is set), order without it.
        const { replaces: _dropped, ...plain } = body;
        try {
          return await client.createOrder(plain);
        } catch (second) {
          throw await this.profileError(second, request.profile);
        }
      }
      throw await this.profileError(err, request.profile);
    }
  }

  private async authorize(
    client: Client,
    order: Order,
    solver: ChallengeSolver,
    progress: (step: OrderStep) => void,
    cleanups: Promise<void>[],
  ): Promise<void> {
    const work: { authz: Authorization; challenge: Authorization['challenges'][number]; port: Challenge }[] =
      [];
    for (const authz of await client.getAuthorizations(order)) {
      // Authorizations the account already holds (authz reuse, RFC 8555 §7.1.4) need nothing.
      if (authz.status === 'valid') continue;
      if (authz.status !== 'pending') throw authorizationProblem(authz);
      const challenge = authz.challenges.find((c) => c.type === solver.type);
      const identifier = identifierOf(authz);
      if (!challenge) {
        throw new ValidationError(
          'challenge',
          `the CA offers no ${solver.type} challenge for ${identifier.value} (offered: ${authz.challenges.map((c) => c.type).join(', ')})`,
          identifier.type === 'ip'
            ? 'IP addresses are validated with http-01 or tls-alpn-01 (RFC 8738 §7)'
            : 'choose a challenge type the CA offers for this identifier',
        );
      }
      // http-01: the key authorization (RFC 8555 §8.3); dns-01: its SHA-256 digest (§8.4);
      // tls-alpn-01: that digest inside the validation certificate (RFC 8737 §3).
      const value = await client.getChallengeKeyAuthorization(challenge);
      work.push({ authz, challenge, port: { type: solver.type, identifier, token: challenge.token, value } });
    }
    if (work.length === 0) return;

    const challenges = work.map((w) => w.port);
    let validated = false;
    try {
      await solver.present(challenges);
      await solver.waitReady(challenges);
      progress('validate');
      // No acme-client verifyChallenge: its self-checks cannot reach IP identifiers, and the
      // solver's waitReady already proved the response is published.
      const answered = new Map<(typeof work)[number], number | undefined>();
      for (const w of work) {
        if (w.challenge.status === 'pending') {
          answered.set(w, this.transport.retryAfterOf(await client.completeChallenge(w.challenge)));
        }
      }
      await Promise.all(
        work.map((w) => this.waitValid(client, w.authz, 'authorization', { retryAfterMs: answered.get(w) })),
      );
      validated = true;
    } finally {
      const cleanup = solver.cleanup(challenges).catch((err: unknown) => {
        // The certificate can still be issued; a leftover token or TXT value is harmless.
        this.warn('challenge cleanup failed', { error: err instanceof Error ? err.message : String(err) });
      });
      // Valid authorizations are final (RFC 8555 §7.1.6): the CA will not look again, so the
      // responses are removed while the order is finalized; the order waits for it at its end.
      if (validated) cleanups.push(cleanup);
      else await cleanup;
    }
  }

  /**
   * Takes down the responses to an order's challenges for this solver's type (cleanup is
   * idempotent, so ones already gone cost nothing). Never fails the order: a leftover
   * response is harmless to the certificate.
   */
  private async cleanupValidated(client: Client, order: Order, solver: ChallengeSolver): Promise<void> {
    try {
      const challenges: Challenge[] = [];
      for (const authz of await client.getAuthorizations(order)) {
        const challenge = authz.challenges.find((c) => c.type === solver.type);
        if (!challenge) continue;
        const value = await client.getChallengeKeyAuthorization(challenge);
        challenges.push({
          type: solver.type,
          identifier: identifierOf(authz),
          token: challenge.token,
          value,
        });
      }
      if (challenges.length > 0) await solver.cleanup(challenges);
    } catch (err) {
      this.warn('challenge cleanup failed', { error: err instanceof Error ? err.message : String(err) });
    }
  }

  /**
   * Polls an order or authorization (POST-as-GET, RFC 8555 §6.3) until it is ready or valid,
   * on the PollSchedule: first re-check soon, gaps doubling, the CA's Retry-After honoured.
   * An invalid object is reported with the CA's own problem (for an authorization the
   * challenge error, e.g. urn:ietf:params:acme:error:connection). One still pending when
   * the schedule ends stays resumable: RetryLaterError at the CA's Retry-After or in a minute.
   */
  private async waitValid<T extends Order | Authorization>(
    client: Client,
    item: T,
    kind: 'order' | 'authorization',
    options: { immediate?: boolean; retryAfterMs?: number } = {},
  ): Promise<T> {
    const url = item.url;
    const check = async (): Promise<T> => {
      const fresh =
        kind === 'order'
          ? await client.getOrder(item as Order)
          : (await client.getAuthorizations({ authorizations: [url] } as Order))[0]!;
      return { ...(fresh as T), url };
    };
    const settled = async (current: T): Promise<boolean> => {
      if (current.status === 'valid' || current.status === 'ready') return true;
      if (current.status === 'pending' || current.status === 'processing') return false;
      // invalid, or (authorizations) deactivated, expired, revoked: RFC 8555 §7.1.6.
      throw kind === 'order'
        ? await orderProblem(client, current as Order)
        : authorizationProblem(current as Authorization);
    };

    // A check made at once counts against the bound, so a CA that never settles costs no
    // more checks either way.
    const attempts = options.immediate ? Math.max(1, this.polling.attempts - 1) : this.polling.attempts;
    const schedule = new PollSchedule({ ...this.polling, attempts });
    let current = item;
    let retryAfterMs = options.retryAfterMs ?? this.transport.retryAfterOf(item);
    if (options.immediate) {
      current = await check();
      if (await settled(current)) return current;
      retryAfterMs = this.transport.retryAfterOf(current);
    }
    for (;;) {
      const step = schedule.next(retryAfterMs);
      if ('stop' in step) {
        // Still pending or processing: the order stays resumable, so come back soon.
        const waitMs = step.retryAfterMs ?? MINUTE;
        throw new RetryLaterError(
          `the ${kind} ${url} is still ${current.status} after ${schedule.planned} checks over ${Math.round(schedule.plannedMs / 1000)} s`,
          new Date(this.clock.now().getTime() + waitMs),
          undefined,
          undefined,
          step.retryAfterMs,
        );
      }
      await delay(step.wait);
      current = await check();
      if (await settled(current)) return current;
      retryAfterMs = this.transport.retryAfterOf(current);
    }
  }

  /**
   * The CA refused the profile although our directory listed it (a stale cache, or a CA that
   * checks at finalize): Let's Encrypt answers invalidProfile, Pebble invalidProfile or
   * malformed. Name the profile and what the CA offers now.
   */
  private async profileError(err: unknown, profile: string | undefined): Promise<unknown> {
    if (!profile || !(err instanceof AcmeProblemError)) return err;
    const type = shortProblemType(err.type);
    if (type !== 'invalidProfile' && !(type === 'malformed' && /profile/i.test(err.detail))) return err;
    this.cachedDirectory = undefined;
    const offered = await this.directory().then(
      (dir) => Object.keys(dir.profiles).join(', ') || 'none',
      () => 'unknown',
    );
    return new AcmeProblemError(
      err.type,
      `profile "${profile}" is not offered by the CA; offered: ${offered} (${err.detail})`,
      err.status,
      { retryable: false, fix: `use one of: ${offered}`, cause: err },
    );
  }

  private warn(message: string, extra: Record<string, unknown>): void {
    if (this.options.warn) this.options.warn(message, extra);
    else console.warn(message, extra);
  }
}

/** draft-ietf-acme-profiles: fail before ordering when the directory does not list the profile. */
export function checkProfile(profile: string | undefined, dir: AcmeDirectoryInfo): void {
  if (profile === undefined) return;
  const offered = Object.keys(dir.profiles);
  if (offered.length === 0) {
    throw new ProfileNotOfferedError(
      `"${profile}" was requested but the CA at ${dir.url} advertises no profiles`,
      'remove the profile, or use a CA that supports ACME profiles',
    );
  }
  if (!offered.includes(profile)) {
    throw new ProfileNotOfferedError(
      `"${profile}" is not offered by the CA; offered: ${offered.join(', ')}`,
      `use one of: ${offered.join(', ')}`,
    );
  }
}

function rejectsReplaces(err: unknown): boolean {
  if (!(err instanceof AcmeProblemError)) return false;
  return (
    shortProblemType(err.type) === ALREADY_REPLACED ||
    (err.status !== undefined && err.status >= 500) ||
    /replace/i.test(err.detail)
  );
}

/** The identifier as certkeeper writes it: a wildcard authorization names the base domain. */
function identifierOf(authz: Authorization): Identifier {
  const value = authz.wildcard ? `*.${authz.identifier.value}` : authz.identifier.value;
  return authz.identifier.type === 'ip' ? { type: 'ip', value } : { type: 'dns', value };
}

function authorizationProblem(authz: Authorization): AcmeProblemError {
  const failed = authz.challenges.find((c) => c.error !== undefined);
  const problem = failed?.error as EmbeddedProblem | undefined;
  const name = identifierOf(authz).value;
  if (problem?.type) {
    return new AcmeProblemError(
      problem.type,
      `${failed!.type} for ${name} failed: ${problem.detail ?? 'no detail'}`,
      problem.status,
    );
  }
  return new AcmeProblemError(
    'urn:ietf:params:acme:error:unauthorized',
    `the authorization for ${name} is ${authz.status}`,
    undefined,
  );
}

async function orderProblem(client: Client, order: Order): Promise<AcmeProblemError> {
  // The order's own error names the cause; when absent, a failed authorization does.
  const problem = order.error as EmbeddedProblem | undefined;
  if (problem?.type)
    return new AcmeProblemError(problem.type, problem.detail ?? 'the order is invalid', problem.status);
  const authzs = await client.getAuthorizations(order);
  const failed = authzs.find((a) => a.status === 'invalid');
  if (failed) return authorizationProblem(failed);
  return new AcmeProblemError(
    'urn:ietf:params:acme:error:serverInternal',
    `the order ${order.url} is invalid`,
    undefined,
  );
}

function sameIdentifiers(
  a: readonly { type: string; value: string }[] | undefined,
  b: readonly { type: string; value: string }[],
): boolean {
  const key = (list: readonly { type: string; value: string }[]): string =>
    list
      .map((i) => `${i.type}:${i.value.toLowerCase()}`)
      .sort()
      .join(',');
  return a !== undefined && key(a) === key(b);
}
