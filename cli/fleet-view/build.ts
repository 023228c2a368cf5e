/**
 * Builds the fleet snapshot (schema.ts) from one reading of the inventory, the fleet view
 * and, once there is one, the agent registry. Pure: the time comes in as `now`.
 */
import * as z from 'zod';
import { summarizeFleet } from '../../shared/fleet/status.js';
import { minutesSince } from '../../shared/model/age.js';
import { DAY } from '../../shared/model/clock.js';
import { probeTargetId } from '../../shared/model/delivery.js';
import type { CertificateSpec } from '../../shared/model/spec.js';
import type { InventoryRecord } from '../../shared/model/state.js';
import { emergencyRenewalTime } from '../../shared/renewal/timing.js';
import { summarize } from '../summary.js';
import { recentEvents } from './events.js';
import { problemFix } from './problem-fix.js';
import type {
  AgentEntry,
  CertificateEntry,
  CertificateViewState,
  FleetSnapshot,
  TargetRow,
} from './schema.js';
import type { FleetReading, RegistryAgent, SourceInfo } from './source.js';
import { targetRows } from './targets.js';

export function buildFleetSnapshot(reading: FleetReading, source: SourceInfo, now: Date): FleetSnapshot {
  const { records, view } = reading;
  const rows = targetRows(view, now);
  const rowsByCertificate = new Map<string, TargetRow[]>();
  for (const row of rows) {
    const list = rowsByCertificate.get(row.certificate);
    if (list) list.push(row);
    else rowsByCertificate.set(row.certificate, [row]);
  }
  const certificates = records.map((record) =>
    certificateEntry(record, rowsByCertificate.get(record.spec.name) ?? [], now),
  );
  return {
    version: 1,
    generatedAt: now.toISOString(),
    source: { kind: source.kind, location: source.location },
    at: view?.at ?? null,
    lagMinutes: view?.lagMinutes ?? null,
    summary: summarizeFleet(view),
    certificates,
    agents: agentEntries(certificates, reading.agents ?? [], now),
    events: recentEvents(records, rows),
  };
}

const labelsSchema = z.record(z.string(), z.string());

/**
 * The spec's `labels` (e.g. {"role":"edge"}) when it has them: the agent registry adds the
 * field to the spec; until then, and for anything that is not a map of strings, none.
 */
export function labelsOf(spec: CertificateSpec): Record<string, string> {
  const labels = (spec as CertificateSpec & { labels?: unknown }).labels;
  if (labels === undefined) return {};
  const parsed = labelsSchema.safeParse(labels);
  return parsed.success ? parsed.data : {};
}

function certificateEntry(record: InventoryRecord, targets: TargetRow[], now: Date): CertificateEntry {
  const { spec, state } = record;
  const summary = summarize(record, now);
  const current = state.current;
  const polled = state.ari;
  const ari =
    current && polled && polled.certId === current.certId && polled.windowStart && polled.windowEnd
      ? polled
      : undefined;
  const ariTime = ari?.selectedAt ? new Date(ari.selectedAt).toISOString() : undefined;
  const error = state.lastError;
  return {
    ...summary,
    targets,
    state: viewState(record, summary.renewalAt, now),
    keyType: spec.keyType,
    notBefore: current?.notBefore ?? null,
    labels: labelsOf(spec),
    renewalBy: !current || !summary.renewalAt ? null : summary.renewalAt === ariTime ? 'ari' : 'policy',
    ari: ari
      ? {
          windowStart: ari.windowStart!,
          windowEnd: ari.windowEnd!,
          selectedAt: ari.selectedAt ?? null,
          explanationURL: ari.explanationURL ?? null,
        }
      : null,
    lastError: error
      ? {
          code: error.code,
          type: error.type ?? null,
          detail: error.detail,
          ca: error.ca ?? null,
          at: error.at,
          fix: problemFix(error),
        }
      : null,
    nextAttemptAt: state.nextAttemptAt ?? null,
    delivery: spec.delivery
      ? {
          agents: [...spec.delivery.agents],
          probes: spec.delivery.probes.map(probeTargetId),
          acmRegions: [...spec.delivery.acmRegions],
        }
      : null,
  };
}

/** One word for the certificate, worst first (see CERTIFICATE_VIEW_STATES). */
function viewState(record: InventoryRecord, renewalAt: string | null, now: Date): CertificateViewState {
  const { state } = record;
  if (state.status === 'retired') return 'retired';
  const current = state.current;
  const t = now.getTime();
  if (current) {
    const notAfter = Date.parse(current.notAfter);
    if (state.status === 'expired' || notAfter <= t) return 'expired';
    if (notAfter - t < DAY || t >= emergencyRenewalTime(current).getTime()) return 'expiring';
  }
  if (state.status === 'failing' || state.attempts > 0) return 'failing';
  if (!current) return 'pending';
  return renewalAt !== null && t >= Date.parse(renewalAt) ? 'due' : 'issued';
}

/**
 * Every agent: those the certificates name (`delivery.agents`), those the fleet view saw,
 * and the registry's, each with what it has of every certificate it receives.
 */
function agentEntries(
  certificates: readonly CertificateEntry[],
  registry: readonly RegistryAgent[],
  now: Date,
): AgentEntry[] {
  const agents = new Map<string, AgentEntry>();
  const entry = (name: string): AgentEntry => {
    let agent = agents.get(name);
    if (!agent) {
      agent = {
        name,
        status: 'configured',
        selector: { certificates: [], labels: null },
        identity: null,
        lastReportAt: null,
        reportAgeMinutes: null,
        lastError: null,
        certificates: [],
      };
      agents.set(name, agent);
    }
    return agent;
  };
  for (const r of registry) {
    Object.assign(entry(r.name), {
      status: r.status,
      selector: { certificates: [...r.selector.certificates], labels: r.selector.labels },
      identity: r.identity,
      lastReportAt: r.lastReportAt,
    });
  }
  const selected = (agent: AgentEntry, c: CertificateEntry): boolean => {
    const labels = agent.selector.labels;
    return (
      agent.selector.certificates.includes(c.name) ||
      (labels !== null &&
        Object.keys(labels).length > 0 &&
        Object.entries(labels).every(([k, v]) => c.labels[k] === v))
    );
  };
  const registered = registry.map((r) => entry(r.name));
  for (const c of certificates) {
    if (c.status === 'retired') continue;
    const rows = new Map(c.targets.filter((t) => t.kind === 'agent').map((t) => [t.id, t]));
    const names = new Set([...(c.delivery?.agents ?? []), ...rows.keys()]);
    for (const agent of registered) if (selected(agent, c)) names.add(agent.name);
    for (const name of names) {
      const agent = entry(name);
      if (agent.status === 'configured' && !agent.selector.certificates.includes(c.name))
        agent.selector.certificates.push(c.name);
      const row = rows.get(name);
      agent.certificates.push({
        certificate: c.name,
        health: row?.health ?? null,
        installedSerial: row?.installedSerial ?? null,
        servedSerial: row?.servedSerial ?? null,
        currentSerial: c.serial,
        lacksCurrentSince: row ? row.lacksCurrentSince : null,
        error: row?.error ?? null,
      });
      if (row?.lastReportAt && (!agent.lastReportAt || row.lastReportAt > agent.lastReportAt))
        agent.lastReportAt = row.lastReportAt;
      if (row?.error && agent.lastError === null && row.health !== 'ok') agent.lastError = row.error;
    }
  }
  const list = [...agents.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const agent of list) {
    agent.reportAgeMinutes = agent.lastReportAt ? minutesSince(agent.lastReportAt, now) : null;
  }
  return list;
}
