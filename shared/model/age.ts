import { DAY, HOUR, MINUTE } from './clock.js';

/**
 * How certkeeper rounds a duration it shows a person, in one place: the CLI's tables, the
 * fleet view's minutes, doctor, the notifier's messages and the dashboard all go through
 * these, so a target cannot read "0 min" in one place and "1 min ago" in another.
 *
 * Floored, never rounded: "1 min ago" means a full minute has passed, and "in 2 h" never
 * promises time that is not left. Negative spans (a clock a little ahead) read as 0.
 */
export const wholeMinutes = (ms: number): number => Math.max(0, Math.floor(ms / MINUTE));

/** Whole minutes from `iso` to `now` (0 for a time in the future). */
export const minutesSince = (iso: string, now: Date): number => wholeMinutes(now.getTime() - Date.parse(iso));

/** "3 d 4 h", "2 h 5 min", "5 min": the span's size, without a direction. */
export function durationText(ms: number): string {
  const abs = Math.abs(ms);
  const d = Math.floor(abs / DAY);
  const h = Math.floor((abs % DAY) / HOUR);
  const m = wholeMinutes(abs % HOUR);
  return d > 0 ? `${d} d ${h} h` : h > 0 ? `${h} h ${m} min` : `${m} min`;
}

/** "in 3 d 4 h", "2 h ago": a time relative to `now`; '' without one. */
export function relativeTime(iso: string | undefined | null, now: Date): string {
  if (!iso) return '';
  const ms = Date.parse(iso) - now.getTime();
  const text = durationText(ms);
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}
