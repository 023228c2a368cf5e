import type { CertificateAuthority } from './acme/ca.js';
import type { ChallengeSolver } from './challenges/solver.js';
import type { AcmImporter } from './delivery/acm.js';
import { deliverToAcm } from './delivery/acm-delivery.js';
import type { EventPublisher } from './events/publisher.js';
import type { Inventory } from './inventory/inventory.js';
import type { Lease, LeaseLock } from './lock/lock.js';
import type { Clock } from './model/clock.js';
import { MINUTE } from './model/clock.js';
import {
  AcmeProblemError,
  type CertkeeperError,
  IntegrityError,
  NotFoundError,
  RetryLaterError,
  asCertkeeperError,
} from './model/errors.js';
import type { CertificateEvent, EventType } from './events/event.js';
import { identifierValues } from './model/identifiers.js';
import type { Log } from './model/log.js';
import type { CertificateSpec } from './model/spec.js';
import type { CertificateState, InventoryRecord, LastError } from './model/state.js';
import {
  certId,
  createCsr,
  generateKey,
  keyMatchesCertificate,
  parseCertificate,
  splitPemChain,
} from './pki/index.js';
import { expiryAlertDue, recordAlert } from './renewal/alerts.js';
import { applyRenewalInfo, ariPollFailed, type Random } from './renewal/ari.js';
import { FAILING_AFTER, nextRetryAt } from './renewal/backoff.js';
import { ariPollDue, computeDueAt, renewalDue } from './renewal/policy.js';
import { sameSpec, stateAfterSpecChange } from './renewal/spec-change.js';
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
  /** Source of jitter and ARI window picks; tests pass a fixed one. */
  random?: Random;
  /** Imports into the ACM regions a certificate declares (absent in local mode). */
  acm?: AcmImporter;
}

export interface RenewOptions {
  /** Renew even when the policy says it is not due (operator request). */
  force?: boolean;
}

export type RenewOutcome = (
  | { status: 'issued' | 'renewed'; name: string; serial: string; notAfter: string; manifestKey: string }
  | { status: 'busy'; name: string }
  /** Nothing to renew; an ARI poll or an expiry warning may have happened. */
  | { status: 'not-due'; name: string; dueAt: string | undefined }
  | { status: 'failed'; name: string; error: CertkeeperError; retryAt?: string }
) & {
  /** This pass asked the CA for renewal information (for the AriPolls metric). */
  ariPolled?: boolean;
};

const DEFAULT_LEASE_TTL = 5 * MINUTE;

/** One pass over a certificate: what changed, what to announce, what to report. */
interface Pass {
  state: CertificateState;
  events: CertificateEvent[];
  outcome: RenewOutcome;
}

