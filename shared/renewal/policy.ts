import type { CertificateState } from '../model/state.js';
import { DAY } from '../model/clock.js';

/**
 * Pure renewal timing. This is the seam the renewal engine (ARI, overrides, backoff)
 * grows from; today it holds the defaults certbot and lego use when a CA gives no ARI:
 * renew at 2/3 of the lifetime, or at 1/2 when the lifetime is 10 days or less so a
 * 160-hour certificate still has days of slack for retries.
 */
export function defaultRenewalTime(notBefore: Date, notAfter: Date): Date {
  const lifetime = notAfter.getTime() - notBefore.getTime();
  const fraction = lifetime <= 10 * DAY ? 1 / 2 : 2 / 3;
  return new Date(notBefore.getTime() + lifetime * fraction);
}

export type DueReason = 'missing' | 'renewal-time' | 'retry';

/**
 * Whether a certificate should be worked on now, and why. A certificate with no current
 * certificate is due at once; a scheduled retry (backoff or Retry-After) holds it back.
 */
export function dueReason(state: CertificateState, now: Date): DueReason | undefined {
  if (state.status === 'retired') return undefined;
  if (state.nextAttemptAt && new Date(state.nextAttemptAt) > now) return undefined;
  if (!state.current) return state.attempts > 0 ? 'retry' : 'missing';
  const at = defaultRenewalTime(new Date(state.current.notBefore), new Date(state.current.notAfter));
  if (now >= at) return state.attempts > 0 ? 'retry' : 'renewal-time';
  return undefined;
}

/** When the certificate will next need attention (for display and the due index). */
export function nextDueAt(state: CertificateState): Date | undefined {
  if (state.status === 'retired') return undefined;
  const retry = state.nextAttemptAt ? new Date(state.nextAttemptAt) : undefined;
  if (!state.current) return retry ?? new Date(0);
  const renewal = defaultRenewalTime(new Date(state.current.notBefore), new Date(state.current.notAfter));
  return retry && retry > renewal ? retry : renewal;
}
