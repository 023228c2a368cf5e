import { minutesSince } from '../model/age.js';
import { DAY, MINUTE } from '../model/clock.js';
import { probeTargetId } from '../model/delivery.js';
import type { CertificateEvent, DeploymentTarget, TargetHealth } from '../model/event.js';
import type { AgentRecord } from '../model/agent.js';
import type { InventoryRecord } from '../model/state.js';
import { type ServedCertificate, sameSerial } from './probe.js';
import type { AgentReport } from './report.js';
import { type FleetStatus, type TargetStatus, isProblem } from './status.js';

/** What a tick observed: valid agent reports by agent name, probe results by certificate. */
export interface FleetObservations {
  reports: ReadonlyMap<string, AgentReport>;
  /** Keyed by certificate name, then by probeTargetId. */
  probes: ReadonlyMap<string, ReadonlyMap<string, ServedCertificate | { error: string }>>;
  /** The registry's agents, by name (absent: only agents of the deployment config). */
  agents?: ReadonlyMap<string, AgentRecord>;
}

export interface FleetRules {
  /** A target on an older serial this long after the current one was stored is behind. */
  lagMs: number;
  /** Silent after this many poll intervals without a report. */
  silentIntervals: number;
  /** What a target has expiring within this is `expiring`. */
  expiringMs: number;
}

export const DEFAULT_FLEET_RULES: FleetRules = { lagMs: 30 * MINUTE, silentIntervals: 3, expiringMs: DAY };

export interface FleetEvaluation {
  status: FleetStatus;
  /** Lagging and recovered events: one per change of a target's health. */
  events: CertificateEvent[];
}

/**
 * The fleet view, pure: for every certificate with delivery targets, what each target has
 * against the current serial, and the events its change of health calls for. A target is
 * announced when it turns into a problem (or from one problem into another), and once more
 * when it has the current certificate again; `updating` inside the lag period is neither.
 */
export function evaluateFleet(
  records: readonly InventoryRecord[],
  observed: FleetObservations,
  previous: FleetStatus | undefined,
  now: Date,
  rules: FleetRules = DEFAULT_FLEET_RULES,
): FleetEvaluation {
  const at = now.toISOString();
  const status: FleetStatus = {
    version: 1,
    at,
    lagMinutes: Math.max(1, Math.round(rules.lagMs / MINUTE)),
    certificates: {},
    ...(observed.agents ? { agents: agentSummaries(observed.agents, observed.reports) } : {}),
  };
  const events: CertificateEvent[] = [];
  for (const { spec, state } of records) {
    const delivery = spec.delivery;
    if (state.status === 'retired' || !delivery) continue;
    const current = state.current;
    const expected = current?.serial;
    const storedAt = state.lastSuccessAt ?? current?.notBefore;
    const ctx: TargetContext = {
      expected,
      storedAt,
      now,
      rules,
      identifiers: spec.identifiers.map((i) => i.value),
    };
    const observedTargets: Omit<TargetStatus, 'since' | 'alerting'>[] = [
      ...delivery.agents.map((agent) =>
        agentTarget(agent, spec.name, observed.reports.get(agent), observed.agents?.get(agent), ctx),
      ),
      ...delivery.probes.map((p) => {
        const id = probeTargetId(p);
        return probeTarget(id, observed.probes.get(spec.name)?.get(id), ctx);
      }),
      ...delivery.acmRegions.map((region) => acmTarget(region, state.acm?.[region], ctx)),
    ];
    const before = new Map(
      (previous?.certificates[spec.name]?.targets ?? []).map((t) => [`${t.kind}:${t.id}`, t]),
    );
    const targets = observedTargets.map((t): TargetStatus => {
      const prev = before.get(`${t.kind}:${t.id}`);
      const changed = prev?.health !== t.health;
      let alerting = prev?.alerting ?? false;
      const event = (type: CertificateEvent['type']): CertificateEvent => ({
        type,
        certificate: spec.name,
        identifiers: ctx.identifiers,
        serial: expected,
        notAfter: current?.notAfter,
        manifestKey: current?.manifestKey,
        target: deploymentTarget(t),
        at,
      });
      if (isProblem(t.health) && (!alerting || changed)) {
        events.push(event('certificate.deployment_lagging'));
        alerting = true;
      } else if (t.health === 'ok' && alerting) {
        events.push(event('certificate.deployment_recovered'));
        alerting = false;
      }
      return { ...t, since: changed || !prev ? at : prev.since, alerting };
    });
    status.certificates[spec.name] = { serial: expected, storedAt, notAfter: current?.notAfter, targets };
  }
  return { status, events };
}

interface TargetContext {
  expected: string | undefined;
  storedAt: string | undefined;
  now: Date;
  rules: FleetRules;
  identifiers: string[];
}

type Observed = Omit<TargetStatus, 'since' | 'alerting'>;

