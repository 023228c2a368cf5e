import type { RenewalInfo } from '../acme/ca.js';
import { DAY, HOUR, MINUTE } from '../model/clock.js';
import type { Random } from '../model/random.js';
import type { AriState } from '../model/state.js';

/** RFC 9773 §4.3: honour Retry-After, within bounds that keep polls sane. */
export const ARI_MIN_POLL_MS = MINUTE;
export const ARI_MAX_POLL_MS = DAY;
/** Without Retry-After, and after a failed poll: about 6 hours (RFC 9773 §4.3.3). */
export const ARI_DEFAULT_POLL_MS = 6 * HOUR;

/**
 * Folds a fresh RenewalInfo into the state. The renewal time is drawn uniformly at random
 * inside the window once (RFC 9773 §4.2) and kept while the CA suggests the same window; a
 * window whose start has passed means renew now.
 */
export function applyRenewalInfo(
  previous: AriState | undefined,
  certId: string,
  info: RenewalInfo,
  now: Date,
  random: Random,
): AriState {
  const start = info.suggestedWindow.start;
  const end = info.suggestedWindow.end;
  const same =
    previous?.certId === certId &&
    previous.windowStart === start.toISOString() &&
    previous.windowEnd === end.toISOString() &&
    previous.selectedAt !== undefined;
  const selectedAt = same ? previous.selectedAt! : pickInWindow(start, end, now, random).toISOString();
  const wait = info.retryAfter ? info.retryAfter.getTime() - now.getTime() : ARI_DEFAULT_POLL_MS;
  return {
    certId,
    windowStart: start.toISOString(),
    windowEnd: end.toISOString(),
    selectedAt,
    explanationURL: info.explanationURL,
    lastPolledAt: now.toISOString(),
    nextPollAt: new Date(now.getTime() + clamp(wait, ARI_MIN_POLL_MS, ARI_MAX_POLL_MS)).toISOString(),
  };
}

/**
 * A failed poll keeps the last good window for this certificate (it may still be right)
 * and asks again in about 6 hours. It never blocks a renewal: without a window the
 * default timing applies.
 */
export function ariPollFailed(
  previous: AriState | undefined,
  certId: string,
  error: string,
  now: Date,
  random: Random,
): AriState {
  const kept = previous?.certId === certId ? previous : { certId };
  const wait = ARI_DEFAULT_POLL_MS * (0.9 + 0.2 * random());
  return {
    ...kept,
    lastPolledAt: now.toISOString(),
    nextPollAt: new Date(now.getTime() + wait).toISOString(),
    lastError: error,
  };
}

function pickInWindow(start: Date, end: Date, now: Date, random: Random): Date {
  if (start <= now || end <= start) return now;
  return new Date(start.getTime() + random() * (end.getTime() - start.getTime()));
}

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));
