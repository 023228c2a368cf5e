import type { CertificateAuthority } from './acme/ca.js';
import type { ChallengeSolver } from './challenges/solver.js';
import type { EventPublisher } from './events/publisher.js';
import type { Inventory } from './inventory/inventory.js';
import type { Lease, LeaseLock } from './lock/lock.js';
import type { Clock } from './model/clock.js';
import { MINUTE } from './model/clock.js';
import {
  AcmeProblemError,
  type CertkeeperError,
  ConflictError,
  IntegrityError,
  NotFoundError,
  RetryLaterError,
  asCertkeeperError,
} from './model/errors.js';
import type { CertificateEvent, EventType } from './model/events.js';
import { identifierValues } from './model/identifiers.js';
import type { Log } from './model/log.js';
import type { CertificateSpec } from './model/spec.js';
import type { CertificateState, InventoryRecord } from './model/state.js';
import {
  certId,
  createCsr,
  generateKey,
  keyMatchesCertificate,
  parseCertificate,
  splitPemChain,
} from './pki/index.js';
import { dueReason } from './renewal/policy.js';
import { manifestKey } from './store/keys.js';
import type { CertificateStore, Manifest } from './store/store.js';

export interface RenewDeps {
  clock: Clock;
  inventory: Inventory;
  lock: LeaseLock;
  store: CertificateStore;
  ca: CertificateAuthority;
  /** The solver for a certificate's challenge (DNS-01 needs its zone override). */
  solverFor(spec: CertificateSpec): ChallengeSolver | undefined;
  events: EventPublisher;
  /** The bucket named in events, so subscribers can fetch the manifest (absent locally). */
  bucket?: string;
  log: Log;
  /** How long a lease lasts before another worker may take over; renewed while working. */
  leaseTtlMs?: number;
}

export interface RenewOptions {
  /** Renew even when the policy says it is not due (operator request). */
  force?: boolean;
}

export type RenewOutcome =
  | { status: 'issued' | 'renewed'; name: string; serial: string; notAfter: string; manifestKey: string }
  | { status: 'busy'; name: string }
  | { status: 'not-due'; name: string }
  | { status: 'failed'; name: string; error: CertkeeperError; retryAt?: string };

const DEFAULT_LEASE_TTL = 5 * MINUTE;

/**
 * The one place that sequences a renewal (see the README's architecture notes):
 * lock, re-check, order, store, record, announce, release. A failure at any step leaves
 * the previous certificate served (the manifest is replaced only after the new files are
 * stored and verified) and the state retryable.
 */
export async function renewCertificate(
  deps: RenewDeps,
  name: string,
  options: RenewOptions = {},
): Promise<RenewOutcome> {
  const ttl = deps.leaseTtlMs ?? DEFAULT_LEASE_TTL;
  if (!(await deps.inventory.get(name))) {
    throw new NotFoundError(
      `certificate "${name}" is not in the inventory`,
      'declare it first (certkeeper add, or the certificates list of certkeeper.config.json)',
    );
  }

  const lease = await deps.lock.acquire(name, ttl);
  if (!lease) return { status: 'busy', name };
  const keepAlive = new LeaseKeeper(deps, lease, ttl);
  try {
    // Re-read after locking: another worker may have finished this renewal meanwhile.
    const record = await deps.inventory.get(name);
    if (!record) throw new NotFoundError(`certificate "${name}" was removed`, 'declare it again');
    if (!options.force && !dueReason(record.state, deps.clock.now())) return { status: 'not-due', name };
    return await attempt(deps, record, keepAlive);
  } finally {
    keepAlive.stop();
    await deps.lock.release(keepAlive.lease).catch((err: unknown) =>
      deps.log.warn('lease release failed; it will expire on its own', {
        certificate: name,
        error: String(err),
      }),
    );
  }
}

async function attempt(deps: RenewDeps, record: InventoryRecord, keeper: LeaseKeeper): Promise<RenewOutcome> {
  const { spec, state } = record;
  const log = deps.log;
  try {
    const solver = deps.solverFor(spec);
    if (!solver) {
      throw new NotFoundError(
        `no ${spec.challenge} solver is configured`,
        'configure the challenge in the deployment',
      );
    }
    const keyPem = generateKey(spec.keyType);
    const csrPem = await createCsr(spec.identifiers, keyPem);
    log.info('ordering certificate', {
      certificate: spec.name,
      identifiers: identifierValues(spec.identifiers),
    });
    const issued = await deps.ca.issue(
      {
        identifiers: spec.identifiers,
        profile: spec.profile,
        csrPem,
        resumeOrderUrl: state.orderUrl,
        // Persist the order URL at once so an interrupted attempt resumes it (RFC 8555 §7.4)
        // instead of placing a second order for the same renewal.
        onOrder: async (orderUrl) => {
          if (orderUrl !== state.orderUrl) {
            await deps.inventory.putState(
              spec.name,
              { ...state, orderUrl, updatedAt: now(deps) },
              keeper.lease,
            );
          }
        },
      },
      solver,
    );
    const manifest = await storeBundle(deps, spec, keyPem, issued.fullchainPem);
    const renewed = state.current !== undefined;
    const next: CertificateState = {
      status: 'valid',
      current: {
        serial: manifest.serial,
        notBefore: manifest.notBefore,
        notAfter: manifest.notAfter,
        manifestKey: manifestKey(spec.name),
        certId: manifest.certId,
        profile: spec.profile,
      },
      attempts: 0,
      lastSuccessAt: now(deps),
      updatedAt: now(deps),
    };
    await deps.inventory.putState(spec.name, next, keeper.lease);
    await publish(deps, renewed ? 'certificate.renewed' : 'certificate.issued', spec, next);
    log.info('certificate stored', {
      certificate: spec.name,
      serial: manifest.serial,
      notAfter: manifest.notAfter,
    });
    return {
      status: renewed ? 'renewed' : 'issued',
      name: spec.name,
      serial: manifest.serial,
      notAfter: manifest.notAfter,
      manifestKey: next.current!.manifestKey,
    };
  } catch (thrown) {
    return recordFailure(deps, record, keeper.lease, asCertkeeperError(thrown));
  }
}

