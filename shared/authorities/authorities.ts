import type { CertificateAuthority } from '../acme/ca.js';
import type { CaaResolver } from '../dns/resolver.js';
import { type CaFallbackPolicy, type CaSettings, caaIdentitiesFor } from '../model/cas.js';
import type { Clock } from '../model/clock.js';
import type { CertkeeperError } from '../model/errors.js';
import type { Log } from '../model/log.js';
import type { CertificateSpec } from '../model/spec.js';
import type { CertificateState } from '../model/state.js';
import { caaNames, caaNamesAccount, caaRefusal, type RelevantCaa, relevantCaa } from './caa.js';
import { type CaCandidate, type CaChoice, chooseCa } from './choice.js';

/** One configured CA: the name events, status and the manifest use, and its port. */
export interface Authority {
  readonly name: string;
  readonly ca: CertificateAuthority;
  readonly settings: CaSettings;
}

/**
 * What choosing a CA takes: the CAs, preferred first (at least one), the names' CAA records,
 * the fallback rule, the time and where to say what was chosen.
 */
export interface CaChoiceDeps {
  authorities: readonly Authority[];
  /** Reads the names' CAA records, to skip a CA they forbid (with more than one CA). */
  caa?: CaaResolver;
  /** When a renewal failing for the CA's reasons moves to the next CA (DEFAULT_CA_FALLBACK). */
  caFallback?: CaFallbackPolicy;
  clock: Clock;
  log: Log;
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

/** The CA an attempt goes to, with what the choice passed over (choice.ts); or why no CA may issue. */
export type AuthorityChoice =
  | ({ authority: Authority } & Omit<Extract<CaChoice, { ca: string }>, 'ca'>)
  | Extract<CaChoice, { refused: CertkeeperError }>;

/**
 * The CA for this attempt (choice.ts decides, given the failures so far in `state`). With one
 * CA there is nothing to choose; with several, CAA is read first (RFC 8659).
 */
export async function chooseAuthority(
  deps: CaChoiceDeps,
  spec: CertificateSpec,
  state: CertificateState,
  policy: CaFallbackPolicy,
): Promise<AuthorityChoice> {
  const { authorities, caa, log } = deps;
  const candidates =
    authorities.length > 1 && caa
      ? await caaCandidates(caa, spec, authorities, log)
      : authorities.map((a) => ({ name: a.name }));
  const choice = chooseCa(candidates, state, deps.clock.now(), policy);
  if ('refused' in choice) return choice;
  const { ca, ...passed } = choice;
  return { authority: authorityNamed(authorities, ca)!, ...passed };
}