/**
 * The one place that sequences work on a certificate (see the README's architecture
 * notes): lock, re-read, poll ARI if due, renew if due, warn if expiry nears, record,
 * announce, release. A failure at any step leaves the previous certificate served (the
 * manifest is replaced only after the new files are stored and verified) and the state
 * retryable at a time the policy chose.
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
  const keeper = new LeaseKeeper(deps, lease, ttl);
  try {
    // Re-read after locking: another worker may have finished this renewal meanwhile.
    const record = await deps.inventory.get(name);
    if (!record) throw new NotFoundError(`certificate "${name}" was removed`, 'declare it again');
    const pass = await tend(deps, record, keeper, options);
    // An operator may have changed the spec while we worked (putSpec is not fenced): carry
    // its reset over rather than overwrite it with a state made for the old spec.
    const latest = await deps.inventory.get(name);
    const state =
      latest && !sameSpec(latest.spec, record.spec)
        ? stateAfterSpecChange(pass.state, record.spec, latest.spec, deps.clock.now())
        : pass.state;
    // State first, then events (DESIGN: a subscriber never hears of a state not recorded).
    if (JSON.stringify({ ...state, updatedAt: '' }) !== JSON.stringify({ ...record.state, updatedAt: '' })) {
      await deps.inventory.putState(name, state, keeper.lease);
    }
    for (const event of pass.events) await deps.events.publish(event);
    const ariPolled = state.ari?.lastPolledAt !== record.state.ari?.lastPolledAt;
    return { ...pass.outcome, ariPolled };
  } finally {
    keeper.stop();
    await deps.lock.release(keeper.lease).catch((err: unknown) =>
      deps.log.warn('lease release failed; it will expire on its own', {
        certificate: name,
        error: String(err),
      }),
    );
  }
}

async function tend(
  deps: RenewDeps,
  record: InventoryRecord,
  keeper: LeaseKeeper,
  options: RenewOptions,
): Promise<Pass> {
  const { spec } = record;
  const now = deps.clock.now();
  let state = record.state;
  // A poll may move the renewal time into the past, so it comes first.
  if (!options.force && ariPollDue(state, now)) state = await pollAri(deps, state, now);

  let pass: Pass;
  if (options.force || renewalDue(spec, state, now)) {
    pass = await attempt(deps, spec, state, keeper, now);
  } else {
    pass = { state, events: [], outcome: { status: 'not-due', name: spec.name, dueAt: undefined } };
  }

  // ACM regions without the current serial (shared/delivery/acm-delivery.ts): recorded per
  // region, never a failure of this pass; a failed import makes the certificate due again.
  const fresh = pass.outcome.status === 'issued' || pass.outcome.status === 'renewed';
  let next = await deliverToAcm(deps, spec, pass.state, now, { fresh });
  const warning = expiryAlertDue(next, now);
  if (warning) {
    next = recordAlert(next, warning);
    // Say why it has not renewed: the failure count and the CA's last answer.
    const why =
      next.attempts > 0 && next.lastError
        ? { attempt: next.attempts, error: { type: next.lastError.type, detail: next.lastError.detail } }
        : {};
    pass.events.push(event(deps, 'certificate.expiring', spec, next, { warning, ...why }));
  }
  if (next.current && new Date(next.current.notAfter) <= now && next.status === 'valid') {
    next = { ...next, status: 'expired' };
  }
  const dueAt = computeDueAt(spec, next, now)?.toISOString();
  next = { ...next, dueAt, updatedAt: now.toISOString() };
  const outcome = pass.outcome.status === 'not-due' ? { ...pass.outcome, dueAt } : pass.outcome;
  return { state: next, events: pass.events, outcome };
}

async function attempt(
  deps: RenewDeps,
  spec: CertificateSpec,
  state: CertificateState,
  keeper: LeaseKeeper,
  now: Date,
): Promise<Pass> {
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
    // RFC 9773 §5: name the predecessor so the CA can exempt the order from rate limits.
    const replaces =
      state.current?.certId && (await deps.ca.directory()).renewalInfo ? state.current.certId : undefined;
    deps.log.info('ordering certificate', {
      certificate: spec.name,
      identifiers: identifierValues(spec.identifiers),
      replaces,
    });
    const issued = await deps.ca.issue(
      {
        identifiers: spec.identifiers,
        profile: spec.profile,
        csrPem,
        replaces,
        resumeOrderUrl: state.orderUrl,
        // Persist the order URL at once so an interrupted attempt (a Lambda timeout)
        // resumes it (RFC 8555 §7.4) instead of placing a second order for this renewal.
        onOrder: async (orderUrl) => {
          if (orderUrl !== state.orderUrl) {
            await deps.inventory.putState(
              spec.name,
              { ...state, orderUrl, updatedAt: now.toISOString() },
              keeper.lease,
            );
          }
        },
      },
      solver,
    );
    const manifest = await storeBundle(deps, spec, keyPem, issued.fullchainPem, now);
    const renewed = state.current !== undefined;
    let next: CertificateState = {
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
      lastSuccessAt: now.toISOString(),
      // Where ACM stands (its ARNs) outlives the serial; deliverToAcm updates it next.
      ...(state.acm ? { acm: state.acm } : {}),
      updatedAt: now.toISOString(),
    };
    // Ask the CA at once when it wants the new certificate renewed (RFC 9773 §4.3).
    if (ariPollDue(next, now)) next = await pollAri(deps, next, now);
    deps.log.info('certificate stored', {
      certificate: spec.name,
      serial: manifest.serial,
      notAfter: manifest.notAfter,
    });
    return {
      state: next,
      events: [event(deps, renewed ? 'certificate.renewed' : 'certificate.issued', spec, next)],
      outcome: {
        status: renewed ? 'renewed' : 'issued',
        name: spec.name,
        serial: manifest.serial,
        notAfter: manifest.notAfter,
        manifestKey: manifestKey(spec.name),
      },
    };
  } catch (thrown) {
    return failure(deps, spec, state, asCertkeeperError(thrown), now);
  }
}

/**
 * Records a failed attempt: backoff (or the CA's Retry-After, never slept through), the
 * error with its ACME problem, `failing` after FAILING_AFTER in a row. The certificate in
 * place is untouched. An event goes out when something changed for a person reading it:
 * the first failure, a different error, or the turn to `failing`; not on every retry.
 */
