import { acmImportDueAt, acmImportsDueNow } from './acm-plan.js';
import type { CertificateSpec } from '../model/spec.js';
import type { CertificateState } from '../model/state.js';
import { expiryAlertDue, nextExpiryAlertAt } from './alerts.js';
import { renewalTime } from './timing.js';

/**
 * What a certificate needs now, decided from its spec and state alone (pure; the clock is
 * an argument). The issuer acts on it under the lease; the scheduler uses `dueAt` to find
 * the certificates worth a message at all.
 */
export type RenewalReason = 'missing' | 'reissue' | 'renewal-time' | 'retry';
export type DueReason = RenewalReason | 'ari-poll' | 'expiry-warning' | 'acm-import';

export function renewalDue(
  spec: CertificateSpec,
  state: CertificateState,
  now: Date,
): RenewalReason | undefined {
  if (state.status === 'retired') return undefined;
  // A backoff or a CA's Retry-After holds every kind of renewal back.
  if (state.nextAttemptAt && new Date(state.nextAttemptAt) > now) return undefined;
  const retry = state.attempts > 0;
  if (!state.current) return retry ? 'retry' : 'missing';
  if (state.reissue) return 'reissue';
  if (now >= renewalTime(spec, state.current, state.ari)) return retry ? 'retry' : 'renewal-time';
  return undefined;
}

/** RFC 9773 §4.3: poll when the certificate has a certID and the last answer's time is up. */
export function ariPollDue(state: CertificateState, now: Date): boolean {
  const certId = state.current?.certId;
  if (!certId || state.status === 'retired') return false;
  if (!state.ari || state.ari.certId !== certId) return true;
  return new Date(state.ari.nextPollAt) <= now;
}

/** The first reason a message should be sent for this certificate now, if any. */
export function dueReason(spec: CertificateSpec, state: CertificateState, now: Date): DueReason | undefined {
  return (
    renewalDue(spec, state, now) ??
    (ariPollDue(state, now) ? 'ari-poll' : undefined) ??
    (expiryAlertDue(state, now) ? 'expiry-warning' : undefined) ??
    (acmImportsDueNow(spec, state, now).length > 0 ? 'acm-import' : undefined)
  );
}

/**
 * The earliest moment anything will be due: renewal (not before a scheduled retry), the
 * next ARI poll, the next expiry warning, a pending ACM import. Stored as `state.dueAt` and indexed, so a
 * scheduler tick reads only the certificates that need work.
 */
export function computeDueAt(spec: CertificateSpec, state: CertificateState, now: Date): Date | undefined {
  if (state.status === 'retired') return undefined;
  const hold = state.nextAttemptAt ? new Date(state.nextAttemptAt) : undefined;
  const renewal = !state.current || state.reissue ? now : renewalTime(spec, state.current, state.ari);
  const candidates = [
    hold && hold > renewal ? hold : renewal,
    state.current?.certId ? (ariPollDue(state, now) ? now : new Date(state.ari!.nextPollAt)) : undefined,
    nextExpiryAlertAt(state),
    // An ACM region without the current serial: at once, or at its retry time after a failure.
    acmImportDueAt(spec, state, now),
  ].filter((d): d is Date => d !== undefined);
  return new Date(Math.min(...candidates.map((d) => d.getTime())));
}
