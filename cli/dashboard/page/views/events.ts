/**
 * The recent events: issued, failed and lagging as the state shows them, and renewed and
 * recovered as this page saw them happen between two polls (marked "seen live").
 */
import { h } from '../dom.js';
import { clockTime } from '../format.js';
import type { PageEvent } from '../model.js';
import { type Column, type Sort, VirtualTable } from '../virtual-list.js';
import { badge, byText, byTime, certificateLink, clipped } from './cells.js';

export function createEvents(onSort: (sort: Sort) => void): {
  table: VirtualTable<PageEvent>;
  columns: Column<PageEvent>[];
} {
  const columns: Column<PageEvent>[] = [
    {
      key: 'at',
      label: 'Time',
      cell: (e) => clockTime(e.at),
      compare: (a, b) => byTime(a.at, b.at),
    },
    {
      key: 'type',
      label: 'Event',
      cell: (e) =>
        h(
          'span',
          null,
          badge(e.type),
          e.live ? h('small', { title: 'seen by this page between two polls' }, ' seen live') : null,
        ),
      compare: (a, b) => byText(a.type, b.type),
    },
    {
      key: 'certificate',
      label: 'Certificate',
      cell: (e) => certificateLink(e.certificate),
      compare: (a, b) => byText(a.certificate, b.certificate),
    },
    {
      key: 'target',
      label: 'Target',
      className: 'opt',
      cell: (e) => (e.target ? `${e.target.kind} ${e.target.id}` : '-'),
      compare: (a, b) => byText(a.target?.id, b.target?.id),
    },
    {
      key: 'detail',
      label: 'Detail',
      cell: (e) => clipped(e.detail),
    },
  ];
  const table = new VirtualTable<PageEvent>({
    name: 'events',
    columns,
    template: '10rem 8rem minmax(7rem, 1fr) minmax(7rem, 1fr) minmax(10rem, 3fr)',
    empty: 'No recent event for the certificates that match the filters.',
    rowHref: (e) => `#/certificate/${encodeURIComponent(e.certificate)}`,
    onSort,
  });
  return { table, columns };
}
