import { asCertkeeperError } from '../model/errors.js';
import type { ListableObjectStore } from '../store/object-certificate-store.js';
import { AGENTS_PREFIX } from '../store/layout.js';
import type { ObjectStore } from '../store/store.js';
import {
  AGENT_REPORT_MAX_BYTES,
  type AgentReport,
  agentReportKey,
  parseAgentReport,
  serializeAgentReport,
} from './report.js';
import { type AgentReportStore, type ReportRead, unknownAgent } from './report-store.js';

const REPORT_KEY = /^agents\/([^/]+)\/report\.json$/;

/** Reports as objects in the bucket (or local mode's directory): agents in direct mode. */
export class ObjectAgentReports implements AgentReportStore {
  readonly location: string;

  constructor(private readonly objects: ListableObjectStore) {
    this.location = objects.location;
  }

  put(report: AgentReport): Promise<void> {
    return writeAgentReport(this.objects, report);
  }

  async list(known: (agent: string) => boolean): Promise<ReportRead> {
    const reports = new Map<string, AgentReport>();
    const ignored: ReportRead['ignored'] = [];
    for (const { key, size } of await this.objects.list(AGENTS_PREFIX)) {
      const agent = REPORT_KEY.exec(key)?.[1];
      if (agent === undefined) continue;
      if (!known(agent)) {
        ignored.push({ key, reason: unknownAgent(agent) });
        continue;
      }
      // The listing's size spares a read of what is plainly too large; the capped read below
      // holds even for an object replaced by a larger one since (a ranged GET).
      if (size > AGENT_REPORT_MAX_BYTES) {
        ignored.push({
          key,
          reason: `${key} is ${size} bytes, over the ${AGENT_REPORT_MAX_BYTES}-byte limit`,
        });
        continue;
      }
      try {
        const text = await this.objects.get(key, { maxBytes: AGENT_REPORT_MAX_BYTES });
        if (text !== undefined) reports.set(agent, parseAgentReport(text, agent));
      } catch (err) {
        ignored.push({ key, reason: asCertkeeperError(err).describe() });
      }
    }
    return { reports, ignored };
  }

  async remove(agent: string): Promise<void> {
    await this.objects.delete(agentReportKey(agent));
  }
}

/** Writes an agent's report as an object; the stack lets an agent in direct mode write this key and no other. */
export async function writeAgentReport(objects: ObjectStore, report: AgentReport): Promise<void> {
  await objects.put(agentReportKey(report.agent), serializeAgentReport(report), {
    contentType: 'application/json',
  });
}
