import type { AgentInboxes } from '../agents/inbox.js';
import type { AgentRegistry } from '../agents/registry.js';
import type { EventPublisher } from '../events/publisher.js';
import type { Inventory } from '../inventory/inventory.js';
import type { Clock } from '../model/clock.js';
import { probeTargetId } from '../model/delivery.js';
import { describeJsonProblem, parseJson } from '../model/json.js';
import { staleInboxes } from './stale-inboxes.js';
import type { Log } from '../model/log.js';
import { type AgentRecord, selects } from '../model/agent.js';
import { emptyDelivery } from '../model/delivery.js';
import type { InventoryRecord } from '../model/state.js';
import type { ListableObjectStore } from '../store/object-certificate-store.js';
import { DEFAULT_FLEET_RULES, type FleetObservations, type FleetRules, evaluateFleet } from './evaluate.js';
import { ProbeError, type ProbeTarget, type ServedCertificate, readServedCertificate } from './probe.js';
import type { AgentReport } from './report.js';
import { type AgentReportStore, readAllReports } from './report-store.js';
import { ObjectAgentReports } from './reports-objects.js';
import {
  FLEET_STATUS_KEY,
  type FleetStatus,
  type FleetSummary,
  fleetStatusSchema,
  summarizeFleet,
} from './status.js';

export interface FleetMonitorDeps {
  inventory: Inventory;
  /** The bucket: the fleet status is kept in it (and direct-mode agents' reports, unless `reports` says otherwise). */
  objects: ListableObjectStore;
  /** Where agents report; default: the bucket's `agents/<name>/report.json` (direct mode). */
  reports?: readonly AgentReportStore[];
  /** The agent registry: its agents are delivery targets of what they select. */
  registry?: AgentRegistry;
  /** The agents' inboxes: ones that differ from what their selectors say are delivered again. */
  inboxes?: AgentInboxes;
  /** Asks for an agent's delivery (the deliver queue); with `inboxes`. */
  requestDelivery?: (agent: string) => Promise<void>;
  events: EventPublisher;
  clock: Clock;
  log: Log;
  rules?: FleetRules;
  /** Replaced in tests; the TLS read otherwise. */
  probe?: (target: ProbeTarget, timeoutMs: number) => Promise<ServedCertificate>;
  probeTimeoutMs?: number;
}

export interface FleetTickResult {
  summary: FleetSummary;
  /** Events published this tick. */
  published: number;
  /** Reports that were not used, and why (malformed, oversized, foreign, from an unknown or removed agent). */
  ignoredReports: { key: string; reason: string }[];
  /** Of those, reports from agents that were removed: a server still running after it was cut off. */
  removedReports: number;
  /** Agents whose inbox was stale and were asked for a delivery. */
  redelivered: string[];
}

/** Probes run this many at a time: a tick must finish well inside the Lambda's timeout. */
const PROBE_CONCURRENCY = 16;

/**
 * One fleet tick: read every agent report, probe every declared endpoint, compare what
 * each target has with the current serial, publish the changes, keep the new view. Events
 * go out before the view is saved, so a failed save repeats an event rather than losing it.
 */
