/**
 * The page's model (cli/dashboard/page/model.ts), pure: filters over a snapshot, and the
 * events the page sees happen between two polls. The browser test drives the same code
 * through the page; this pins the rules.
 */
import { describe, expect, it } from 'vitest';
import { buildFleetSnapshot } from '../../../cli/fleet-view/build.js';
import {
  type Filters,
  NO_CA,
  NO_FILTERS,
  applyFilters,
  index,
  observedEvents,
} from '../../../cli/dashboard/page/model.js';
import { evaluateFleet } from '../../../shared/fleet/evaluate.js';
import { HOUR } from '../../../shared/model/clock.js';
import type { InventoryRecord } from '../../../shared/model/state.js';
import { NEW, OLD, at, deployment, record, report } from '../../support/fleet-records.js';

const now = at(2 * HOUR);

function indexed(records: InventoryRecord[], serials: Record<string, string> = {}) {
  const reports = Object.entries(serials).map(([agent, serial]) =>
    report(
      agent,
      now,
      Object.fromEntries(records.map((r) => [r.spec.name, deployment({ installedSerial: serial })])),
    ),
  );
  const observed = { reports: new Map(reports.map((r) => [r.agent, r])), probes: new Map() };
  const { status } = evaluateFleet(records, observed, undefined, now);
  return index(buildFleetSnapshot({ records, view: status }, { kind: 'stack', location: 'x' }, now));
}

const edge = record(
  { agents: ['edge-1', 'edge-2'] },
  {
    current: {
      serial: NEW,
      notBefore: at(-HOUR).toISOString(),
      notAfter: at(80 * 24 * HOUR).toISOString(),
      manifestKey: 'k',
      ca: 'letsencrypt',
    },
  },
  'edge',
);
(edge.spec as unknown as { labels: Record<string, string> }).labels = { role: 'edge' };
const api = record(
  { agents: ['api-1'] },
  { attempts: 2, lastError: { code: 'unreachable', detail: 'down', at: at(0).toISOString() } },
  'api',
);
const pending = record({}, { status: 'pending', current: undefined }, 'new-one');
const ix = indexed([api, edge, pending], { 'edge-1': NEW, 'edge-2': OLD, 'api-1': NEW });
const filter = (f: Partial<Filters>) => applyFilters(ix, { ...NO_FILTERS, ...f });
const names = (f: Partial<Filters>) => filter(f).certificates.map((c) => c.entry.name);

describe('the page filters', () => {
  it('by name or identifier, any case', () => {
    expect(names({})).toEqual(['api', 'edge', 'new-one']);
    expect(names({ text: 'EDGE' })).toEqual(['edge']);
    expect(names({ text: 'www.example' })).toEqual(['api', 'edge', 'new-one']);
  });

  it('by label, state and CA (none for a certificate never issued)', () => {
    expect(ix.labels).toEqual(['role=edge']);
    expect(names({ label: 'role=edge' })).toEqual(['edge']);
    expect(names({ state: 'failing' })).toEqual(['api']);
    expect(ix.cas).toEqual([NO_CA, 'letsencrypt']);
    expect(names({ ca: 'letsencrypt' })).toEqual(['edge']);
    expect(names({ ca: NO_CA })).toEqual(['api', 'new-one']);
  });

  it('by agent: its certificates, and in the fleet grid its rows only', () => {
    const f = filter({ agent: 'edge-2' });
    expect(f.certificates.map((c) => c.entry.name)).toEqual(['edge']);
    expect(f.targets.map((t) => t.row.id)).toEqual(['edge-2']);
    expect(f.agents.map((a) => a.entry.name)).toEqual(['edge-2']);
  });

  it('by health: the rows and agents with it; "problem" for any that needs attention', () => {
    expect(filter({ health: 'problem' }).targets.map((t) => `${t.row.id} ${t.row.health}`)).toEqual([
      'edge-2 behind',
    ]);
    expect(filter({ health: 'ok' }).agents.map((a) => a.entry.name)).toEqual(['api-1', 'edge-1']);
  });

  it('a certificate filter narrows the agents to those receiving a match', () => {
    expect(filter({ text: 'api' }).agents.map((a) => a.entry.name)).toEqual(['api-1']);
  });
});

describe('events the page sees between two polls', () => {
  it('a renewal (a new serial where there was one) and a recovery (a problem, then ok)', () => {
    const renewed = structuredClone(edge);
    renewed.state.current!.serial = '04CC03';
    const after = indexed([api, renewed, pending], { 'edge-1': '04CC03', 'edge-2': '04CC03', 'api-1': NEW });
    const seen = observedEvents(ix, after).map((e) =>
      `${e.type} ${e.certificate} ${e.target?.id ?? ''}`.trim(),
    );
    expect(seen).toEqual(['renewed edge', 'recovered edge edge-2']);
    expect(observedEvents(after, after)).toEqual([]);
  });
});
