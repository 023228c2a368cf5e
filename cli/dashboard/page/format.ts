/**
 * Times and durations on the page, rounded as everywhere else in certkeeper
 * (shared/model/age.ts, bundled into the page), and shown in UTC as the notifier shows them.
 */
import { durationText, relativeTime } from '../../../shared/model/age.js';

export { durationText, relativeTime };

/** "2026-11-22 09:00 UTC". */
export function clockTime(iso: string | null | undefined): string {
  if (!iso) return '-';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** "11-22 09:00": for narrow cells (UTC; the title carries the full time). */
export function shortTime(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().slice(5, 16).replace('T', ' ');
}

/** "2026-11-22". */
export const dateOnly = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** Minutes as the CLI's table prints them: "42 min", or a larger unit past an hour. */
export function minutesText(minutes: number | null): string {
  return minutes === null ? '-' : durationText(minutes * 60_000);
}
