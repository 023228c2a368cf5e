import type { ChallengeSolver } from '../challenges/solver.js';
import { type CaFallbackPolicy, type CaSettings, caaIdentitiesFor } from '../model/cas.js';
import { asCertkeeperError } from '../model/errors.js';
import type { Log } from '../model/log.js';
import type { CertificateSpec } from '../model/spec.js';
import { type CertificateState, initialState } from '../model/state.js';
import {
  type CaCandidate,
  type CaChoice,
  caAttemptAfterFailure,
  chooseCa,
  isCaFault,
} from '../renewal/ca-choice.js';
import type { CertificateAuthority, IssuedCertificate, OrderRequest } from './ca.js';
import {
  type CaaResolver,
  caaNames,
  caaNamesAccount,
  caaRefusal,
  type RelevantCaa,
  relevantCaa,
} from './caa.js';

/** One configured CA: the name events, status and the manifest use, and its port. */
export interface Authority {
  readonly name: string;
  readonly ca: CertificateAuthority;
  readonly settings: CaSettings;
}

export const authorityNamed = (authorities: readonly Authority[], name: string | undefined) =>
  authorities.find((a) => a.name === name);

/**
 * The CA that issued the certificate in place: ARI (RFC 9773 §4.2) and `replaces` (§5) are
 * about a certificate of that CA, and only it can answer. A state from before CAs had names
 * was issued by the preferred CA.
 */
export function issuingAuthority(
  authorities: readonly Authority[],
  state: CertificateState,
): Authority | undefined {
  return state.current?.ca === undefined ? authorities[0] : authorityNamed(authorities, state.current.ca);
}

/** What the CA answers to in CAA: configured, else its directory's meta, else well-known. */
async function caaIdentitiesOf(authority: Authority): Promise<string[]> {
  const fromDirectory = await authority.ca
    .directory()
    .then((dir) => dir.caaIdentities)
    .catch(() => []);
  return caaIdentitiesFor(authority.settings, fromDirectory);
}

/**
 * Our account URL at the CA, for CAA's `accounturi` (RFC 8657 §3); undefined when it cannot
 * be had now (the CA is down), and then the CA judges the binding when it is back.
 */
async function accountUriOf(authority: Authority, log: Log): Promise<string | undefined> {
  try {
    return await authority.ca.accountUrl();
  } catch (err) {
    log.warn('account URL unknown; CAA accounturi not checked for this CA', {
      ca: authority.name,
      error: String(err),
    });
    return undefined;
  }
}

/**
 * The configured CAs with what the names' CAA records say of each. A lookup that fails
 * forbids nothing (the CA checks CAA itself and refuses if it must); a CA whose identity is
 * unknown cannot be judged and is left to try. The account URL is looked up only when a
 * record naming the CA binds it to an account.
 */
export async function caaCandidates(
  resolver: CaaResolver,
  spec: CertificateSpec,
  authorities: readonly Authority[],
  log: Log,
): Promise<CaCandidate[]> {
  const sets: { wildcard: boolean; set: RelevantCaa }[] = [];
  for (const { name, wildcard } of caaNames(spec.identifiers)) {
    try {
      const set = await relevantCaa(resolver, name);
      if (set) sets.push({ wildcard, set });
    } catch (err) {
      log.warn('CAA lookup failed; no CA skipped for it', {
        certificate: spec.name,
        name,
        error: String(err),
      });
    }
  }
  return Promise.all(
    authorities.map(async (authority) => {
      if (sets.length === 0) return { name: authority.name };
      const identities = await caaIdentitiesOf(authority);
      if (identities.length === 0) return { name: authority.name };
      const questions = sets.map(({ wildcard, set }) => ({
        set,
        question: { identities, wildcard, challenge: spec.challenge },
      }));
      const accountUri = questions.some(({ set, question }) => caaNamesAccount(set, question))
        ? await accountUriOf(authority, log)
        : undefined;
      const refusal = questions
        .map(({ set, question }) => caaRefusal(set, { ...question, accountUri }))
        .find((why) => why !== undefined);
      return refusal ? { name: authority.name, caaRefusal: refusal } : { name: authority.name };
    }),
  );
}

/** The CA for this attempt. With one CA there is nothing to choose; with several, CAA is read first (RFC 8659). */
export async function chooseAuthority(
  authorities: readonly Authority[],
  caa: CaaResolver | undefined,
  spec: CertificateSpec,
  state: CertificateState,
  now: Date,
  policy: CaFallbackPolicy,
  log: Log,
): Promise<CaChoice> {
  const candidates =
    authorities.length > 1 && caa
      ? await caaCandidates(caa, spec, authorities, log)
      : authorities.map((a) => ({ name: a.name }));
  return chooseCa(candidates, state, now, policy);
}

/**
 * One order outside the renewal pass (a CSR the user made): tried at the CAs as a pass's
 * attempts are (shared/usecases/renew-certificate.ts), with the same choice: a CA the names'
 * CAA forbids is skipped, and a failure of the CA's own (down, a 5xx, a refusal) moves on to
 * the next at once, each CA at most once. A failed validation would fail at any CA and is
 * the answer; so is the last CA's failure.
 */
export async function issueAtAuthorities(
  authorities: readonly Authority[],
  caa: CaaResolver | undefined,
  spec: CertificateSpec,
  order: OrderRequest,
  solver: ChallengeSolver,
  policy: CaFallbackPolicy,
  log: Log,
): Promise<{ ca: string; issued: IssuedCertificate }> {
  const now = new Date();
  const moveAtOnce = { ...policy, afterFailures: 1 };
  let state = initialState(now);
  let failure: unknown;
  for (let tried = 0; tried < authorities.length; tried++) {
    const choice = await chooseAuthority(authorities, caa, spec, state, now, moveAtOnce, log);
    // After a failure, that failure says more than "no other CA is allowed".
    if ('refused' in choice) throw failure ?? choice.refused;
    const authority = authorityNamed(authorities, choice.ca)!;
    try {
      return { ca: authority.name, issued: await authority.ca.issue(order, solver) };
    } catch (err) {
      const error = asCertkeeperError(err);
      if (!isCaFault(error, now) || tried === authorities.length - 1) throw err;
      failure = err;
      state = { ...state, caAttempt: caAttemptAfterFailure(state, authority.name, error, now) };
      log.warn(`CA ${authority.name} failed; trying the next CA`, {
        ca: authority.name,
        error: error.describe(),
      });
    }
  }
  throw failure;
}
