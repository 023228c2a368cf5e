/**
 * The fleet grid: every delivery target (agent, probed endpoint, ACM region) of every
 * certificate, with what it installed and serves against the current serial, its health,
 * how long it has lacked the current serial (silent targets included), its last report's
 * age and its last error.
 */
import { h } from '../dom.js';
import { clockTime, minutesText, shortTime } from '../format.js';
import type { TargetItem } from '../model.js';
import { type Column, type Sort, VirtualTable } from '../virtual-list.js';
import {
  HEALTH_ORDER,
  badgeColumn,
  byNumber,
  byText,
  certificateColumn,
  detailOf,
  errorColumn,
  reportColumn,
  serial,
} from './cells.js';

export function createFleet(onSort: (sort: Sort) => void): {
  table: VirtualTable<TargetItem>;
  columns: Column<TargetItem>[];
} {
  const columns: Column<TargetItem>[] = [
    certificateColumn((t) => t.row.certificate),
    {
      key: 'target',
      label: 'Target',
      cell: (t) =>
        h(
          'span',
          { class: 'target', title: `${t.row.kind} ${t.row.id}` },
          h('small', null, t.row.kind),
          ' ',
          t.row.id,
        ),
      compare: (a, b) => byText(`${a.row.kind} ${a.row.id}`, `${b.row.kind} ${b.row.id}`),
    },
    badgeColumn('health', 'Health', (t) => t.row.health, HEALTH_ORDER),
    {
      key: 'installed',
      label: 'Installed',
      cell: (t) => serial(t.row.installedSerial, t.row.currentSerial),
      compare: (a, b) => byText(a.row.installedSerial, b.row.installedSerial),
    },
    {
      key: 'served',
      label: 'Served',
      className: 'opt',
      cell: (t) => serial(t.row.servedSerial, t.row.currentSerial),
      compare: (a, b) => byText(a.row.servedSerial, b.row.servedSerial),
    },
    {
      key: 'current',
      label: 'Current',
      cell: (t) => serial(t.row.currentSerial),
      compare: (a, b) => byText(a.row.currentSerial, b.row.currentSerial),
    },
    {
      key: 'lacks',
      label: 'Without current',
      title: 'how long the target has been without the current serial, and since when (sort)',
      cell: (t) =>
        t.row.lacksCurrentSince
          ? h(
              'span',
              { title: `without the current serial since ${clockTime(t.row.lacksCurrentSince)}` },
              minutesText(t.row.behindMinutes),
              h('small', null, ` since ${shortTime(t.row.lacksCurrentSince)}`),
            )
          : '-',
      compare: (a, b) => byNumber(b.row.behindMinutes, a.row.behindMinutes),
    },
    reportColumn(
      (t) => t.row.reportAgeMinutes,
      (t) => t.row.kind === 'agent',
    ),
    errorColumn((t) => t.row.error),
  ];
  const table = new VirtualTable<TargetItem>({
    name: 'fleet',
    columns,
    template:
      'minmax(6rem, 1fr) minmax(7rem, 1.2fr) 6.5rem minmax(6rem, 1fr) minmax(6rem, 1fr) minmax(6rem, 1fr) minmax(10.5rem, 1.1fr) 7.5rem minmax(8rem, 1.8fr)',
    empty:
      'No delivery target matches the filters (certificates without agents, probes or ACM regions have none).',
    rowHref: detailOf((t) => t.row.certificate),
    onSort,
  });
  return { table, columns };
}
