import { type Authority, authorityNamed, chooseAuthority, issuingAuthority } from '../acme/authorities.js';
import type { CaaResolver } from '../acme/caa.js';
import { orderCertificate, pollRenewalInfo } from '../acme/order-certificate.js';
import type { ChallengeSolver } from '../challenges/solver.js';
import type { AcmImporter } from '../delivery/acm.js';
import { deliverToAcm } from '../delivery/acm-delivery.js';
import type { EventPublisher } from '../events/publisher.js';
import type { Inventory } from '../inventory/inventory.js';
import { type HeldLease, withLease } from '../lock/keeper.js';
import type { LeaseLock } from '../lock/lock.js';
import { type CaFallbackPolicy, DEFAULT_CA_FALLBACK } from '../model/cas.js';
import { type Clock, MINUTE } from '../model/clock.js';
import { asCertkeeperError, type CertkeeperError, NotFoundError } from '../model/errors.js';
import type { Log } from '../model/log.js';
import type { CertificateSpec } from '../model/spec.js';
import type { CertificateState, InventoryRecord } from '../model/state.js';
import type { Random } from '../renewal/ari.js';
import { movesOn } from '../renewal/ca-choice.js';
import { type ForceRequest, forceDecision, rememberForce } from '../renewal/forced.js';
import { ariPollDue, renewalDue } from '../renewal/policy.js';
import { stateForLatestSpec } from '../renewal/spec-change.js';
import * as machine from '../renewal/transition.js';
import { storeIssuedBundle } from '../store/issued.js';
import { recordAndPublish } from './record-and-publish.js';
import { manifestKey } from '../store/layout.js';
import type { PendingKeys } from '../store/pending-keys.js';
import type { CertificateStore } from '../store/store.js';

