/**
 * The dashboard page: polls the command's snapshot (`/api/snapshot`, the document
 * `certkeeper status --json` prints) and shows it as an expiry timeline, a fleet grid, the
 * agents and the recent events, filtered and sorted here; a certificate's detail adds its
 * history from `/api/certificates/<name>`. Nothing is loaded from anywhere else.
 *
 * User Timing marks (`certkeeper:first-render`, the `certkeeper:filter` measure) let the
 * bench read how long the first render and a filter take, in the page's own clock.
 */
import type { CertificateHistory, FleetSnapshot, SnapshotProblem } from '../../fleet-view/schema.js';
import { byId, fill, h } from './dom.js';
import { clockTime, durationText, relativeTime } from './format.js';
import {
  type Filters,
  type Indexed,
  NO_FILTERS,
  type PageEvent,
  applyFilters,
  index,
  observedEvents,
} from './model.js';
import { type Column, type Sort, type VirtualTable, sortBy } from './virtual-list.js';
import { createAgents } from './views/agents.js';
import { STATE_ORDER } from './views/cells.js';
import { type HistoryState, renderDetail } from './views/detail.js';
import { createEvents } from './views/events.js';
import { createFleet } from './views/fleet.js';
import { createTimeline } from './views/timeline.js';

type ViewName = 'timeline' | 'fleet' | 'agents' | 'events';
const VIEWS: readonly ViewName[] = ['timeline', 'fleet', 'agents', 'events'];
const MAX_LIVE_EVENTS = 200;

const refreshSeconds = Math.max(
  2,
  Number(document.querySelector<HTMLMetaElement>('meta[name="certkeeper-refresh"]')?.content) || 15,
);

const page = {
  ix: undefined as Indexed | undefined,
  problem: undefined as SnapshotProblem | undefined,
  filters: { ...NO_FILTERS } as Filters,
  view: 'timeline' as ViewName,
  detail: undefined as string | undefined,
  lastList: '#/timeline',
  sorts: {
    timeline: { key: 'expires', descending: false },
    fleet: { key: 'health', descending: false },
    agents: { key: 'current', descending: false },
    events: { key: 'at', descending: true },
  } as Record<ViewName, Sort>,
  live: [] as PageEvent[],
  histories: new Map<string, HistoryState>(),
  rendered: false,
  filterPending: false,
};

const onSort = (view: ViewName) => (sort: Sort) => {
  page.sorts[view] = sort;
  render();
};
const timeline = createTimeline({
  index: () => page.ix!,
  span: () => Number(byId<HTMLSelectElement>('f-span').value) || 0,
  onSort: onSort('timeline'),
});
const fleet = createFleet(onSort('fleet'));
const agents = createAgents(onSort('agents'), (name) => {
  setFilter('agent', name);
  location.hash = '#/fleet';
});
const events = createEvents(onSort('events'));

const main = byId('main');
const banner = byId('problem');

// ------------------------------------------------------------------------------- data

async function poll(): Promise<void> {
  try {
    const response = await fetch('api/snapshot', {
      cache: 'no-store',
      headers: { accept: 'application/json' },
    });
    const body = (await response.json()) as FleetSnapshot | SnapshotProblem;
    if (response.ok && 'certificates' in body) {
      const next = index(body);
      if (page.ix) page.live = [...observedEvents(page.ix, next), ...page.live].slice(0, MAX_LIVE_EVENTS);
      page.ix = next;
      page.problem = undefined;
      fillOptions();
    } else if ('error' in body) {
      page.problem = body;
    } else {
      throw new Error(`unexpected answer (HTTP ${response.status})`);
    }
  } catch (err) {
    page.problem = {
      error: {
        code: 'unreachable',
        message: `the dashboard command did not answer (${err instanceof Error ? err.message : String(err)})`,
        fix: 'check that `certkeeper dashboard` is still running in its terminal, or start it again',
      },
      source: page.ix?.snapshot.source ?? { kind: 'stack', location: location.host },
      at: new Date().toISOString(),
    };
  }
  render();
  setTimeout(() => void poll(), refreshSeconds * 1000);
}

async function loadHistory(name: string): Promise<void> {
  page.histories.set(name, { loading: true });
  try {
    const response = await fetch(`api/certificates/${encodeURIComponent(name)}`, { cache: 'no-store' });
    const body = (await response.json()) as CertificateHistory | SnapshotProblem;
    page.histories.set(
      name,
      'error' in body && typeof body.error === 'object' && body.error !== null
        ? { failed: describeProblem(body as SnapshotProblem) }
        : (body as CertificateHistory),
    );
  } catch (err) {
    page.histories.set(name, { failed: String(err) });
  }
  if (page.detail === name) render();
}

