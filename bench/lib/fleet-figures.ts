/**
 * The arithmetic of bench/fleet.ts's figures: percentiles, the delivery time an operator can
 * expect at another eventPollSeconds (from the parts measured), and the idle cost of an
 * agent-month priced from the requests the agents made.
 */
import { mulberry32 } from '../../scripts/test-kit/fleet-fixture.js';
import type { Tally } from './fleet-agents.js';
import { PRICE } from './prices.js';

export const SECONDS_PER_MONTH = 30 * 86_400;

/** Nearest-rank percentile (p in 0..100). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export const secs = (ms: number): string => (Number.isNaN(ms) ? '-' : `${(ms / 1000).toFixed(1)} s`);
export const usd = (n: number): string => `$${n < 0.01 ? n.toFixed(5) : n < 1 ? n.toFixed(4) : n.toFixed(2)}`;
export const mib = (kb: number): string => `${(kb / 1024).toFixed(0)} MiB`;

/** Left-aligned first column, the others right-aligned, two spaces apart. */
export function table(header: string[], rows: string[][], indent = '  '): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    indent +
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** One agent's part of one renewal, in ms. */
export interface DeliverySample {
  /** The real agent's install (createAgent), or a light agent's. */
  real: boolean;
  /** From the manifest stored to the agent's install of the new serial. */
  total: number;
  /** From the manifest stored to this agent's inbox written by the deliver function. */
  inbox: number;
  /** From the inbox written to the poll that saw it (the wait for the next poll). */
  wait: number;
  /** From that poll sent to the install done (inbox read, envelope fetched and opened, verified, written). */
  work: number;
}

/**
 * Delivery time at another poll interval: each measured sample keeps its own inbox time and
 * work, and its wait for the next poll is drawn again, uniform over the interval (the agents'
 * polls are spread, so a renewal finds each at a random point of its interval). Percentiles
 * of the total over many draws.
 */
export function modelDelivery(
  samples: readonly DeliverySample[],
  eventPollSeconds: number,
  draws = 50,
): { median: number; p95: number } {
  // Seeded: the same draws every run.
  const next = mulberry32(0x5eed);
  const totals: number[] = [];
  for (const s of samples) {
    for (let d = 0; d < draws; d++) totals.push(s.inbox + next() * eventPollSeconds * 1000 + s.work);
  }
  return { median: percentile(totals, 50), p95: percentile(totals, 95) };
}

/** Price of one counted request kind, per request (its units priced when it has any). */
export function pricePerRequest(kind: string, t: Tally): number {
  if (t.requests === 0) return 0;
  const units = t.units / t.requests;
  if (
    kind.startsWith('DynamoDB GetItem') ||
    kind.startsWith('DynamoDB Query') ||
    kind.startsWith('DynamoDB Scan')
  )
    return units * PRICE.dynamoRru;
  if (kind.startsWith('DynamoDB')) return units * PRICE.dynamoWru;
  if (kind === 'S3 GetObject' || kind === 'S3 HeadObject') return PRICE.s3Get;
  if (kind.startsWith('S3')) return PRICE.s3Put;
  if (kind.startsWith('Roles Anywhere')) return PRICE.rolesAnywhereSession;
  return 0;
}
