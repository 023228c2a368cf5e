import type { AgentReport } from './report.js';

/**
 * Port: where agents leave their reports and the fleet tick finds them. Registry agents
 * write to the fleet table (reports-dynamodb.ts); agents in direct mode, which read the
 * bucket with credentials the operator granted, to `agents/<name>/report.json`
 * (reports-objects.ts). The reader trusts nothing in a report: malformed, oversized, or
 * naming another agent is set aside with the reason.
 */
export interface ReportRead {
  reports: Map<string, AgentReport>;
  /** Reports not used, and why; each names where it was. */
  ignored: { key: string; reason: string }[];
}

export interface AgentReportStore {
  /** The place reports are kept, for messages. */
  readonly location: string;
  put(report: AgentReport): Promise<void>;
  /** Every report there, parsed; `known` says which agents to read at all (others are ignored unread). */
  list(known: (agent: string) => boolean): Promise<ReportRead>;
  remove(agent: string): Promise<void>;
}

/** Reports from several stores: the newest report of an agent wins. */
export async function readAllReports(
  stores: readonly AgentReportStore[],
  known: (agent: string) => boolean,
): Promise<ReportRead> {
  const reports = new Map<string, AgentReport>();
  const ignored: ReportRead['ignored'] = [];
  for (const store of stores) {
    const read = await store.list(known);
    ignored.push(...read.ignored);
    for (const [agent, report] of read.reports) {
      const seen = reports.get(agent);
      if (!seen || Date.parse(report.at) > Date.parse(seen.at)) reports.set(agent, report);
    }
  }
  return { reports, ignored };
}

/** Why a report of an agent nobody knows is ignored. */
export const unknownAgent = (agent: string): string =>
  `agent "${agent}" is not in the registry and no certificate lists it`;
