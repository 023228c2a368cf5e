import * as z from 'zod';
import { AGENT_NAME_PATTERN } from '../model/delivery.js';
import { ValidationError } from '../model/errors.js';
import { NAME_PATTERN } from '../model/spec.js';
import { parseJson } from '../model/json.js';
import { agentPrefix } from '../store/layout.js';

/**
 * What one agent tells the fleet view after every check: which serial it installed and
 * which one its server serves, per certificate. Each agent writes only its own object
 * (`agents/<agent>/report.json`; the stack grants nothing else), and the reader trusts
 * nothing in it: a report that is malformed, oversized, or names another agent is ignored.
 */
export { AGENTS_PREFIX } from '../store/layout.js';
export const agentReportKey = (agent: string): string => `${agentPrefix(agent)}report.json`;

/** A report for a few hundred certificates is a few tens of kilobytes; more is not a report. */
export const AGENT_REPORT_MAX_BYTES = 256 * 1024;

export const SYNC_ACTIONS = [
  'installed',
  'unchanged',
  'refused',
  'rolled-back',
  'fallback',
  'error',
] as const;

const time = z.iso.datetime({ offset: true });
const serial = z.string().regex(/^[0-9A-Fa-f]{1,64}$/, 'must be a hexadecimal serial');

const certificateReport = z
  .object({
    /** The serial of the CA-issued certificate installed on disk; absent when none is. */
    installedSerial: serial.optional(),
    installedNotAfter: time.optional(),
    /** What the server presents, from the agent's TLS check (when configured). */
    servedSerial: serial.optional(),
    servedNotAfter: time.optional(),
    servedCheckedAt: time.optional(),
    lastAction: z.enum(SYNC_ACTIONS),
    /** Message and fix, for people; never key material. */
    lastError: z.string().max(2000).optional(),
    checkedAt: time,
  })
  .strict();

export const agentReportSchema = z
  .object({
    version: z.literal(1),
    agent: z.string().regex(AGENT_NAME_PATTERN, 'must be the agent name from the deployment config'),
    host: z.string().min(1).max(255),
    agentVersion: z.string().min(1).max(64),
    at: time,
    /** The agent reports at least this often; three intervals without a report is silence. */
    pollIntervalSeconds: z.number().int().min(1).max(86_400),
    certificates: z.record(z.string().regex(NAME_PATTERN), certificateReport),
  })
  .strict();

export type AgentReport = z.infer<typeof agentReportSchema>;
export type CertificateDeployment = z.infer<typeof certificateReport>;

/**
 * Parses the report stored for `expectedAgent`: oversized, not JSON, not the schema, or
 * another agent's name (a report copied or written under the wrong key) are refused with
 * a ValidationError naming the field.
 */
export function parseAgentReport(text: string, expectedAgent: string): AgentReport {
  const field = `${agentReportKey(expectedAgent)}`;
  const bytes = Buffer.byteLength(text);
  if (bytes > AGENT_REPORT_MAX_BYTES) {
    throw new ValidationError(
      field,
      `is ${bytes} bytes, over the ${AGENT_REPORT_MAX_BYTES}-byte limit`,
      'an agent report lists only its certificates; check what wrote this object',
    );
  }
  const report = parseJson(text, agentReportSchema, {
    what: field,
    fix: 'let the certkeeper agent write it (it rewrites it on its next check)',
  });
  if (report.agent !== expectedAgent) {
    throw new ValidationError(
      `${field}.agent`,
      `names agent "${report.agent}", not "${expectedAgent}"`,
      'each agent writes only agents/<its own name>/report.json; check the agent config\'s "name"',
    );
  }
  return report;
}

/** Refuses a report that would carry key material, whatever bug put it there. */
export function serializeAgentReport(report: AgentReport): string {
  const text = `${JSON.stringify(agentReportSchema.parse(report), null, 2)}\n`;
  if (text.includes('PRIVATE KEY')) {
    throw new ValidationError(
      'report',
      'contains private key material',
      'this is a bug; the report was not written',
    );
  }
  return text;
}