export interface RenewDeps {
  clock: Clock;
  inventory: Inventory;
  lock: LeaseLock;
  store: CertificateStore;
  /** The key of the order in flight, kept so a resumed order can still use it. */
  pendingKeys: PendingKeys;
  /** The CAs, preferred first (at least one). */
  authorities: readonly Authority[];
  /** When a renewal failing for the CA's reasons moves to the next CA. */
  caFallback?: CaFallbackPolicy;
  /** Reads the names' CAA records, to skip a CA they forbid (with more than one CA). */
  caa?: CaaResolver;
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
  /**
   * With `force`, the operator's request it comes from (a queued message): honoured once
   * (renewal/forced.ts). Without it, `force` is taken as given (local mode runs it at once).
   */
  request?: ForceRequest;
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

const notDeclared = (name: string): NotFoundError =>
  new NotFoundError(
    `certificate "${name}" is not in the inventory`,
    'declare it first (certkeeper add, or the certificates list of certkeeper.config.json)',
  );

/**
 * One pass over a certificate (see the README's architecture notes). This module only
 * sequences I/O: lock, read, poll ARI if due, order if due, store, deliver, write the
 * state, publish, release. Every next state and event comes from the state machine in
 * renewal/transition.ts. A failure at any step leaves the previous certificate served (the
 * manifest is replaced only after the new files are stored and verified) and the state
 * retryable at a time the policy chose.
 */
export async function renewCertificate(
  deps: RenewDeps,
  name: string,
  options: RenewOptions = {},
): Promise<RenewOutcome> {
  const ttl = deps.leaseTtlMs ?? DEFAULT_LEASE_TTL;
  const outcome = await withLease(deps.lock, name, ttl, deps.log, async (held) => {
    // The first read is the claim, after locking: another worker may have finished this
    // renewal meanwhile, and the claim marks the item as this lease's first, so a late holder
    // cannot write behind it. No read before locking: every message names a declared
    // certificate but a stray one, whose lock item (kept for its fence counter) DynamoDB's
    // TTL removes a week later; one read fewer on every renewal pays for that.
    const record = await deps.inventory.claim(name, held.lease);
    if (!record) throw notDeclared(name);
    const ctx = context(deps, record.spec);
    const force = honouredForce(deps, ctx, record.state, options);
    const pass = await tend(deps, ctx, record, held, { force });
    // An operator may have changed the spec while we worked (declaring is not fenced).
    const latest = await deps.inventory.get(name);
    let state = latest ? stateForLatestSpec(pass.state, record.spec, latest.spec, ctx.now) : pass.state;
    if (force && options.request) state = rememberForce(state, options.request);
    await recordAndPublish(deps, ctx, held, record.state, state, [
      ...(record.state.outbox ?? []),
      ...pass.events,
    ]);
    return { ...pass.outcome, ariPolled: state.ari?.lastPolledAt !== record.state.ari?.lastPolledAt };
  });
  return outcome ?? { status: 'busy', name };
}

type Pass = machine.Transition & { outcome: RenewOutcome };

/** `force` as given, or for a request with an id as renewal/forced.ts decides (logged when not). */
function honouredForce(
  deps: RenewDeps,
  ctx: machine.Context,
  state: CertificateState,
  options: RenewOptions,
): boolean {
  if (!options.force || !options.request) return Boolean(options.force);
  const decision = forceDecision(state, options.request, ctx.now);
  if (!decision.force) {
    deps.log.warn('forced renewal request not forced', {
      certificate: ctx.spec.name,
      requestId: options.request.id,
      reason: decision.ignored,
    });
  }
  return decision.force;
}

const context = (deps: RenewDeps, spec: CertificateSpec): machine.Context => ({
  spec,
  now: deps.clock.now(),
  bucket: deps.bucket,
  random: deps.random ?? Math.random,
});

async function tend(
  deps: RenewDeps,
  ctx: machine.Context,
  record: InventoryRecord,
  held: HeldLease,
  options: RenewOptions,
): Promise<Pass> {
  let state = record.state;
  // A poll may move the renewal time into the past, so it comes first.
  if (!options.force && ariPollDue(state, ctx.now)) state = await pollAri(deps, ctx, state);

  const attempted =
    options.force || renewalDue(ctx.spec, state, ctx.now)
      ? await attemptAtCas(deps, ctx, state, held)
      : undefined;
  // ACM regions without the current serial (delivery/acm-delivery.ts): recorded per region,
  // never a failure of this pass; a failed import makes the certificate due again.
  const fresh = attempted?.outcome.status === 'issued' || attempted?.outcome.status === 'renewed';
  const delivered = await deliverToAcm(deps, ctx.spec, attempted?.state ?? state, ctx.now, {
    fresh,
    fence: () => held.confirm('importing into ACM'),
  });
  const settled = machine.settle(ctx, delivered);
  return {
    state: settled.state,
    events: [...(attempted?.events ?? []), ...settled.events],
    outcome: attempted?.outcome ?? { status: 'not-due', name: ctx.spec.name, dueAt: settled.state.dueAt },
  };
}

/**
 * One attempt, and when its failure moves the renewal to another CA, an attempt there in the
 * same pass (each CA at most once): the backoff that follows a failure is meant for the CA
 * that failed, not for the one taking over.
 */
async function attemptAtCas(
  deps: RenewDeps,
  ctx: machine.Context,
  state: CertificateState,
  held: HeldLease,
): Promise<Pass> {
  let pass = await attempt(deps, ctx, state, held);
  const policy = deps.caFallback ?? DEFAULT_CA_FALLBACK;
  const cas = deps.authorities.length;
  for (let tried = 1; tried < cas && pass.outcome.status === 'failed'; tried++) {
    if (!movesOn(pass.state, ctx.now, policy, cas)) break;
    const next = await attempt(deps, ctx, pass.state, held);
    pass = { ...next, events: [...pass.events, ...next.events] };
  }
  return pass;
}

async function attempt(
  deps: RenewDeps,
  ctx: machine.Context,
  state: CertificateState,
  held: HeldLease,
): Promise<Pass> {
  const { spec } = ctx;
  const policy = deps.caFallback ?? DEFAULT_CA_FALLBACK;
  const choice = await chooseAuthority(
    deps.authorities,
    deps.caa,
    ctx.spec,
    state,
    ctx.now,
    policy,
    deps.log,
  );
  if ('refused' in choice) return failed(deps, ctx, state, choice.refused, undefined);
  const authority = authorityNamed(deps.authorities, choice.ca)!;
  if (choice.movedFrom || choice.skipped.length > 0) {
    deps.log.warn('renewal goes to another CA', {
      certificate: spec.name,
      ca: authority.name,
      movedFrom: choice.movedFrom,
      skipped: choice.skipped,
    });
  }
  const sameCa = (name: string | undefined) => (name ?? deps.authorities[0]!.name) === authority.name;
  try {
    const { keyPem, fullchainPem } = await orderCertificate(
      authority.ca,
      spec,
      deps.solverFor(spec),
      {
        // RFC 9773 §5: `replaces` names a certificate this same CA issued.
        predecessor: sameCa(state.current?.ca) ? state.current?.certId : undefined,
        // An order is resumed only at the CA it lives at.
        resumeOrderUrl: sameCa(state.caAttempt?.name) ? state.orderUrl : undefined,
        pendingKeys: deps.pendingKeys,
        // Recorded at once so an interrupted attempt (a Lambda timeout) resumes the order
        // instead of placing a second one for this renewal.
        onOrder: async (orderUrl) => {
          const next = machine.withOrder(ctx, state, orderUrl, authority.name);
          if (next) await deps.inventory.putState(spec.name, next, held.lease);
        },
      },
      deps.log,
    );
    const stored = await storeIssuedBundle(deps.store, spec, keyPem, fullchainPem, ctx.now, authority.name, {
      beforeManifest: () => held.confirm('writing the manifest'),
    });
    const { serial, notBefore, notAfter, certId } = stored;
    const key = manifestKey(spec.name);
    const done = machine.afterIssued(ctx, state, {
      serial,
      notBefore,
      notAfter,
      manifestKey: key,
      certId,
      ca: authority.name,
    });
    deps.log.info('certificate stored', { certificate: spec.name, serial, notAfter, ca: authority.name });
    // Ask the CA at once when it wants the new certificate renewed (RFC 9773 §4.3).
    const next = ariPollDue(done.state, ctx.now) ? await pollAri(deps, ctx, done.state) : done.state;
    const status = state.current === undefined ? 'issued' : 'renewed';
    return {
      state: next,
      events: done.events,
      outcome: { status, name: spec.name, serial, notAfter, manifestKey: key },
    };
  } catch (thrown) {
    return failed(deps, ctx, state, asCertkeeperError(thrown), authority.name);
  }
}

function failed(
  deps: RenewDeps,
  ctx: machine.Context,
  state: CertificateState,
  error: CertkeeperError,
  ca: string | undefined,
): Pass {
  const failure = machine.afterFailure(ctx, state, error, ca);
  deps.log.warn('renewal failed', {
    certificate: ctx.spec.name,
    ca,
    attempt: failure.state.attempts,
    code: error.code,
    error: error.message,
    nextAttemptAt: failure.state.nextAttemptAt,
  });
  return {
    ...failure,
    outcome: { status: 'failed', name: ctx.spec.name, error, retryAt: failure.state.nextAttemptAt },
  };
}

/** The poll's outcome folded into the state; nothing to poll without a certID. */
async function pollAri(
  deps: RenewDeps,
  ctx: machine.Context,
  state: CertificateState,
): Promise<CertificateState> {
  const certId = state.current?.certId;
  if (!certId) return state;
  const issuer = issuingAuthority(deps.authorities, state);
  const outcome = issuer
    ? await pollRenewalInfo(issuer.ca, certId, deps.log)
    : { certId, error: `the CA that issued it (${state.current?.ca}) is no longer configured` };
  return machine.afterAriPoll(ctx, state, outcome);
}
