/**
 * The expiry timeline: one row per certificate on a shared time axis, its lifetime as a bar
 * coloured by its state, the ARI window (RFC 9773 §4.2) shaded, the renewal time marked, and
 * a line at now; the CA and the time left beside it.
 */
import { h } from '../dom.js';
import { clockTime, dateOnly, relativeTime } from '../format.js';
import type { CertificateRow, Indexed } from '../model.js';
import { type Column, type Sort, VirtualTable } from '../virtual-list.js';
import { STATE_ORDER, badgeColumn, byText, byTime, certificateLink, detailOf, textColumn } from './cells.js';

export interface TimelineEnv {
  index(): Indexed;
  /** Days ahead of now the axis shows (a quarter of that behind); 0: every lifetime whole. */
  span(): number;
  onSort(sort: Sort): void;
}

const DAY_MS = 86_400_000;

export function createTimeline(env: TimelineEnv): {
  table: VirtualTable<CertificateRow>;
  columns: Column<CertificateRow>[];
} {
  const now = () => Date.parse(env.index().snapshot.generatedAt);
  const axis = (): { start: number; end: number } => {
    const days = env.span();
    if (!days) return env.index().axis;
    return { start: now() - (days * DAY_MS) / 4, end: now() + days * DAY_MS };
  };
  const percent = (ms: number): number => {
    const { start, end } = axis();
    return ((ms - start) / Math.max(1, end - start)) * 100;
  };
  const columns: Column<CertificateRow>[] = [
    {
      key: 'name',
      label: 'Certificate',
      cell: (c) => certificateLink(c.entry.name),
      compare: (a, b) => byText(a.entry.name, b.entry.name),
    },
    badgeColumn('state', 'State', (c) => c.entry.state, STATE_ORDER),
    textColumn('ca', 'CA', (c) => c.entry.ca, { className: 'opt' }),
    {
      key: 'life',
      label: 'Lifetime',
      head: () => axisHead(axis(), percent, now()),
      cell: (c) => lifetimeBar(c, percent, now()),
      compare: (a, b) => byTime(a.entry.renewalAt, b.entry.renewalAt),
      title: 'sort by renewal time',
    },
    {
      key: 'expires',
      label: 'Expires',
      cell: (c) => (c.entry.notAfter ? relativeTime(c.entry.notAfter, new Date(now())) : 'never issued'),
      compare: (a, b) => byTime(a.entry.notAfter, b.entry.notAfter),
    },
  ];
  const table = new VirtualTable<CertificateRow>({
    name: 'timeline',
    columns,
    template: 'minmax(8rem, 1.4fr) 6rem minmax(5rem, 0.8fr) minmax(8rem, 4fr) 9rem',
    empty: 'No certificate matches the filters.',
    rowHref: detailOf((c) => c.entry.name),
    onSort: env.onSort,
  });
  return { table, columns };
}

function lifetimeBar(c: CertificateRow, percent: (ms: number) => number, now: number): HTMLElement {
  const e = c.entry;
  const parts: HTMLElement[] = [];
  const title: string[] = [];
  if (e.notBefore && e.notAfter) {
    const left = clamp(percent(Date.parse(e.notBefore)));
    const right = clamp(percent(Date.parse(e.notAfter)));
    if (right > 0 && left < 100)
      parts.push(
        h('div', {
          class: `life s-${e.state}`,
          style: { left: `${left}%`, width: `${Math.max(0.3, right - left)}%` },
        }),
      );
    title.push(`valid ${clockTime(e.notBefore)} to ${clockTime(e.notAfter)}`);
    if (e.ari) {
      const a = clamp(percent(Date.parse(e.ari.windowStart)));
      const b = clamp(percent(Date.parse(e.ari.windowEnd)));
      if (b > 0 && a < 100)
        parts.push(h('div', { class: 'ari', style: { left: `${a}%`, width: `${Math.max(0.3, b - a)}%` } }));
      title.push(`ARI window ${clockTime(e.ari.windowStart)} to ${clockTime(e.ari.windowEnd)}`);
    }
  } else {
    title.push(e.state === 'failing' ? 'never issued: failing' : 'never issued');
  }
  const renewal = e.renewalAt ? percent(Date.parse(e.renewalAt)) : -1;
  if (e.renewalAt && e.status !== 'retired') {
    if (renewal >= 0 && renewal <= 100)
      parts.push(h('div', { class: 'renew', style: { left: `${renewal}%` } }));
    title.push(`renewal ${clockTime(e.renewalAt)} (${e.renewalBy === 'ari' ? 'ARI' : 'policy'})`);
  }
  parts.push(h('div', { class: 'now', style: { left: `${percent(now)}%` } }));
  if (e.ca) title.push(`issued by ${e.ca}`);
  return h(
    'div',
    { class: 'track', title: title.join('; '), attrs: { 'data-certificate': e.name } },
    ...parts,
  );
}

/** Dates along the axis, and now. */
const clamp = (p: number): number => Math.min(100, Math.max(0, p));

function axisHead(
  { start, end }: { start: number; end: number },
  percent: (ms: number) => number,
  now: number,
): HTMLElement {
  const ticks: HTMLElement[] = [];
  const steps = 4;
  for (let i = 0; i <= steps; i++) {
    const at = start + ((end - start) * i) / steps;
    ticks.push(h('span', { class: 'tick', style: { left: `${(i / steps) * 100}%` } }, dateOnly(at)));
  }
  ticks.push(h('span', { class: 'tick now-tick', style: { left: `${percent(now)}%` } }, 'now'));
  return h(
    'div',
    { class: 'axis', title: 'each bar: the certificate lifetime; shaded: ARI window; mark: renewal time' },
    ...ticks,
  );
}
