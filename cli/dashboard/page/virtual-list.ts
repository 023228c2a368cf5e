/**
 * A table that stays fast at 10,000 rows and more: a header of sortable columns and a
 * scrolling body that holds only the rows in sight (plus a few either side), each at a
 * fixed height read from the CSS (`--row-h`, taller on a phone).
 */
import { type Child, h } from './dom.js';

export interface Column<T> {
  key: string;
  label: string;
  /** What the header shows instead of the label (the timeline's axis). */
  head?: () => Child;
  cell(item: T): Child;
  /** Absent: the column does not sort. */
  compare?: (a: T, b: T) => number;
  /** Extra class for the cells (e.g. `opt`: hidden on a phone). */
  className?: string;
  title?: string;
}

export interface Sort {
  key: string;
  descending: boolean;
}

export interface TableOptions<T> {
  name: string;
  columns: readonly Column<T>[];
  /** grid-template-columns of a row. */
  template: string;
  empty: string;
  /** The row's link target (its detail), if it has one. */
  rowHref?: (item: T) => string | undefined;
  onSort(sort: Sort): void;
}

const OVERSCAN = 8;

export class VirtualTable<T> {
  readonly element: HTMLElement;
  private readonly header: HTMLElement;
  private readonly body: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly rows: HTMLElement;
  private items: readonly T[] = [];
  private sort: Sort | undefined;
  private drawn = '';
  private frame = 0;

  constructor(private readonly options: TableOptions<T>) {
    this.header = h('div', { class: 'grid-row grid-head', attrs: { role: 'row' } });
    this.rows = h('div', { class: 'rows' });
    this.spacer = h('div', { class: 'spacer' }, this.rows);
    this.body = h('div', { class: 'grid-body', attrs: { role: 'rowgroup', tabindex: '0' } }, this.spacer);
    this.element = h(
      'div',
      {
        class: `grid grid-${options.name}`,
        attrs: { role: 'table', 'data-table': options.name },
        style: { '--cols': options.template },
      },
      this.header,
      this.body,
    );
    this.body.addEventListener('scroll', () => this.schedule(), { passive: true });
    window.addEventListener('resize', () => this.schedule());
  }

  /** New rows (already filtered and sorted); keeps the scroll position when it can. */
  setItems(items: readonly T[], sort: Sort | undefined): void {
    this.items = items;
    this.sort = sort;
    this.drawHeader();
    this.drawn = '';
    this.draw();
  }

  scrollToTop(): void {
    this.body.scrollTop = 0;
  }

  private rowHeight(): number {
    const value = parseFloat(getComputedStyle(this.element).getPropertyValue('--row-h'));
    return Number.isFinite(value) && value > 0 ? value : 36;
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  private drawHeader(): void {
    const cells = this.options.columns.map((c) => {
      const sorted = this.sort?.key === c.key;
      const arrow = sorted ? (this.sort!.descending ? ' ▼' : ' ▲') : '';
      const label = c.head ? c.head() : `${c.label}${arrow}`;
      const cell = c.compare
        ? h(
            'button',
            {
              class: `cell sort${sorted ? ' sorted' : ''} ${c.className ?? ''}`,
              title: c.title ?? `sort by ${c.label.toLowerCase()}`,
              attrs: {
                type: 'button',
                'data-sort': c.key,
                'aria-sort': sorted ? (this.sort!.descending ? 'descending' : 'ascending') : 'none',
              },
              on: {
                click: () =>
                  this.options.onSort({ key: c.key, descending: sorted ? !this.sort!.descending : false }),
              },
            },
            label,
          )
        : h('div', { class: `cell ${c.className ?? ''}`, title: c.title }, label);
      return cell;
    });
    this.header.replaceChildren(...cells);
  }

  private draw(): void {
    const rowH = this.rowHeight();
    const total = this.items.length;
    this.spacer.style.height = `${Math.max(total * rowH, rowH)}px`;
    if (total === 0) {
      this.rows.replaceChildren(h('div', { class: 'empty' }, this.options.empty));
      this.rows.style.transform = '';
      this.drawn = 'empty';
      return;
    }
    const top = this.body.scrollTop;
    const height = this.body.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / rowH) - OVERSCAN);
    const last = Math.min(total, Math.ceil((top + height) / rowH) + OVERSCAN);
    const key = `${first}:${last}:${rowH}`;
    if (key === this.drawn) return;
    this.drawn = key;
    const rows: HTMLElement[] = [];
    for (let i = first; i < last; i++) rows.push(this.row(this.items[i]!, i));
    this.rows.style.transform = `translateY(${first * rowH}px)`;
    this.rows.replaceChildren(...rows);
  }

  private row(item: T, index: number): HTMLElement {
    const href = this.options.rowHref?.(item);
    const cells = this.options.columns.map((c) =>
      h('div', { class: `cell c-${c.key} ${c.className ?? ''}`, attrs: { role: 'cell' } }, c.cell(item)),
    );
    return h(
      'div',
      {
        class: `grid-row${index % 2 ? ' odd' : ''}`,
        attrs: { role: 'row', ...(href ? { 'data-href': href } : {}) },
      },
      ...cells,
    );
  }
}

/** Sorts a copy by the column's comparator; ties keep the given order (Array.sort is stable). */
export function sortBy<T>(items: readonly T[], columns: readonly Column<T>[], sort: Sort | undefined): T[] {
  const column = sort && columns.find((c) => c.key === sort.key);
  if (!column?.compare) return [...items];
  const compare = column.compare;
  const sorted = [...items].sort(compare);
  return sort!.descending ? sorted.reverse() : sorted;
}
