import type { CaFallbackPolicy } from '../model/cas.js';
import { HOUR } from '../model/clock.js';
import {
  AcmeProblemError,
  CertkeeperError,
  RetryLaterError,
  shortProblemType,
  ProfileNotOfferedError,
} from '../model/errors.js';
import type { CertificateState, CurrentCertificate } from '../model/state.js';

/**
 * Which CA a renewal goes to (pure: no I/O, no clock). The preferred CA first; a renewal
 * that keeps failing there for the CA's own reasons moves to the next one, and a CA the
 * names' CAA records forbid is skipped, saying so. Success forgets all of it, so the next
 * renewal starts at the preferred CA again.
 */
export interface CaCandidate {
  name: string;
  /** Why the names' CAA records forbid this CA (caa.ts); undefined when they allow it. */
  caaRefusal?: string;
}

export type CaChoice =
  | {
      ca: string;
      /** CAs passed over because CAA forbids them, with the reason. */
      skipped: { name: string; why: string }[];
      /** The CA this renewal moves away from, when it falls back. */
      movedFrom?: string;
    }
  | { refused: CertkeeperError };

/** A rate limit that asks us to wait this long or more is an outage for fallback purposes. */
export const LONG_RETRY_AFTER_MS = HOUR;

/**
 * ACME problems (RFC 8555 §6.7) that say this CA will not or cannot issue this order, where
 * another CA may: its refusal of the identifiers, of a profile, of the names' CAA, or its
 * demand for an account binding we do not have.
 */
const CA_REFUSALS = new Set([
  'serverInternal',
  'rejectedIdentifier',
  'unsupportedIdentifier',
  'caa',
  'externalAccountRequired',
  'invalidProfile',
]);

/**
 * Whether a failure was the CA's (so another CA may succeed): unreachable, a 5xx, a refusal
 * of the identifiers or profile, or a rate limit with a long Retry-After. A failed
 * validation is ours (DNS, the responder) and would fail at any CA: it never moves.
 */
export function isCaFault(error: CertkeeperError, now: Date): boolean {
  if (error.code === 'unreachable') return true;
  if (error instanceof RetryLaterError) {
    const waitMs = error.delayMs ?? error.retryAt.getTime() - now.getTime();
    return waitMs >= LONG_RETRY_AFTER_MS;
  }
  if (error instanceof AcmeProblemError) {
    return (
      (error.status !== undefined && error.status >= 500) || CA_REFUSALS.has(shortProblemType(error.type))
    );
  }
  // The directory does not offer the profile the certificate asks for (acme/client.ts).
  return error instanceof ProfileNotOfferedError;
}

/** Share of the certificate's lifetime still ahead (0 when expired). */
function lifetimeShareLeft(current: CurrentCertificate, now: Date): number {
  const start = Date.parse(current.notBefore);
  const end = Date.parse(current.notAfter);
  return end > start ? Math.max(0, (end - now.getTime()) / (end - start)) : 0;
}

function shouldMove(failures: number, state: CertificateState, now: Date, policy: CaFallbackPolicy): boolean {
  if (failures >= policy.afterFailures) return true;
  return (
    failures >= 1 &&
    state.current !== undefined &&
    lifetimeShareLeft(state.current, now) <= policy.lifetimeShareLeft
  );
}

/**
 * Whether a failed attempt has just moved the renewal to another CA, so the same pass tries
 * that one at once rather than after a backoff meant for the CA that failed.
 */
export function movesOn(state: CertificateState, now: Date, policy: CaFallbackPolicy, cas: number): boolean {
  return cas > 1 && state.caAttempt !== undefined && shouldMove(state.caAttempt.failures, state, now, policy);
}

/** The CA to try now, given the failures so far (state.caAttempt) and what CAA allows. */
export function chooseCa(
  candidates: readonly CaCandidate[],
  state: CertificateState,
  now: Date,
  policy: CaFallbackPolicy,
): CaChoice {
  const n = candidates.length;
  const onIndex = candidates.findIndex((c) => c.name === state.caAttempt?.name);
  const on =
    onIndex >= 0 ? { index: onIndex, failures: state.caAttempt!.failures } : { index: 0, failures: 0 };
  const leaving =
    n > 1 && onIndex >= 0 && shouldMove(on.failures, state, now, policy)
      ? candidates[on.index]!.name
      : undefined;
  const start = leaving ? (on.index + 1) % n : on.index;
  const skipped: { name: string; why: string }[] = [];
  for (let k = 0; k < n; k++) {
    const candidate = candidates[(start + k) % n]!;
    // Back round to the CA that keeps failing: there is nowhere else to go.
    if (candidate.name === leaving) break;
    if (candidate.caaRefusal) {
      skipped.push({ name: candidate.name, why: candidate.caaRefusal });
      continue;
    }
    return { ca: candidate.name, skipped, ...(leaving ? { movedFrom: leaving } : {}) };
  }
  const why = skipped.map((s) => `${s.name}: ${s.why}`).join('; ');
  return {
    refused: new CertkeeperError(
      'validation',
      leaving
        ? `cannot fall back from CA ${leaving} after ${on.failures} failures: the names' CAA records forbid every other CA (${why})`
        : `the names' CAA records forbid every configured CA (${why})`,
      {
        // The preferred CA is tried again next time; CAA can change meanwhile.
        retryable: true,
        fix: 'add a CAA "issue" record naming one of these CAs at the name shown (RFC 8659; with accounturi=<the account URL shown> where the records bind accounts, RFC 8657), or configure a CA the records allow',
      },
    ),
  };
}

/**
 * The CA bookkeeping after a failed attempt on `ca`: the CA's own failures count toward
 * moving on, others (a failed validation) do not. No CA (the choice itself was refused):
 * back to the preferred CA next time.
 */
export function caAttemptAfterFailure(
  state: CertificateState,
  ca: string | undefined,
  error: CertkeeperError,
  now: Date,
): CertificateState['caAttempt'] {
  if (ca === undefined) return undefined;
  const before = state.caAttempt?.name === ca ? state.caAttempt.failures : 0;
  return { name: ca, failures: before + (isCaFault(error, now) ? 1 : 0) };
}