async function storeBundle(
  deps: RenewDeps,
  spec: CertificateSpec,
  keyPem: string,
  fullchain: string,
): Promise<Manifest> {
  const { leaf, chain } = splitPemChain(fullchain);
  // The CA returned a certificate for the CSR we sent; checking the pair here keeps a
  // mismatched bundle from ever being written (RFC 8555 §7.4.2).
  if (!keyMatchesCertificate(keyPem, leaf)) {
    throw new IntegrityError('the issued certificate does not match the generated key', 'retry the renewal');
  }
  const info = parseCertificate(leaf);
  return deps.store.putBundle(
    spec.name,
    info.serialHex,
    { cert: leaf, chain: chain.join(''), fullchain, privkey: keyPem },
    {
      identifiers: identifierValues(spec.identifiers),
      profile: spec.profile,
      keyType: spec.keyType,
      notBefore: info.notBefore.toISOString(),
      notAfter: info.notAfter.toISOString(),
      issuedAt: now(deps),
      certId: certIdOrUndefined(leaf),
    },
  );
}

/**
 * Records the failure and announces it. The certificate in place is untouched. The
 * renewal engine decides backoff; here a Retry-After from the CA is honoured as the next
 * attempt time, never slept through.
 */
async function recordFailure(
  deps: RenewDeps,
  record: InventoryRecord,
  lease: Lease,
  error: CertkeeperError,
): Promise<RenewOutcome> {
  const { spec, state } = record;
  const retryAt = error instanceof RetryLaterError ? error.retryAt.toISOString() : undefined;
  const problemType =
    error instanceof AcmeProblemError
      ? error.type
      : error instanceof RetryLaterError
        ? error.problemType
        : undefined;
  const next: CertificateState = {
    ...state,
    attempts: state.attempts + 1,
    lastError: { code: error.code, type: problemType, detail: error.message, at: now(deps) },
    nextAttemptAt: retryAt,
    // A refused order cannot be resumed; keep the URL only when the CA asked us to wait.
    orderUrl: retryAt ? state.orderUrl : undefined,
    updatedAt: now(deps),
  };
  deps.log.warn('renewal failed', {
    certificate: spec.name,
    attempt: next.attempts,
    code: error.code,
    error: error.message,
    retryable: error.retryable,
  });
  try {
    await deps.inventory.putState(spec.name, next, lease);
  } catch (err) {
    // A lost lease means another worker owns the certificate now; its state wins.
    if (err instanceof ConflictError) return { status: 'failed', name: spec.name, error, retryAt };
    throw err;
  }
  await publish(deps, 'certificate.renewal_failed', spec, next, {
    attempt: next.attempts,
    error: { type: problemType, detail: error.message },
  });
  return { status: 'failed', name: spec.name, error, retryAt };
}

async function publish(
  deps: RenewDeps,
  type: EventType,
  spec: CertificateSpec,
  state: CertificateState,
  extra: Partial<CertificateEvent> = {},
): Promise<void> {
  await deps.events.publish({
    type,
    certificate: spec.name,
    identifiers: identifierValues(spec.identifiers),
    serial: state.current?.serial,
    notAfter: state.current?.notAfter,
    bucket: deps.bucket,
    manifestKey: state.current?.manifestKey,
    at: now(deps),
    ...extra,
  });
}

function certIdOrUndefined(leaf: string): string | undefined {
  // A leaf without an Authority Key Identifier has no RFC 9773 certID; ARI is skipped for it.
  try {
    return certId(leaf);
  } catch {
    return undefined;
  }
}

const now = (deps: RenewDeps): string => deps.clock.now().toISOString();

/**
 * Keeps the lease alive while an order waits on validation, so a slow CA does not hand
 * the certificate to a second worker mid-order. A lost lease is remembered; the fenced
 * state write then refuses this worker's result.
 */
class LeaseKeeper {
  lease: Lease;
  private readonly timer: NodeJS.Timeout;
  constructor(deps: RenewDeps, lease: Lease, ttl: number) {
    this.lease = lease;
    this.timer = setInterval(() => {
      deps.lock.renew(this.lease, ttl).then(
        (renewed) => (this.lease = renewed),
        (err: unknown) =>
          deps.log.warn('lease renewal failed', { certificate: lease.name, error: String(err) }),
      );
    }, ttl / 3);
    this.timer.unref();
  }
  stop(): void {
    clearInterval(this.timer);
  }
}
