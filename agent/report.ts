import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import pkg from '../package.json' with { type: 'json' };
import type { AgentReportStore } from '../shared/fleet/report-store.js';
import { type AgentReport, type CertificateDeployment, SYNC_ACTIONS } from '../shared/fleet/report.js';
import type { AgentConfig } from './config.js';
import type { AgentState } from './state.js';

export const AGENT_VERSION: string = pkg.version;

/**
 * The report the fleet view reads, built from the state file after a check: per certificate
 * the agent receives, the serial installed, the serial served (when the agent checks its
 * server), the last action and the last error. Serials and times only; never key material.
 * `pollIntervalSeconds` is how often the agent promises to report: three of them without a
 * report is silence.
 */
export function buildAgentReport(
  config: AgentConfig,
  state: AgentState,
  names: readonly string[],
  now: Date,
): AgentReport {
  const certificates: Record<string, CertificateDeployment> = {};
  for (const name of names) {
    const s = state.certificates[name];
    if (!s?.lastCheck) continue;
    const action = SYNC_ACTIONS.find((a) => a === s.lastAction) ?? 'error';
    certificates[name] = {
      installedSerial: s.serial,
      installedNotAfter: s.notAfter,
      servedSerial: s.servedSerial,
      servedNotAfter: s.servedNotAfter,
      servedCheckedAt: s.servedCheckedAt,
      lastAction: action,
      lastError: s.lastError?.slice(0, 2000),
      checkedAt: s.lastCheck,
    };
  }
  return {
    version: 1,
    agent: config.name!,
    host: hostname(),
    agentVersion: AGENT_VERSION,
    at: now.toISOString(),
    pollIntervalSeconds: Math.min(config.reportIntervalSeconds, 86_400),
    certificates,
  };
}

/**
 * What the report says, without the times that change at every check: a report is written
 * when this changes, and otherwise once per reportIntervalSeconds (a write costs money and
 * the fleet view needs a sign of life, not a copy of every check).
 */
export function reportDigest(report: AgentReport): string {
  const stable = Object.fromEntries(
    Object.entries(report.certificates)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, c]) => [name, { ...c, checkedAt: undefined, servedCheckedAt: undefined }]),
  );
  return createHash('sha256')
    .update(JSON.stringify({ agent: report.agent, host: report.host, version: report.agentVersion, stable }))
    .digest('hex');
}

/** Writes the report when due; returns what the state should remember of it. */
export async function writeReportIfDue(
  store: Pick<AgentReportStore, 'put'>,
  report: AgentReport,
  last: AgentState['reported'],
  intervalSeconds: number,
): Promise<AgentState['reported']> {
  const digest = reportDigest(report);
  const due =
    !last || last.digest !== digest || Date.parse(report.at) - Date.parse(last.at) >= intervalSeconds * 1000;
  if (!due) return last;
  await store.put(report);
  return { at: report.at, digest };
}
