import { describe, expect, it } from 'vitest';
import {
  AGENT_REPORT_MAX_BYTES,
  agentReportKey,
  parseAgentReport,
  serializeAgentReport,
} from '../../../shared/fleet/report.js';
import { ValidationError } from '../../../shared/model/errors.js';
import { leakedKey } from '../../support/test-keys.js';
import { deployment, NAME, NEW, report, STORED } from '../../support/fleet-records.js';

const valid = () =>
  report('web-1', STORED, { [NAME]: deployment({ installedSerial: NEW, servedSerial: NEW }) });

/** The error parseAgentReport throws for `text`, stored as web-1's report. */
function refusal(text: string, agent = 'web-1'): ValidationError {
  try {
    parseAgentReport(text, agent);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error('the report was accepted');
}

describe('agent reports', () => {
  it('round-trips a valid report through serialize and parse', () => {
    const text = serializeAgentReport(valid());
    expect(parseAgentReport(text, 'web-1')).toEqual(valid());
    expect(agentReportKey('web-1')).toBe('agents/web-1/report.json');
  });

  it('refuses a report that is not JSON, naming the object', () => {
    const err = refusal('{"version": 1, "agent": "web-1",');
    expect(err.field).toBe('agents/web-1/report.json');
    expect(err.message).toContain('is not JSON');
    expect(err.fix).toMatch(/agent/);
  });

  it('refuses a schema violation, naming the field', () => {
    const bad = valid();
    (bad.certificates[NAME] as unknown as Record<string, unknown>).installedSerial = 'not-hex';
    const err = refusal(JSON.stringify(bad));
    expect(err.field).toBe(`agents/web-1/report.json.certificates.${NAME}.installedSerial`);
    expect(err.message).toContain('must be a hexadecimal serial');
  });

  it('refuses a field the schema does not know', () => {
    const err = refusal(JSON.stringify({ ...valid(), privkey: 'x' }));
    expect(err.field).toBe('agents/web-1/report.json');
    expect(err.fix).toBe('remove privkey');
  });

  it('refuses a report over AGENT_REPORT_MAX_BYTES before parsing it', () => {
    const padding = 'x'.repeat(AGENT_REPORT_MAX_BYTES);
    const err = refusal(JSON.stringify({ ...valid(), host: padding }));
    expect(err.field).toBe('agents/web-1/report.json');
    expect(err.message).toMatch(new RegExp(`over the ${AGENT_REPORT_MAX_BYTES}-byte limit`));
  });

  it('counts bytes, not characters, against the limit', () => {
    // 3 bytes per character in UTF-8: a third of the limit in characters is already over it.
    const text = JSON.stringify({ ...valid(), host: '€'.repeat(Math.ceil(AGENT_REPORT_MAX_BYTES / 3)) });
    expect(text.length).toBeLessThan(AGENT_REPORT_MAX_BYTES);
    expect(refusal(text).message).toMatch(/-byte limit/);
  });

  it('refuses a foreign report: the agent named inside is not the one whose key it is under', () => {
    const err = refusal(serializeAgentReport(report('web-2', STORED, {})), 'web-1');
    expect(err.field).toBe('agents/web-1/report.json.agent');
    expect(err.message).toContain('names agent "web-2", not "web-1"');
  });

  it('refuses to serialize a report that carries private key material, without echoing it', () => {
    const key = leakedKey();
    const leaky = valid();
    leaky.certificates[NAME]!.lastError = `could not install: ${key.pem}`;
    let thrown: unknown;
    try {
      serializeAgentReport(leaky);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ValidationError);
    expect((thrown as Error).message).toContain('contains private key material');
    expect((thrown as Error).message).not.toContain(key.secret);
  });
});
