import { orderCertificate, pollRenewalInfo } from '../acme/order-certificate.js';
import { type Authority, type CaChoiceDeps, issuingAuthority } from '../authorities/authorities.js';
import { acrossAuthorities } from '../authorities/fallback.js';
import type { ChallengeSolver } from '../challenges/solver.js';
import type { Inventory } from '../inventory/inventory.js';
import type { HeldLease } from '../lock/keeper.js';
import { asCertkeeperError, type CertkeeperError } from '../model/errors.js';
import type { CertificateSpec } from '../model/spec.js';
import type { CertificateState } from '../model/state.js';
import { ariPollDue } from '../renewal/policy.js';
import * as machine from '../renewal/transition.js';
import { storeIssuedBundle } from '../store/issued.js';
import { manifestKey } from '../store/layout.js';
import type { PendingKeys } from '../store/pending-keys.js';
import type { CertificateStore } from '../store/store.js';

/** What one attempt at a CA needs: the CA choice, the order's parts and where it is kept. */
export interface AttemptDeps extends CaChoiceDeps {
  inventory: Inventory;
  store: CertificateStore;
  /** The key of the order in flight, kept so a resumed order can still use it. */
  pendingKeys: PendingKeys;
  /** The solver for a certificate's challenge (DNS-01 needs its zone override). */
  solverFor(spec: CertificateSpec): ChallengeSolver | undefined;
}

export type AttemptOutcome =
  | { status: 'issued' | 'renewed'; name: string; serial: string; notAfter: string; manifestKey: string }
  | { status: 'failed'; name: string; error: CertkeeperError; retryAt?: string };

/** One attempt (or several, at the CAs in turn): the next state, its events, the outcome. */
export type Attempt = machine.Transition & { outcome: AttemptOutcome; failed: boolean };

/**
 * The order of this pass, at the CA the choice gives, and at the next ones while failures
 * of the CA's own move it on (authorities/fallback.ts); the events of every attempt are kept.
 */
export async function attemptAtCas(
  deps: AttemptDeps,
  ctx: machine.Context,
  state: CertificateState,
  held: HeldLease,
): Promise<Attempt> {
  const tried = await acrossAuthorities(deps, ctx.spec, state, (at, current) =>
    'refused' in at
      ? Promise.resolve(failed(deps, ctx, current, at.refused, undefined))
      : attemptAt(deps, ctx, current, held, at.authority),
  );
  return { ...tried.at(-1)!, events: tried.flatMap((t) => t.events) };
}

/** Order, store, record: one CA, a fresh key (or the one kept for a resumed order). */
async function attemptAt(
  deps: AttemptDeps,
  ctx: machine.Context,
  state: CertificateState,
  held: HeldLease,
  authority: Authority,
): Promise<Attempt> {
  const { spec } = ctx;
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
      failed: false,
    };
  } catch (thrown) {
    return failed(deps, ctx, state, asCertkeeperError(thrown), authority.name);
  }
}

function failed(
  deps: AttemptDeps,
  ctx: machine.Context,
  state: CertificateState,
  error: CertkeeperError,
  ca: string | undefined,
): Attempt {
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
    failed: true,
  };
}

/** The poll's outcome folded into the state; nothing to poll without a certID. */
export async function pollAri(
  deps: Pick<AttemptDeps, 'authorities' | 'log'>,
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
