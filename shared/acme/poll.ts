/**
 * When to re-check a pending ACME object (RFC 8555 §7.5.1 authorizations, §7.4 orders).
 *
 * A CA usually validates a challenge or signs a certificate within a fraction of a second,
 * so the first re-check comes soon (`firstMs`) and the gaps double from there, up to
 * `maxMs`. The wait is bounded like acme-client's fixed backoff it replaces (ten checks
 * spread over about 55 s): at most `attempts` checks, and the last one no earlier than
 * `windowMs` after the start, so a CA slower than the fast first checks is still followed
 * for the whole window without spending more requests on it. Where the doubling gaps would
 * end the window early, the ceiling rises to the even share of what is left. The CA's
 * Retry-After always wins over a shorter gap (RFC 8555 §7.5.1 and §7.4: "the client SHOULD
 * wait"); a Retry-After beyond the window ends the wait, for the caller to schedule a retry.
 *
 * Pure: delays are planned, not measured, so the same inputs give the same schedule.
 */
export interface PollingOptions {
  /** Gap before the first re-check after answering a challenge or finalizing. */
  firstMs: number;
  /** Ceiling of the doubling gaps (raised only to cover `windowMs` with `attempts`). */
  maxMs: number;
  /** Most re-checks in one wait. */
  attempts: number;
  /** How long a wait follows the CA before giving the object back to the scheduler. */
  windowMs: number;
}

/**
 * acme-client's defaults as certkeeper ran them: 10 checks, gaps 1, 2, 4 then 8 s, so 55 s
 * from the first check to the last. The new schedule keeps both bounds and starts at 100 ms.
 */
export const DEFAULT_POLLING: PollingOptions = {
  firstMs: 100,
  maxMs: 8_000,
  attempts: 10,
  windowMs: 55_000,
};

export type PollStep =
  | { wait: number }
  | {
      stop: 'attempts' | 'window';
      /** The CA's Retry-After, when it is what ended the wait. */ retryAfterMs?: number;
    };

/**
 * A wait in progress. `next(retryAfterMs)` gives the gap before the next check, or why the
 * wait ends; `retryAfterMs` is the Retry-After of the last answer, if any.
 */
export class PollSchedule {
  private checks = 0;
  private elapsed = 0;

  constructor(private readonly options: PollingOptions = DEFAULT_POLLING) {
    for (const [field, value] of Object.entries(options)) {
      if (!Number.isFinite(value) || value < 0) {
        throw new RangeError(`polling.${field} must be a finite number >= 0 (got ${String(value)})`);
      }
    }
    if (options.attempts < 1) throw new RangeError('polling.attempts must be at least 1');
  }

  /** Checks planned so far. */
  get planned(): number {
    return this.checks;
  }

  /** Milliseconds of waiting planned so far. */
  get plannedMs(): number {
    return this.elapsed;
  }

  next(retryAfterMs?: number): PollStep {
    const { firstMs, maxMs, attempts, windowMs } = this.options;
    if (this.checks >= attempts) return { stop: 'attempts' };
    const left = attempts - this.checks;
    const share = Math.max(0, windowMs - this.elapsed) / left;
    const doubling = firstMs * 2 ** this.checks;
    let wait = Math.min(doubling, Math.max(maxMs, share));
    if (retryAfterMs !== undefined && retryAfterMs > wait) {
      if (this.elapsed + retryAfterMs > windowMs) return { stop: 'window', retryAfterMs };
      wait = retryAfterMs;
    }
    this.checks += 1;
    this.elapsed += wait;
    return { wait };
  }
}

/** The gaps of a wait the CA never ends, for documentation and tests. */
export function plannedDelays(options: PollingOptions = DEFAULT_POLLING): number[] {
  const schedule = new PollSchedule(options);
  const out: number[] = [];
  for (let step = schedule.next(); 'wait' in step; step = schedule.next()) out.push(step.wait);
  return out;
}
