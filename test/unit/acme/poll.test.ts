import { describe, expect, it } from 'vitest';
import { DEFAULT_POLLING, PollSchedule, plannedDelays } from '../../../shared/acme/poll.js';

/** acme-client 5.4.0 as certkeeper configured it: a check at once, then 1, 2, 4, 8, 8... s. */
function acmeClientDelays(attempts = 10, min = 1_000, max = 8_000): number[] {
  return Array.from({ length: attempts - 1 }, (_, i) => Math.min(min * 2 ** i, max));
}
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
/** How many checks a schedule makes before an object that settles at `atMs` is seen settled. */
function checksUntil(delays: number[], atMs: number, immediate = 0): number | undefined {
  let t = 0;
  for (let i = 0; i < delays.length; i++) {
    t += delays[i]!;
    if (t >= atMs) return immediate + i + 1;
  }
  return undefined;
}

describe('poll schedule', () => {
  it('re-checks 100 ms after answering, then doubles up to the ceiling', () => {
    const delays = plannedDelays();
    expect(delays.slice(0, 7)).toEqual([100, 200, 400, 800, 1_600, 3_200, 6_400]);
  });

  it('costs a CA that never finishes no more checks than acme-client did, over the same window', () => {
    const before = acmeClientDelays();
    const after = plannedDelays();
    // acme-client: one check at once plus nine after delays.
    expect(after.length).toBe(before.length + 1);
    expect(after.length).toBe(DEFAULT_POLLING.attempts);
    expect(sum(before)).toBe(55_000);
    expect(sum(after)).toBe(DEFAULT_POLLING.windowMs);
    // Past 8 s the ceiling rises only as far as needed to end the window with the checks left.
    expect(after.slice(7)).toEqual([12_800, 14_750, 14_750]);
  });

  it('sees a CA that settles within 100 ms after one check, not after a full second', () => {
    const after = plannedDelays();
    expect(checksUntil(after, 50)).toBe(1);
    expect(after[0]).toBe(100);
    // acme-client's first useful check came after a whole second.
    expect(acmeClientDelays()[0]).toBe(1_000);
  });

  it('a CA that needs the whole window is still followed to its end', () => {
    expect(checksUntil(plannedDelays(), 54_000)).toBe(10);
    expect(checksUntil(acmeClientDelays(), 54_000, 1)).toBe(10);
    expect(checksUntil(plannedDelays(), 55_001)).toBeUndefined();
  });

  it('waits at least what Retry-After asks', () => {
    const schedule = new PollSchedule();
    expect(schedule.next(1_000)).toEqual({ wait: 1_000 });
    expect(schedule.next()).toEqual({ wait: 200 });
    expect(schedule.next(50)).toEqual({ wait: 400 });
    expect(schedule.plannedMs).toBe(1_600);
    expect(schedule.planned).toBe(3);
  });

  it('ends the wait when Retry-After reaches past the window, handing the time back', () => {
    const schedule = new PollSchedule({ ...DEFAULT_POLLING, windowMs: 10_000 });
    expect(schedule.next()).toEqual({ wait: 100 });
    expect(schedule.next(30_000)).toEqual({ stop: 'window', retryAfterMs: 30_000 });
  });

  it('ends after the attempts are spent', () => {
    const schedule = new PollSchedule({ firstMs: 10, maxMs: 20, attempts: 2, windowMs: 0 });
    expect(schedule.next()).toEqual({ wait: 10 });
    expect(schedule.next()).toEqual({ wait: 20 });
    expect(schedule.next()).toEqual({ stop: 'attempts' });
  });

  it('refuses settings that cannot make a schedule, naming the field', () => {
    expect(() => new PollSchedule({ ...DEFAULT_POLLING, firstMs: -1 })).toThrow(/polling\.firstMs/);
    expect(() => new PollSchedule({ ...DEFAULT_POLLING, attempts: 0 })).toThrow(/polling\.attempts/);
    expect(() => new PollSchedule({ ...DEFAULT_POLLING, windowMs: Number.NaN })).toThrow(/polling\.windowMs/);
  });
});
