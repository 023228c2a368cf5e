import { writeFileAtomic } from './files.js';
import { type AgentState, readState } from './state.js';

/** Less than this left counts as a problem: time for someone to look before it expires. */
export const ATTENTION_SECONDS = 24 * 3600;

export interface CertificateStatusLine {
  name: string;
  serial: string | undefined;
  notAfter: string | undefined;
  /** Negative once expired; undefined when nothing was ever installed. */
  secondsLeft: number | undefined;
  installedAt: string | undefined;
  lastCheck: string | undefined;
  lastError: string | undefined;
  /** A self-signed stand-in is on disk. */
  fallback: boolean;
  /** What needs attention, for people; undefined when fine. */
  problem: string | undefined;
}

export interface AgentStatus {
  certificates: CertificateStatusLine[];
  /** 0 when every certificate is fine, 1 when any needs attention (the CLI's EXIT codes). */
  exitCode: 0 | 1;
}

/**
 * What the agent has installed, from its state file. `names` (the configured certificates)
 * adds the ones the agent never got to; without it only the state's are listed.
 */
export async function agentStatus(
  stateFile: string,
  now: Date,
  names?: readonly string[],
): Promise<AgentStatus> {
  return statusOf(await readState(stateFile), now, names);
}

export function statusOf(state: AgentState, now: Date, names?: readonly string[]): AgentStatus {
  const all = [...new Set([...(names ?? []), ...Object.keys(state.certificates)])].sort();
  const certificates = all.map((name): CertificateStatusLine => {
    const s = state.certificates[name] ?? {};
    const secondsLeft =
      s.serial && s.notAfter ? Math.floor((Date.parse(s.notAfter) - now.getTime()) / 1000) : undefined;
    let problem: string | undefined;
    if (secondsLeft === undefined) {
      problem = s.fallback ? 'self-signed fallback only' : 'never installed';
    } else if (secondsLeft <= 0) problem = 'expired';
    else if (secondsLeft < ATTENTION_SECONDS) problem = `expires in ${Math.floor(secondsLeft / 3600)} h`;
    return {
      name,
      serial: s.serial,
      notAfter: s.notAfter,
      secondsLeft,
      installedAt: s.installedAt,
      lastCheck: s.lastCheck,
      lastError: s.lastError,
      fallback: s.fallback ?? false,
      problem,
    };
  });
  return { certificates, exitCode: certificates.some((c) => c.problem) ? 1 : 0 };
}

/**
 * The node_exporter textfile format. `certkeeper_certificate_expiry_seconds` is the time
 * left when written (negative once expired), so alert on it together with
 * `certkeeper_agent_last_check_timestamp_seconds`: a stale file means a stopped agent.
 */
export function prometheusText(status: AgentStatus): string {
  const label = (name: string): string => `{name="${name.replace(/["\\\n]/g, '_')}"}`;
  const lines = [
    '# HELP certkeeper_certificate_expiry_seconds Seconds until the installed certificate expires (negative: expired).',
    '# TYPE certkeeper_certificate_expiry_seconds gauge',
    ...status.certificates
      .filter((c) => c.secondsLeft !== undefined)
      .map((c) => `certkeeper_certificate_expiry_seconds${label(c.name)} ${c.secondsLeft}`),
    '# HELP certkeeper_certificate_installed 1 when a CA-issued certificate is installed, 0 when none (or only a fallback) is.',
    '# TYPE certkeeper_certificate_installed gauge',
    ...status.certificates.map((c) => `certkeeper_certificate_installed${label(c.name)} ${c.serial ? 1 : 0}`),
    '# HELP certkeeper_agent_last_error 1 when the last check of the certificate failed.',
    '# TYPE certkeeper_agent_last_error gauge',
    ...status.certificates.map((c) => `certkeeper_agent_last_error${label(c.name)} ${c.lastError ? 1 : 0}`),
  ];
  const checks = status.certificates.flatMap((c) => (c.lastCheck ? [Date.parse(c.lastCheck)] : []));
  if (checks.length > 0) {
    lines.push(
      '# HELP certkeeper_agent_last_check_timestamp_seconds When the agent last checked the bucket.',
      '# TYPE certkeeper_agent_last_check_timestamp_seconds gauge',
      `certkeeper_agent_last_check_timestamp_seconds ${Math.floor(Math.max(...checks) / 1000)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Atomically, so node_exporter never reads half a file. */
export async function writePrometheusTextfile(file: string, status: AgentStatus): Promise<void> {
  await writeFileAtomic({ path: file, content: prometheusText(status), mode: 0o644 });
}
