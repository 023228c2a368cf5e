/**
 * Every agent: where it comes from (configured, or the registry's pending / active /
 * removed), what it receives, its identity's expiry, how many of its certificates are
 * current, its last report and its last error. A name narrows the fleet grid to it.
 */
import { h } from '../dom.js';
import type { AgentItem } from '../model.js';
import { type Column, type Sort, VirtualTable } from '../virtual-list.js';
import { badgeColumn, byText, clipped, errorColumn, reportColumn, timeColumn } from './cells.js';

export function createAgents(
  onSort: (sort: Sort) => void,
  showAgent: (name: string) => void,
): { table: VirtualTable<AgentItem>; columns: Column<AgentItem>[] } {
  const receives = (a: AgentItem): string => {
    const s = a.entry.selector;
    const labels = s.labels ? Object.entries(s.labels).map(([k, v]) => `${k}=${v}`) : [];
    const names =
      s.certificates.length > 3
        ? [...s.certificates.slice(0, 3), `+${s.certificates.length - 3}`]
        : s.certificates;
    return [...names, ...labels.map((l) => `label ${l}`)].join(', ') || '-';
  };
  const columns: Column<AgentItem>[] = [
    {
      key: 'name',
      label: 'Agent',
      cell: (a) =>
        h(
          'button',
          {
            class: 'link',
            title: `show ${a.entry.name}'s targets in the fleet grid`,
            attrs: { type: 'button' },
            on: { click: () => showAgent(a.entry.name) },
          },
          a.entry.name,
        ),
      compare: (a, b) => byText(a.entry.name, b.entry.name),
    },
    badgeColumn('status', 'Status', (a) => a.entry.status),
    {
      key: 'receives',
      label: 'Receives',
      className: 'opt',
      cell: (a) => clipped(receives(a)),
      compare: (a, b) => a.entry.certificates.length - b.entry.certificates.length,
    },
    {
      key: 'current',
      label: 'Current',
      title: 'certificates with the current serial / with a problem (sort by problems)',
      cell: (a) =>
        h(
          'span',
          null,
          `${a.ok}/${a.entry.certificates.length} ok`,
          a.problems ? h('span', { class: 'badge b-behind' }, `${a.problems} need attention`) : null,
        ),
      compare: (a, b) => b.problems - a.problems,
    },
    timeColumn('identity', 'Identity until', (a) => a.entry.identity?.notAfter, { className: 'opt' }),
    reportColumn((a) => a.entry.reportAgeMinutes),
    errorColumn((a) => a.entry.lastError),
  ];
  const table = new VirtualTable<AgentItem>({
    name: 'agents',
    columns,
    template:
      'minmax(8rem, 1.2fr) 6.5rem minmax(8rem, 1.5fr) minmax(7rem, 1fr) 10rem 6.5rem minmax(8rem, 2fr)',
    empty: 'No agent matches the filters.',
    onSort,
  });
  return { table, columns };
}
