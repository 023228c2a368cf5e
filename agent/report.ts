import { hostname } from 'node:os';
import pkg from '../package.json' with { type: 'json' };
import {
  type AgentReport,
  type CertificateDeployment,
  SYNC_ACTIONS,
  agentReportKey,
  serializeAgentReport,
} from '../shared/fleet/report.js';
import type { ObjectStore } from '../shared/store/store.js';
import type { AgentConfig } from './config.js';
import type { AgentState } from './state.js';

export const AGENT_VERSION: string = pkg.version;

/**
 * The report the fleet view reads, built from the state file after a check: per configured
 * certificate, the serial installed, the serial served (when the agent checks its server),
 * the last action and the last error. Serials and times only; never key material.
 */
export function buildAgentReport(config: AgentConfig, state: AgentState, now: Date): AgentReport {
  const certificates: Record<string, CertificateDeployment> = {};
  for (const name of Object.keys(config.certificates)) {
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
    pollIntervalSeconds: config.pollIntervalSeconds,
    certificates,
  };
}

/** Writes this agent's report; the stack lets the agent write this one key and no other. */
export async function writeAgentReport(objects: ObjectStore, report: AgentReport): Promise<void> {
  await objects.put(agentReportKey(report.agent), serializeAgentReport(report), {
    contentType: 'application/json',
  });
}