const describeProblem = (p: SnapshotProblem): string =>
  `${p.error.message}${p.error.fix ? `. Fix: ${p.error.fix}` : ''}`;

// ------------------------------------------------------------------------------ render

function render(): void {
  renderHeader();
  renderFilterSummary();
  renderBanner();
  const ix = page.ix;
  if (!ix) {
    if (!page.problem) fill(main, h('p', { class: 'muted' }, 'Reading the fleet…'));
    else main.replaceChildren();
    return;
  }
  const filtered = applyFilters(ix, page.filters);
  renderTabs(filtered.certificates.length, filtered.targets.length, filtered.agents.length);
  const now = new Date(ix.snapshot.generatedAt);
  if (page.detail !== undefined) {
    fill(
      main,
      renderDetail(
        page.detail,
        ix.byName.get(page.detail),
        page.histories.get(page.detail),
        now,
        page.lastList,
      ),
    );
  } else {
    const show = <T>(table: VirtualTable<T>, columns: Column<T>[], items: readonly T[]) => {
      if (main.firstElementChild !== table.element) main.replaceChildren(table.element);
      table.setItems(sortBy(items, columns, page.sorts[page.view]), page.sorts[page.view]);
    };
    if (page.view === 'timeline') show(timeline.table, timeline.columns, filtered.certificates);
    else if (page.view === 'fleet') show(fleet.table, fleet.columns, filtered.targets);
    else if (page.view === 'agents') show(agents.table, agents.columns, filtered.agents);
    else {
      const list: PageEvent[] = [
        ...page.live,
        ...ix.snapshot.events.map((e) => ({ ...e, live: false })),
      ].filter((e) => filtered.names.has(e.certificate));
      show(events.table, events.columns, list);
    }
  }
  document.body.dataset.view = page.detail !== undefined ? 'detail' : page.view;
  // Marked once the frame with the result is painted, not when the DOM is built.
  if (!page.rendered) {
    page.rendered = true;
    afterPaint(() => {
      performance.mark('certkeeper:first-render');
      document.body.dataset.ready = '1';
    });
  }
  if (page.filterPending) {
    page.filterPending = false;
    afterPaint(() => {
      performance.mark('certkeeper:filter-rendered');
      performance.measure('certkeeper:filter', 'certkeeper:filter-input', 'certkeeper:filter-rendered');
      document.body.dataset.filtered = String(Number(document.body.dataset.filtered ?? 0) + 1);
    });
  }
}

const afterPaint = (fn: () => void): void => void requestAnimationFrame(() => setTimeout(fn, 0));

function renderHeader(): void {
  const s = page.ix?.snapshot;
  byId('source').textContent = s
    ? `${s.source.kind === 'local' ? 'local directory' : s.source.kind} ${s.source.location}`
    : (page.problem?.source.location ?? '');
  const data = byId('data-time');
  if (s) {
    const age = Date.now() - Date.parse(s.generatedAt);
    const view = s.at ? `fleet view ${relativeTime(s.at, new Date(s.generatedAt))}` : 'no fleet view yet';
    data.textContent = `data of ${clockTime(s.generatedAt)} (${durationText(age)} old) · ${view} · refresh every ${refreshSeconds} s`;
    data.title = s.generatedAt;
  } else data.textContent = '';
  const status = byId('status');
  status.textContent = page.problem ? 'not updating' : s ? 'live' : 'loading';
  status.className = `badge b-${page.problem ? 'failing' : s ? 'ok' : 'pending'}`;
  const counts = byId('counts');
  if (!s) return counts.replaceChildren();
  const states = new Map<string, number>();
  for (const c of s.certificates) states.set(c.state, (states.get(c.state) ?? 0) + 1);
  const chips: HTMLElement[] = [...states]
    .sort(([a], [b]) => (STATE_ORDER[a] ?? 9) - (STATE_ORDER[b] ?? 9))
    .map(([state, n]) =>
      h(
        'button',
        {
          class: `chip b-${state}`,
          title: `show only ${state}`,
          attrs: { type: 'button' },
          on: { click: () => setFilter('state', state) },
        },
        `${n} ${state}`,
      ),
    );
  const f = s.summary;
  chips.push(
    h(
      'span',
      { class: 'chip' },
      `${f.targets} targets: ${f.ok} ok, ${f.behind} behind, ${f.silent} silent, ${f.unreachable} unreachable`,
    ),
  );
  counts.replaceChildren(...chips);
}