export async function monitorFleet(deps: FleetMonitorDeps): Promise<FleetTickResult> {
  const now = deps.clock.now();
  const agents = new Map((await deps.registry?.list())?.map((a) => [a.name, a]) ?? []);
  const records = withRegistryAgents(
    (await deps.inventory.list()).filter((r) => r.state.status !== 'retired'),
    [...agents.values()],
  ).filter((r) => r.spec.delivery);
  const targeted = new Set(records.flatMap((r) => r.spec.delivery!.agents));
  const known = (agent: string) =>
    targeted.has(agent) || (agents.has(agent) && agents.get(agent)!.status !== 'removed');
  const { reports, ignored } = await readAllReports(
    deps.reports ?? [new ObjectAgentReports(deps.objects)],
    known,
  );
  let removedReports = 0;
  for (const i of ignored) {
    const agent = /(?:agents\/|report#)([^/]+)/.exec(i.key)?.[1];
    if (agent && agents.get(agent)?.status === 'removed') {
      removedReports++;
      i.reason = `agent "${agent}" was removed at ${agents.get(agent)!.removedAt}; its report is ignored`;
    }
    deps.log.warn(`ignoring agent report ${i.key}: ${i.reason}`);
  }
  const probes = await probeAll(records, deps);
  const previous = await loadFleetStatus(deps.objects, deps.log);
  const observed: FleetObservations = { reports, probes, agents };
  const { status, events } = evaluateFleet(
    records,
    observed,
    previous,
    now,
    deps.rules ?? DEFAULT_FLEET_RULES,
  );
  for (const event of events) await deps.events.publish(event);
  await deps.objects.put(FLEET_STATUS_KEY, `${JSON.stringify(status)}\n`, {
    contentType: 'application/json',
  });
  const redelivered = await redeliverStale(deps, reports);
  const summary = summarizeFleet(status);
  deps.log.info('fleet tick', {
    ...summary,
    events: events.length,
    ignoredReports: ignored.length,
    removedReports,
    redelivered: redelivered.length,
  });
  return { summary, published: events.length, ignoredReports: ignored, removedReports, redelivered };
}

/**
 * Each certificate with the registry agents that select it added to its delivery targets
 * (removed agents are not targets; pending ones are, and show as not enrolled until they join).
 */
export function withRegistryAgents(
  records: readonly InventoryRecord[],
  agents: readonly AgentRecord[],
): InventoryRecord[] {
  const live = agents.filter((a) => a.status !== 'removed');
  return records.map((r) => {
    const selected = live
      .filter((a) => selects(a.selector, { name: r.spec.name, labels: r.spec.labels }))
      .map((a) => a.name);
    if (selected.length === 0) return r;
    const delivery = r.spec.delivery ?? emptyDelivery();
    const merged = [...new Set([...delivery.agents, ...selected])].sort();
    return { ...r, spec: { ...r.spec, delivery: { ...delivery, agents: merged } } };
  });
}

/** Inboxes that differ from the selectors are delivered again; those of agents gone are removed. */
async function redeliverStale(
  deps: FleetMonitorDeps,
  reports: ReadonlyMap<string, AgentReport>,
): Promise<string[]> {
  if (!deps.registry || !deps.inboxes || !deps.requestDelivery) return [];
  const { stale, orphaned } = await staleInboxes(
    {
      registry: deps.registry,
      inventory: deps.inventory,
      inboxes: deps.inboxes,
    },
    reports,
  );
  for (const agent of orphaned) await deps.inboxes.remove(agent);
  for (const agent of stale) await deps.requestDelivery(agent);
  return stale;
}

/** The view the last tick saved; a damaged one is replaced (announcing current problems again). */
export async function loadFleetStatus(
  objects: ListableObjectStore,
  log?: Log,
): Promise<FleetStatus | undefined> {
  const text = await objects.get(FLEET_STATUS_KEY);
  if (text === undefined) return undefined;
  const where = `${objects.location}/${FLEET_STATUS_KEY}`;
  try {
    return parseJson(text, fleetStatusSchema, { as: (p) => new Error(describeJsonProblem(p)) });
  } catch (err) {
    log?.warn(`${where} is damaged; starting the fleet view afresh (${(err as Error).message})`);
    return undefined;
  }
}

async function probeAll(
  records: readonly InventoryRecord[],
  deps: FleetMonitorDeps,
): Promise<FleetObservations['probes']> {
  const probe = deps.probe ?? readServedCertificate;
  const timeoutMs = deps.probeTimeoutMs ?? 5000;
  const jobs = records.flatMap((r) => r.spec.delivery!.probes.map((p) => ({ certificate: r.spec.name, p })));
  const results = new Map<string, Map<string, ServedCertificate | { error: string }>>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const { certificate, p } = jobs[next++]!;
      let result: ServedCertificate | { error: string };
      try {
        result = await probe(p, timeoutMs);
      } catch (err) {
        result = { error: err instanceof ProbeError ? `${err.kind}: ${err.message}` : String(err) };
      }
      const byId = results.get(certificate) ?? new Map();
      byId.set(probeTargetId(p), result);
      results.set(certificate, byId);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PROBE_CONCURRENCY, jobs.length) }, worker));
  return results;
}
