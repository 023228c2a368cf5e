import { DAY } from '../model/clock.js';
import type { CertificateState, ExpiryAlert } from '../model/state.js';
import { lifetimeMs } from './timing.js';

/** Under a day left is an emergency whatever the lifetime. */
export const DAY_ALERT_MS = DAY;
/**
 * "Still not renewed" at 1/3 of the lifetime left means failures in a row, not one: ARI
 * windows of 90-day certificates sit right at 1/3 left, and a single transient failure
 * there is the backoff's job, not a person's.
 */
export const THIRD_ALERT_AFTER_FAILURES = 3;

const sentFor = (state: CertificateState): ExpiryAlert[] =>
  state.current && state.alertsSent?.serial === state.current.serial ? state.alertsSent.kinds : [];

/**
 * Let's Encrypt no longer emails before expiry, so we warn: once when 1/3 of the lifetime
 * is left and renewal keeps failing, and once when less than 24 hours are left. Each
 * warning goes out once per certificate serial.
 */
export function expiryAlertDue(state: CertificateState, now: Date): ExpiryAlert | undefined {
  const current = state.current;
  if (!current || state.status === 'retired') return undefined;
  const sent = sentFor(state);
  const left = new Date(current.notAfter).getTime() - now.getTime();
  if (left < DAY_ALERT_MS) return sent.includes('day') ? undefined : 'day';
  if (
    state.attempts >= THIRD_ALERT_AFTER_FAILURES &&
    left <= lifetimeMs(current) / 3 &&
    !sent.includes('third')
  ) {
    return 'third';
  }
  return undefined;
}

/** When the next warning would fall due, for the due index. */
export function nextExpiryAlertAt(state: CertificateState): Date | undefined {
  const current = state.current;
  if (!current || state.status === 'retired') return undefined;
  const sent = sentFor(state);
  const notAfter = new Date(current.notAfter).getTime();
  if (state.attempts >= THIRD_ALERT_AFTER_FAILURES && !sent.includes('third') && !sent.includes('day')) {
    return new Date(notAfter - lifetimeMs(current) / 3);
  }
  return sent.includes('day') ? undefined : new Date(notAfter - DAY_ALERT_MS);
}

export function recordAlert(state: CertificateState, alert: ExpiryAlert): CertificateState {
  const serial = state.current!.serial;
  return { ...state, alertsSent: { serial, kinds: [...sentFor(state), alert] } };
}
