/**
 * The recent events: issued, failed and lagging as the state shows them, and renewed and
 * recovered as this page saw them happen between two polls (marked "seen live").
 */
import { h } from '../dom.js';
import type { PageEvent } from '../model.js';
import { type Column, type Sort, VirtualTable } from '../virtual-list.js';
import { badge, byText, certificateColumn, detailOf, textColumn, timeColumn } from './cells.js';

export function createEvents(onSort: (sort: Sort) => void): {
  table: VirtualTable<PageEvent>;
  columns: Column<PageEvent>[];
} {
  const columns: Column<PageEvent>[] = [
    timeColumn('at', 'Time', (e) => e.at),
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
    certificateColumn((e) => e.certificate),
    textColumn('target', 'Target', (e) => e.target && `${e.target.kind} ${e.target.id}`, {
      className: 'opt',
    }),
    textColumn('detail', 'Detail', (e) => e.detail, { clip: true, compare: undefined }),
  ];
  const table = new VirtualTable<PageEvent>({
    name: 'events',
    columns,
    template: '10rem 8rem minmax(7rem, 1fr) minmax(7rem, 1fr) minmax(10rem, 3fr)',
    empty: 'No recent event for the certificates that match the filters.',
    rowHref: detailOf((e) => e.certificate),
    onSort,
  });
  return { table, columns };
}
