import type { EventPublisher } from '../events/publisher.js';
import type { Inventory } from '../inventory/inventory.js';
import type { Clock } from '../model/clock.js';
import { probeTargetId } from '../model/delivery.js';
import { asCertkeeperError } from '../model/errors.js';
import { describeJsonProblem, parseJson } from '../model/json.js';
import type { Log } from '../model/log.js';
import type { InventoryRecord } from '../model/state.js';
import type { ListableObjectStore } from '../store/object-certificate-store.js';
import { DEFAULT_FLEET_RULES, type FleetObservations, type FleetRules, evaluateFleet } from './evaluate.js';
import { ProbeError, type ProbeTarget, type ServedCertificate, readServedCertificate } from './probe.js';
import { AGENT_REPORT_MAX_BYTES, AGENTS_PREFIX, type AgentReport, parseAgentReport } from './report.js';
import {
  FLEET_STATUS_KEY,
  type FleetStatus,
  type FleetSummary,
  fleetStatusSchema,
  summarizeFleet,
} from './status.js';

export interface FleetMonitorDeps {
  inventory: Inventory;
  /** The bucket: agent reports are read from it, the fleet status is kept in it. */
  objects: ListableObjectStore;
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
  /** Reports that were not used, and why (malformed, oversized, foreign). */
  ignoredReports: { key: string; reason: string }[];
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
  const records = (await deps.inventory.list()).filter(
    (r) => r.spec.delivery && r.state.status !== 'retired',
  );
  const agents = new Set(records.flatMap((r) => r.spec.delivery!.agents));
  const { reports, ignored } = await readReports(deps, agents);
  const probes = await probeAll(records, deps);
  const previous = await loadFleetStatus(deps.objects, deps.log);
  const observed: FleetObservations = { reports, probes };
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
  const summary = summarizeFleet(status);
  deps.log.info('fleet tick', { ...summary, events: events.length, ignoredReports: ignored.length });
  return { summary, published: events.length, ignoredReports: ignored };
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

async function readReports(
  deps: FleetMonitorDeps,
  agents: ReadonlySet<string>,
): Promise<{ reports: Map<string, AgentReport>; ignored: { key: string; reason: string }[] }> {
  const reports = new Map<string, AgentReport>();
  const ignored: { key: string; reason: string }[] = [];
  const listed = await deps.objects.list(AGENTS_PREFIX);
  for (const { key, size } of listed) {
    const m = /^agents\/([^/]+)\/report\.json$/.exec(key);
    if (!m) continue;
    const agent = m[1]!;
    const ignore = (reason: string): void => {
      ignored.push({ key, reason });
      deps.log.warn(`ignoring agent report ${key}: ${reason}`);
    };
    if (!agents.has(agent)) {
      ignore(`agent "${agent}" is not in the deployment config (no certificate lists it)`);
      continue;
    }
    // Refused before reading: a runaway agent's huge object must not exhaust the Lambda.
    if (size > AGENT_REPORT_MAX_BYTES) {
      ignore(`${key} is ${size} bytes, over the ${AGENT_REPORT_MAX_BYTES}-byte limit`);
      continue;
    }
    try {
      const text = await deps.objects.get(key);
      if (text !== undefined) reports.set(agent, parseAgentReport(text, agent));
    } catch (err) {
      ignore(asCertkeeperError(err).describe());
    }
  }
  return { reports, ignored };
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
