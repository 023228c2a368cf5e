import { setTimeout as delay } from 'node:timers/promises';
import { type Clock, systemClock } from '../model/clock.js';
import { CertkeeperError } from '../model/errors.js';

/** How a bounded wait measures time and sleeps; tests pass a manual clock and a fake sleep. */
export interface PollTiming {
  clock?: Clock;
  sleep?: (ms: number) => Promise<void>;
}

export interface PollOptions extends PollTiming {
  timeoutMs: number;
  /** The first wait between checks. */
  intervalMs: number;
  /**
   * When set, the wait doubles after each check that finds nothing, up to this; unset, it
   * stays `intervalMs`. For checks that spend a rate-limited API.
   */
  maxIntervalMs?: number;
  /** What was awaited, for the timeout message: "TXT _acme-challenge.example.test on 127.0.0.1:53". */
  what: string;
  fix: string;
}

const realSleep = (ms: number): Promise<void> => delay(ms);

/**
 * Calls `check` until it returns true or the deadline passes. A check that throws counts as
 * "not yet" (DNS servers time out, objects appear late); its last error is kept as the cause
 * of the timeout, which is retryable: the next attempt may well find things settled.
 */
export async function pollUntil(check: () => Promise<boolean>, options: PollOptions): Promise<void> {
  const clock = options.clock ?? systemClock;
  const sleep = options.sleep ?? realSleep;
  const deadline = clock.now().getTime() + options.timeoutMs;
  let lastError: unknown;
  let interval = options.intervalMs;
  const longest = Math.max(options.maxIntervalMs ?? 0, options.intervalMs);
  for (;;) {
    try {
      if (await check()) return;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    const left = deadline - clock.now().getTime();
    if (left <= 0) break;
    await sleep(Math.min(interval, left));
    interval = Math.min(interval * 2, longest);
  }
  const reason = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
  throw new CertkeeperError(
    'internal',
    `timed out after ${options.timeoutMs} ms waiting for ${options.what}${reason}`,
    {
      retryable: true,
      fix: options.fix,
      cause: lastError,
    },
  );
}
