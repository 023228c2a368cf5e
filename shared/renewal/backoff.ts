import { HOUR, MINUTE } from '../model/clock.js';
import type { Random } from '../model/random.js';

/**
 * Front-loaded: a passing fault (DNS propagation, a CA blip) is retried within minutes,
 * a lasting one settles at 6 hours so it does not burn the CA's failed-validation limit
 * (5 per identifier per hour at Let's Encrypt).
 */
export const BACKOFF_STEPS_MS = [
  1 * MINUTE,
  2 * MINUTE,
  5 * MINUTE,
  10 * MINUTE,
  30 * MINUTE,
  1 * HOUR,
  2 * HOUR,
  4 * HOUR,
  6 * HOUR,
] as const;

/** After this many consecutive failures a certificate is `failing` and an alert goes out. */
export const FAILING_AFTER = 12;

/** An order takes minutes; the last retry before expiry starts at least this early. */
export const LAST_CHANCE_MS = 30 * MINUTE;
const MIN_RETRY_MS = MINUTE;
const JITTER = 0.2;

/**
 * When to try again after `attempts` consecutive failures (1 after the first). Jittered
 * ±20% so a fleet that failed together does not retry together, and never later than the
 * last moment a renewal can still finish before `notAfter`.
 */
export function nextRetryAt(attempts: number, now: Date, notAfter: Date | undefined, random: Random): Date {
  const step = BACKOFF_STEPS_MS[Math.min(Math.max(attempts, 1), BACKOFF_STEPS_MS.length) - 1]!;
  const delay = step * (1 - JITTER + 2 * JITTER * random());
  let at = now.getTime() + delay;
  if (notAfter) {
    const latest = notAfter.getTime() - LAST_CHANCE_MS;
    // Past the last chance the cap would mean hammering the CA; normal backoff resumes.
    if (latest > now.getTime() && at > latest) at = Math.max(latest, now.getTime() + MIN_RETRY_MS);
  }
  return new Date(at);
}