function failure(
  deps: RenewDeps,
  spec: CertificateSpec,
  state: CertificateState,
  error: CertkeeperError,
  now: Date,
): Pass {
  const attempts = state.attempts + 1;
  const retryAt =
    error instanceof RetryLaterError
      ? error.delayMs !== undefined
        ? new Date(now.getTime() + error.delayMs)
        : error.retryAt
      : nextRetryAt(
          attempts,
          now,
          state.current && new Date(state.current.notAfter),
          deps.random ?? Math.random,
        );
  const problemType =
    error instanceof AcmeProblemError
      ? error.type
      : error instanceof RetryLaterError
        ? error.problemType
        : undefined;
  const lastError: LastError = {
    code: error.code,
    type: problemType,
    detail: error.message,
    at: now.toISOString(),
  };
  const next: CertificateState = {
    ...state,
    status: attempts >= FAILING_AFTER ? 'failing' : state.status,
    attempts,
    lastError,
    nextAttemptAt: retryAt.toISOString(),
    // A refused order cannot be resumed; keep the URL only while the CA asked us to wait.
    orderUrl: error instanceof RetryLaterError ? state.orderUrl : undefined,
  };
  deps.log.warn('renewal failed', {
    certificate: spec.name,
    attempt: attempts,
    code: error.code,
    error: error.message,
    nextAttemptAt: next.nextAttemptAt,
  });
  const changed =
    attempts === 1 ||
    errorSignature(state.lastError) !== errorSignature(lastError) ||
    (next.status === 'failing' && state.status !== 'failing');
  return {
    state: next,
    events: changed
      ? [
          event(deps, 'certificate.renewal_failed', spec, next, {
            attempt: attempts,
            nextAttemptAt: next.nextAttemptAt,
            error: { type: problemType, detail: error.message },
          }),
        ]
      : [],
    outcome: { status: 'failed', name: spec.name, error, retryAt: next.nextAttemptAt },
  };
}

/** Two failures are "the same" for announcing purposes when their code and problem type match. */
const errorSignature = (e: LastError | undefined): string => (e ? `${e.code}|${e.type ?? ''}` : '');

/**
 * RFC 9773 §4.2: an unauthenticated GET of the renewal information. Never throws: a failed
 * poll is recorded and retried later, and never stands in the way of a due renewal.
 */
async function pollAri(deps: RenewDeps, state: CertificateState, now: Date): Promise<CertificateState> {
  const id = state.current?.certId;
  if (!id) return state;
  const random = deps.random ?? Math.random;
  try {
    if (!(await deps.ca.directory()).renewalInfo) {
      return {
        ...state,
        ari: ariPollFailed(state.ari, id, 'the CA offers no renewal information', now, random),
      };
    }
    const info = await deps.ca.getRenewalInfo(id);
    return { ...state, ari: applyRenewalInfo(state.ari, id, info, now, random) };
  } catch (err) {
    const message = asCertkeeperError(err).message;
    deps.log.warn('ARI poll failed', { certId: id, error: message });
    return { ...state, ari: ariPollFailed(state.ari, id, message, now, random) };
  }
}

async function storeBundle(
  deps: RenewDeps,
  spec: CertificateSpec,
  keyPem: string,
  fullchain: string,
  now: Date,
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
      issuedAt: now.toISOString(),
      certId: certIdOrUndefined(leaf),
    },
  );
}

function event(
  deps: RenewDeps,
  type: EventType,
  spec: CertificateSpec,
  state: CertificateState,
  extra: Partial<CertificateEvent> = {},
): CertificateEvent {
  return {
    type,
    certificate: spec.name,
    identifiers: identifierValues(spec.identifiers),
    status: state.status,
    serial: state.current?.serial,
    notAfter: state.current?.notAfter,
    bucket: deps.bucket,
    manifestKey: state.current?.manifestKey,
    at: deps.clock.now().toISOString(),
    ...extra,
  };
}

function certIdOrUndefined(leaf: string): string | undefined {
  // A leaf without an Authority Key Identifier has no RFC 9773 certID; ARI is skipped for it.
  try {
    return certId(leaf);
  } catch {
    return undefined;
  }
}

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