/** Has the current serial, is still inside the lag period, or is behind; expiring wins. */
function compare(
  has: string | undefined,
  notAfter: string | undefined,
  ctx: TargetContext,
): { health: TargetHealth; behindSince?: string } {
  if (notAfter && Date.parse(notAfter) - ctx.now.getTime() < ctx.rules.expiringMs)
    return { health: 'expiring' };
  if (ctx.expected === undefined) return { health: 'updating' };
  if (has !== undefined && sameSerial(has, ctx.expected)) return { health: 'ok' };
  const since = ctx.storedAt ?? ctx.now.toISOString();
  const late = ctx.now.getTime() - Date.parse(since) >= ctx.rules.lagMs;
  return { health: late ? 'behind' : 'updating', behindSince: since };
}

function agentTarget(
  agent: string,
  certificate: string,
  report: AgentReport | undefined,
  registered: AgentRecord | undefined,
  ctx: TargetContext,
): Observed {
  const base = { kind: 'agent' as const, id: agent };
  if (!report) {
    return {
      ...base,
      health: 'silent',
      error:
        registered?.status === 'pending'
          ? `not enrolled: no server has joined as ${agent} yet (certkeeper agent token ${agent}, then certkeeper agent join <token> on the server)`
          : 'no report from this agent (not installed, no "name" in its config, or it cannot write its report)',
    };
  }
  const lastReportAt = report.at;
  const silentAfter = ctx.rules.silentIntervals * report.pollIntervalSeconds * 1000;
  const d = report.certificates[certificate];
  const fields = {
    ...base,
    lastReportAt,
    installedSerial: d?.installedSerial,
    servedSerial: d?.servedSerial,
    notAfter: d?.servedNotAfter ?? d?.installedNotAfter,
    error: d?.lastError,
  };
  if (ctx.now.getTime() - Date.parse(lastReportAt) > silentAfter) {
    return {
      ...fields,
      health: 'silent',
      error: d?.lastError ?? `no report for ${minutesSince(lastReportAt, ctx.now)} min`,
    };
  }
  if (!d) {
    return {
      ...fields,
      health: 'behind',
      behindSince: ctx.storedAt,
      error: `the agent reports but has no "${certificate}" in its config`,
    };
  }
  // What the server serves is the truth when the agent checks it; else what it installed.
  const has = d.servedSerial ?? d.installedSerial;
  return { ...fields, ...compare(has, fields.notAfter, ctx) };
}

/** Every registry agent as the fleet view lists it: status, identity, last report. */
function agentSummaries(
  agents: ReadonlyMap<string, AgentRecord>,
  reports: ReadonlyMap<string, AgentReport>,
): NonNullable<FleetStatus['agents']> {
  const out: NonNullable<FleetStatus['agents']> = {};
  for (const [name, a] of [...agents].sort(([x], [y]) => x.localeCompare(y))) {
    const report = reports.get(name);
    out[name] = {
      status: a.status,
      source: a.source,
      selector: a.selector,
      ...(a.identity ? { identityNotAfter: a.identity.notAfter } : {}),
      ...(a.removedAt ? { removedAt: a.removedAt } : {}),
      ...(report && a.status !== 'removed' ? { lastReportAt: report.at, host: report.host } : {}),
    };
  }
  return out;
}

function probeTarget(
  id: string,
  result: ServedCertificate | { error: string } | undefined,
  ctx: TargetContext,
): Observed {
  const base = { kind: 'probe' as const, id };
  if (!result) return { ...base, health: 'unreachable', error: 'not probed this tick' };
  if ('error' in result) return { ...base, health: 'unreachable', error: result.error };
  const fields = { ...base, servedSerial: result.serial, notAfter: result.notAfter };
  const verdict = compare(result.serial, result.notAfter, ctx);
  if (verdict.health !== 'ok' && !result.names.some((n) => ctx.identifiers.includes(n))) {
    return {
      ...fields,
      health: 'wrong-certificate',
      error: `serves a certificate for ${result.names.join(', ') || 'no names'}, not for ${ctx.identifiers.join(', ')}`,
    };
  }
  return { ...fields, ...verdict };
}

function acmTarget(
  region: string,
  acm: { arn?: string; serial?: string; error?: string } | undefined,
  ctx: TargetContext,
): Observed {
  const base = { kind: 'acm' as const, id: region, installedSerial: acm?.serial };
  const verdict = compare(acm?.serial, undefined, ctx);
  if (verdict.health === 'ok') return { ...base, ...verdict };
  if (acm?.error) return { ...base, health: 'failed', behindSince: verdict.behindSince, error: acm.error };
  return { ...base, ...verdict };
}

function deploymentTarget(t: Observed): DeploymentTarget {
  return {
    kind: t.kind,
    id: t.id,
    health: t.health,
    installedSerial: t.installedSerial,
    servedSerial: t.servedSerial,
    behindSince: t.behindSince,
    lastReportAt: t.lastReportAt,
    error: t.error,
  };
}
