import type { IssuedCertificate, OrderRequest } from '../acme/ca.js';
import type { ChallengeSolver } from '../challenges/solver.js';
import { type CaFallbackPolicy, DEFAULT_CA_FALLBACK } from '../model/cas.js';
import { asCertkeeperError, type CertkeeperError } from '../model/errors.js';
import type { CertificateSpec } from '../model/spec.js';
import { type CertificateState, initialState } from '../model/state.js';
import { type Authority, type AuthorityChoice, type CaChoiceDeps, chooseAuthority } from './authorities.js';
import { caAttemptAfterFailure, movesOn } from './choice.js';

/** What the loop needs of an attempt's result: the state it left and whether it failed. */
export interface Attempted {
  state: CertificateState;
  failed: boolean;
}

export interface FallbackOptions {
  /** Overrides the deps' fallback rule (an order outside the renewal moves at once). */
  policy?: CaFallbackPolicy;
  /** What goes to another CA, for the log line ("renewal", "order"). */
  subject?: string;
}

/**
 * The fallback loop, the one place that decides whether an attempt is followed by another
 * at the next CA: each attempt goes to the CA chosen for the state so far (chooseAuthority,
 * or the refusal when CAA forbids every CA), and when it fails for the CA's own reasons
 * often enough to move on (choice.ts `movesOn`), the next CA is tried at once, in the same
 * pass, each CA at most once: the backoff that follows a failure is meant for the CA that
 * failed, not for the one taking over. Returns every attempt made, the last one deciding.
 */
export async function acrossAuthorities<T extends Attempted>(
  deps: CaChoiceDeps,
  spec: CertificateSpec,
  state: CertificateState,
  attempt: (at: AuthorityChoice, state: CertificateState) => Promise<T>,
  options: FallbackOptions = {},
): Promise<T[]> {
  const policy = options.policy ?? deps.caFallback ?? DEFAULT_CA_FALLBACK;
  const cas = deps.authorities.length;
  const tried: T[] = [];
  for (let current = state; ;) {
    const choice = await chooseAuthority(deps, spec, current, policy);
    if ('authority' in choice && (choice.movedFrom || choice.skipped.length > 0)) {
      deps.log.warn(`${options.subject ?? 'renewal'} goes to another CA`, {
        certificate: spec.name,
        ca: choice.authority.name,
        movedFrom: choice.movedFrom,
        skipped: choice.skipped,
      });
    }
    const result = await attempt(choice, current);
    tried.push(result);
    if (!result.failed || tried.length >= cas) return tried;
    if (!movesOn(result.state, deps.clock.now(), policy, cas)) return tried;
    current = result.state;
  }
}

type CsrAttempt = Attempted &
  (
    | { failed: false; issued: { ca: string; issued: IssuedCertificate } }
    | { failed: true; error: unknown; refused?: boolean }
  );

/**
 * One order outside the renewal pass (a CSR the user made), over the same loop and the same
 * choice: a CA the names' CAA forbids is skipped, and a failure of the CA's own (down, a 5xx,
 * a refusal) moves on to the next at once, each CA at most once. A failed validation would
 * fail at any CA and is the answer; so is the last CA's failure, and after a failure, that
 * failure rather than "no other CA is allowed".
 */
export async function issueAtAuthorities(
  deps: CaChoiceDeps,
  spec: CertificateSpec,
  order: OrderRequest,
  solver: ChallengeSolver,
): Promise<{ ca: string; issued: IssuedCertificate }> {
  const policy = { ...(deps.caFallback ?? DEFAULT_CA_FALLBACK), afterFailures: 1 };
  const tried = await acrossAuthorities<CsrAttempt>(
    deps,
    spec,
    initialState(deps.clock.now()),
    async (at, state) => {
      // No CA may issue: nothing to move on to (as the renewal's state machine records it).
      if ('refused' in at) {
        return { state: { ...state, caAttempt: undefined }, failed: true, error: at.refused, refused: true };
      }
      return attemptAt(deps, at.authority, state, order, solver);
    },
    { policy, subject: 'order' },
  );
  const last = tried.at(-1)!;
  if (!last.failed) return last.issued;
  const before = tried.at(-2);
  throw last.refused && before?.failed ? before.error : last.error;
}

async function attemptAt(
  deps: CaChoiceDeps,
  authority: Authority,
  state: CertificateState,
  order: OrderRequest,
  solver: ChallengeSolver,
): Promise<CsrAttempt> {
  try {
    return {
      state,
      failed: false,
      issued: { ca: authority.name, issued: await authority.ca.issue(order, solver) },
    };
  } catch (err) {
    const error: CertkeeperError = asCertkeeperError(err);
    const caAttempt = caAttemptAfterFailure(state, authority.name, error, deps.clock.now());
    deps.log.warn(`CA ${authority.name} failed`, { ca: authority.name, error: error.describe() });
    return { state: { ...state, caAttempt }, failed: true, error: err };
  }
}
