/**
 * The snapshot indexed once per poll for what the page does on every keystroke: filter by
 * name, label, state, CA, agent and health, with the search text of each row prepared.
 */
import type {
  AgentEntry,
  CertificateEntry,
  FleetEvent,
  FleetSnapshot,
  TargetRow,
} from '../../fleet-view/schema.js';

export interface Filters {
  /** Certificate name or identifier (substring, any case). */
  text: string;
  /** "key=value". */
  label: string;
  state: string;
  ca: string;
  /** Agent name (substring, any case). */
  agent: string;
  /** A target health, or "problem" for any that needs attention. */
  health: string;
}

export const NO_FILTERS: Filters = { text: '', label: '', state: '', ca: '', agent: '', health: '' };

/** The CA filter's value for certificates without one (never issued). */
export const NO_CA = '(none)';

export interface CertificateRow {
  entry: CertificateEntry;
  search: string;
  labels: string[];
  /** Agent names, lower case: declared ones and those in the fleet view. */
  agents: string[];
}

export interface TargetItem {
  row: TargetRow;
  certificate: CertificateRow;
}

export interface AgentItem {
  entry: AgentEntry;
  name: string;
  ok: number;
  problems: number;
  healths: Set<string>;
}

/** Events as the page lists them: the snapshot's, and those it saw happen between polls. */
export interface PageEvent extends Omit<FleetEvent, 'type'> {
  type: FleetEvent['type'] | 'renewed' | 'recovered';
  /** Seen by this page between two polls, rather than read from the state. */
  live: boolean;
}

export interface Indexed {
  snapshot: FleetSnapshot;
  certificates: CertificateRow[];
  byName: Map<string, CertificateRow>;
  targets: TargetItem[];
  agents: AgentItem[];
  labels: string[];
  cas: string[];
  /** The timeline's time axis: the earliest notBefore to the latest notAfter, in ms. */
  axis: { start: number; end: number };
}

export const isProblem = (health: string | null): boolean =>
  health !== null && health !== 'ok' && health !== 'updating';

export function index(snapshot: FleetSnapshot): Indexed {
  const labels = new Set<string>();
  const cas = new Set<string>();
  const byName = new Map<string, CertificateRow>();
  const targets: TargetItem[] = [];
  let start = Infinity;
  let end = -Infinity;
  const certificates = snapshot.certificates.map((entry) => {
    const pairs = Object.entries(entry.labels).map(([k, v]) => `${k}=${v}`);
    for (const p of pairs) labels.add(p);
    cas.add(entry.ca ?? NO_CA);
    const agents = new Set((entry.delivery?.agents ?? []).map((a) => a.toLowerCase()));
    for (const t of entry.targets) if (t.kind === 'agent') agents.add(t.id.toLowerCase());
    const row: CertificateRow = {
      entry,
      search: [entry.name, ...entry.identifiers, ...pairs].join('\n').toLowerCase(),
      labels: pairs,
      agents: [...agents],
    };
    byName.set(entry.name, row);
    for (const t of entry.targets) targets.push({ row: t, certificate: row });
    if (entry.notBefore) start = Math.min(start, Date.parse(entry.notBefore));
    if (entry.notAfter) end = Math.max(end, Date.parse(entry.notAfter));
    return row;
  });
  const agents = snapshot.agents.map((entry) => {
    let ok = 0;
    let problems = 0;
    const healths = new Set<string>();
    for (const c of entry.certificates) {
      if (c.health === 'ok') ok++;
      else if (isProblem(c.health)) problems++;
      if (c.health) healths.add(c.health);
    }
    return { entry, name: entry.name.toLowerCase(), ok, problems, healths };
  });
  const now = Date.parse(snapshot.generatedAt);
  if (!Number.isFinite(start)) start = now - 30 * 86_400_000;
  if (!Number.isFinite(end)) end = now + 60 * 86_400_000;
  return {
    snapshot,
    certificates,
    byName,
    targets,
    agents,
    labels: [...labels].sort(),
    cas: [...cas].sort(),
    axis: { start: Math.min(start, now), end: Math.max(end, now) },
  };
}

function certificateMatches(c: CertificateRow, f: Filters, text: string, agent: string): boolean {
  if (text && !c.search.includes(text)) return false;
  if (f.label && !c.labels.includes(f.label)) return false;
  if (f.state && c.entry.state !== f.state) return false;
  if (f.ca && (c.entry.ca ?? NO_CA) !== f.ca) return false;
  if (agent && !c.agents.some((a) => a.includes(agent))) return false;
  return true;
}

const healthMatches = (health: string | null, wanted: string): boolean =>
  !wanted || (wanted === 'problem' ? isProblem(health) : health === wanted);

export interface Filtered {
  certificates: CertificateRow[];
  targets: TargetItem[];
  agents: AgentItem[];
  names: Set<string>;
}

export function applyFilters(ix: Indexed, f: Filters): Filtered {
  const text = f.text.trim().toLowerCase();
  const agent = f.agent.trim().toLowerCase();
  const certificates = ix.certificates.filter((c) => certificateMatches(c, f, text, agent));
  const names = new Set(certificates.map((c) => c.entry.name));
  const targets = ix.targets.filter(
    (t) =>
      names.has(t.row.certificate) &&
      (!agent || (t.row.kind === 'agent' && t.row.id.toLowerCase().includes(agent))) &&
      healthMatches(t.row.health, f.health),
  );
  const certificateFilter = Boolean(text || f.label || f.state || f.ca);
  const agents = ix.agents.filter(
    (a) =>
      (!agent || a.name.includes(agent)) &&
      (!certificateFilter || a.entry.certificates.some((c) => names.has(c.certificate))) &&
      (!f.health || [...a.healths].some((h) => healthMatches(h, f.health))),
  );
  return { certificates, targets, agents, names };
}

/**
 * What changed between two polls that the state does not keep: a certificate renewed (a new
 * serial where there was one), a target that had a problem and now has the current serial.
 */
export function observedEvents(before: Indexed, after: Indexed): PageEvent[] {
  const at = after.snapshot.generatedAt;
  const events: PageEvent[] = [];
  const previous = new Map(
    before.targets.map((t) => [`${t.row.certificate}\n${t.row.kind}\n${t.row.id}`, t.row]),
  );
  for (const c of after.certificates) {
    const old = before.byName.get(c.entry.name)?.entry;
    if (old?.serial && c.entry.serial && old.serial !== c.entry.serial) {
      events.push({
        type: 'renewed',
        live: true,
        at,
        certificate: c.entry.name,
        target: null,
        serial: c.entry.serial,
        detail: `serial ${old.serial} replaced by ${c.entry.serial}`,
      });
    }
  }
  for (const { row } of after.targets) {
    const old = previous.get(`${row.certificate}\n${row.kind}\n${row.id}`);
    if (old && isProblem(old.health) && row.health === 'ok') {
      events.push({
        type: 'recovered',
        live: true,
        at,
        certificate: row.certificate,
        target: { kind: row.kind, id: row.id },
        serial: row.currentSerial,
        detail: `${row.kind} ${row.id} has the current serial again (was ${old.health})`,
      });
    }
  }
  return events;
}
