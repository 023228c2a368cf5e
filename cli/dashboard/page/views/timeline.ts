/**
 * The expiry timeline: one row per certificate on a shared time axis, its lifetime as a bar
 * coloured by its state, the ARI window (RFC 9773 §4.2) shaded, the renewal time marked, and
 * a line at now; the CA and the time left beside it.
 */
import { h } from '../dom.js';
import { clockTime, dateOnly, relativeTime } from '../format.js';
import type { CertificateRow, Indexed } from '../model.js';
import { type Column, type Sort, VirtualTable } from '../virtual-list.js';
import { STATE_ORDER, badge, byText, byTime, certificateLink } from './cells.js';

export interface TimelineEnv {
  index(): Indexed;
  onSort(sort: Sort): void;
}

export function createTimeline(env: TimelineEnv): {
  table: VirtualTable<CertificateRow>;
  columns: Column<CertificateRow>[];
} {
  const now = () => Date.parse(env.index().snapshot.generatedAt);
  const percent = (ms: number): number => {
    const { start, end } = env.index().axis;
    return ((ms - start) / Math.max(1, end - start)) * 100;
  };
  const columns: Column<CertificateRow>[] = [
    {
      key: 'name',
      label: 'Certificate',
      cell: (c) => certificateLink(c.entry.name),
      compare: (a, b) => byText(a.entry.name, b.entry.name),
    },
    {
      key: 'state',
      label: 'State',
      cell: (c) => badge(c.entry.state),
      compare: (a, b) => (STATE_ORDER[a.entry.state] ?? 9) - (STATE_ORDER[b.entry.state] ?? 9),
    },
    {
      key: 'ca',
      label: 'CA',
      className: 'opt',
      cell: (c) => c.entry.ca ?? '-',
      compare: (a, b) => byText(a.entry.ca, b.entry.ca),
    },
    {
      key: 'life',
      label: 'Lifetime',
      head: () => axisHead(env.index(), percent, now()),
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
    rowHref: (c) => `#/certificate/${encodeURIComponent(c.entry.name)}`,
    onSort: env.onSort,
  });
  return { table, columns };
}

function lifetimeBar(c: CertificateRow, percent: (ms: number) => number, now: number): HTMLElement {
  const e = c.entry;
  const parts: HTMLElement[] = [];
  const title: string[] = [];
  if (e.notBefore && e.notAfter) {
    const left = percent(Date.parse(e.notBefore));
    const right = percent(Date.parse(e.notAfter));
    parts.push(
      h('div', {
        class: `life s-${e.state}`,
        style: { left: `${left}%`, width: `${Math.max(0.3, right - left)}%` },
      }),
    );
    title.push(`valid ${clockTime(e.notBefore)} to ${clockTime(e.notAfter)}`);
    if (e.ari) {
      const a = percent(Date.parse(e.ari.windowStart));
      const b = percent(Date.parse(e.ari.windowEnd));
      parts.push(h('div', { class: 'ari', style: { left: `${a}%`, width: `${Math.max(0.3, b - a)}%` } }));
      title.push(`ARI window ${clockTime(e.ari.windowStart)} to ${clockTime(e.ari.windowEnd)}`);
    }
  } else {
    title.push(e.state === 'failing' ? 'never issued: failing' : 'never issued');
  }
  if (e.renewalAt && e.status !== 'retired') {
    parts.push(h('div', { class: 'renew', style: { left: `${percent(Date.parse(e.renewalAt))}%` } }));
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
function axisHead(ix: Indexed, percent: (ms: number) => number, now: number): HTMLElement {
  const { start, end } = ix.axis;
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
