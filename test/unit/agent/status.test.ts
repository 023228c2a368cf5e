import { describe, expect, it } from 'vitest';
import type { AgentState } from '../../../agent/state.js';
import { prometheusText, statusOf } from '../../../agent/status.js';

const NOW = new Date('2026-11-22T12:00:00Z');
const at = (hours: number): string => new Date(NOW.getTime() + hours * 3_600_000).toISOString();

const state: AgentState = {
  version: 1,
  certificates: {
    fine: { serial: 'AA', notAfter: at(48), lastCheck: at(-0.5), installedAt: at(-24) },
    soon: { serial: 'BB', notAfter: at(23), lastCheck: at(-1) },
    gone: { serial: 'CC', notAfter: at(-1), lastCheck: at(-2), lastError: 'S3 unreachable' },
    stand: { fallback: true, fallbackNotAfter: at(90), lastCheck: at(-3), lastError: 'refused' },
  },
};

describe('agent status', () => {
  it('flags expired, < 24 h, fallback-only and never-installed certificates', () => {
    const status = statusOf(state, NOW, ['fine', 'new']);
    expect(status.certificates.map((c) => [c.name, c.problem ?? 'ok', c.secondsLeft])).toEqual([
      ['fine', 'ok', 48 * 3600],
      ['gone', 'expired', -3600],
      ['new', 'never installed', undefined],
      ['soon', 'expires in 23 h', 23 * 3600],
      ['stand', 'self-signed fallback only', undefined],
    ]);
    expect(status.exitCode).toBe(1);
    expect(statusOf({ version: 1, certificates: { fine: state.certificates.fine! } }, NOW).exitCode).toBe(0);
  });

  it('writes the node_exporter textfile format', () => {
    const text = prometheusText(statusOf(state, NOW));
    expect(text).toContain('# TYPE certkeeper_certificate_expiry_seconds gauge\n');
    expect(text).toContain('certkeeper_certificate_expiry_seconds{name="fine"} 172800\n');
    expect(text).toContain('certkeeper_certificate_expiry_seconds{name="gone"} -3600\n');
    expect(text).not.toContain('certkeeper_certificate_expiry_seconds{name="stand"}');
    expect(text).toContain('certkeeper_certificate_installed{name="stand"} 0\n');
    expect(text).toContain('certkeeper_agent_last_error{name="gone"} 1\n');
    expect(text).toContain('certkeeper_agent_last_error{name="fine"} 0\n');
    expect(text).toContain(`certkeeper_agent_last_check_timestamp_seconds ${NOW.getTime() / 1000 - 1800}\n`);
  });
});