function renderFilterSummary(): void {
  const active = Object.values(page.filters).filter((v) => v !== '').length;
  byId('filters').querySelector('summary')!.textContent = active ? `Filters (${active} on)` : 'Filters';
}

function renderBanner(): void {
  const p = page.problem;
  banner.hidden = !p;
  if (!p) return banner.replaceChildren();
  fill(
    banner,
    h('h2', null, page.ix ? 'The fleet could not be read again' : 'The fleet could not be read'),
    h('p', { class: 'pre' }, p.error.message),
    p.error.fix ? h('p', { class: 'fix' }, h('strong', null, 'Fix: '), p.error.fix) : null,
    h(
      'p',
      { class: 'muted' },
      `Source: ${p.source.location}. Tried at ${clockTime(p.at)}; trying again every ${refreshSeconds} s.`,
      page.ix ? ` The data below is from ${clockTime(page.ix.snapshot.generatedAt)}.` : '',
    ),
  );
}

function renderTabs(certificates: number, targets: number, agentCount: number): void {
  const counts: Record<ViewName, string> = {
    timeline: String(certificates),
    fleet: String(targets),
    agents: String(agentCount),
    events: '',
  };
  for (const view of VIEWS) {
    const tab = byId(`tab-${view}`);
    tab.classList.toggle('active', page.detail === undefined && page.view === view);
    byId(`count-${view}`).textContent = counts[view];
  }
}

// --------------------------------------------------------------------------- controls

const FILTER_INPUTS: Record<keyof Filters, string> = {
  text: 'f-text',
  label: 'f-label',
  state: 'f-state',
  ca: 'f-ca',
  agent: 'f-agent',
  health: 'f-health',
};

let frame = 0;
function renderSoon(): void {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    render();
  });
}

function setFilter(key: keyof Filters, value: string): void {
  page.filters[key] = value;
  byId<HTMLInputElement | HTMLSelectElement>(FILTER_INPUTS[key]).value = value;
  if (key === 'state' && page.detail !== undefined) location.hash = page.lastList;
  renderSoon();
}

for (const [key, id] of Object.entries(FILTER_INPUTS) as [keyof Filters, string][]) {
  const input = byId<HTMLInputElement | HTMLSelectElement>(id);
  input.addEventListener('input', () => {
    performance.mark('certkeeper:filter-input');
    page.filterPending = true;
    page.filters[key] = input.value;
    for (const t of [timeline.table, fleet.table, agents.table, events.table]) t.scrollToTop();
    renderSoon();
  });
}
byId('f-span').addEventListener('input', () => renderSoon());
byId('f-clear').addEventListener('click', () => {
  for (const key of Object.keys(FILTER_INPUTS) as (keyof Filters)[]) setFilter(key, '');
});

/** The select options of the filters, from what the data holds. */
function fillOptions(): void {
  const ix = page.ix;
  if (!ix) return;
  const options = (id: string, values: readonly string[], all: string) => {
    const select = byId<HTMLSelectElement>(id);
    const keep = select.value;
    select.replaceChildren(
      h('option', { attrs: { value: '' } }, all),
      ...values.map((v) => h('option', { attrs: { value: v } }, v)),
    );
    select.value = values.includes(keep) ? keep : '';
  };
  options('f-label', ix.labels, 'any label');
  options('f-ca', ix.cas, 'any CA');
}

function route(): void {
  const hash = decodeURIComponent(location.hash.replace(/^#\/?/, ''));
  const detail = /^certificate\/(.+)$/.exec(hash);
  if (detail) {
    page.detail = detail[1]!;
    void loadHistory(page.detail);
  } else {
    page.detail = undefined;
    page.view = (VIEWS as readonly string[]).includes(hash) ? (hash as ViewName) : 'timeline';
    page.lastList = `#/${page.view}`;
  }
  render();
  window.scrollTo(0, 0);
}

window.addEventListener('hashchange', route);
// A row leads to its detail (its links and buttons do their own thing).
main.addEventListener('click', (event) => {
  const target = event.target as Element;
  if (target.closest('a, button')) return;
  const href = target.closest<HTMLElement>('[data-href]')?.dataset.href;
  if (href) location.hash = href;
});
// The data's age in the header moves on between polls.
setInterval(renderHeader, 5000);

// On a phone the filters fold away until asked for; the rows get the screen.
if (matchMedia('(max-width: 720px)').matches) byId<HTMLDetailsElement>('filters').open = false;
route();
void poll();
