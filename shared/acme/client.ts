import type { Authorization, Client, Order } from 'acme-client';
import type { ChallengeSolver } from '../challenges/solver.js';
import { type Clock, MINUTE, systemClock } from '../model/clock.js';
import { AcmeProblemError, CertkeeperError, shortProblemType } from '../model/errors.js';
import { certificateMatchesCsr } from '../pki/certificate.js';
import { splitPemChain } from '../pki/pem.js';
import type { AcmeAccount, AcmeAccounts, ExternalAccountBinding } from './account.js';
import { fetchRenewalInfo } from './ari.js';
import { authorize, type ChallengeParts, cleanupValidated } from './authorize.js';
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
import { checkProfile, rejectsReplaces, sameIdentifiers } from './order-answers.js';
import { waitSettled } from './order-wait.js';
import { DEFAULT_POLLING, type PollingOptions } from './poll.js';
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
      await authorize(client, order, solver, this.challengeParts(progress), cleanups);
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
    await cleanupValidated(client, order, solver, this.challengeParts());
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

  /** What presenting and taking down the challenges needs of this CA (authorize.ts). */
  private challengeParts(progress: (step: OrderStep) => void = () => {}): ChallengeParts {
    return {
      progress,
      retryAfterOf: (body) => this.transport.retryAfterOf(body),
      waitValid: (client, authz, retryAfterMs) =>
        this.waitValid(client, authz, 'authorization', { retryAfterMs }),
      warn: (message, extra) => this.warn(message, extra),
    };
  }

  /** Polls an order or authorization until it is ready or valid (order-wait.ts). */
  private waitValid<T extends Order | Authorization>(
    client: Client,
    item: T,
    kind: 'order' | 'authorization',
    options: { immediate?: boolean; retryAfterMs?: number } = {},
  ): Promise<T> {
    return waitSettled(client, item, kind, {
      ...options,
      polling: this.polling,
      clock: this.clock,
      transport: this.transport,
    });
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
