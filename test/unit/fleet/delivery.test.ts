import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileInventory } from '../../../shared/inventory/file.js';
import { FileLeaseLock } from '../../../shared/lock/file.js';
import { HOUR, ManualClock } from '../../../shared/model/clock.js';
import { type DeploymentConfigInput, parseDeploymentConfig } from '../../../shared/config/deployment.js';
import { ACM_IMPORTS_PER_YEAR } from '../../../shared/model/delivery.js';
import { importsPerYear } from '../../../shared/renewal/acm-quota.js';
import { ValidationError } from '../../../shared/model/errors.js';
import { type CertificateSpecInput, parseCertificateSpec } from '../../../shared/model/spec.js';
import type { CertificateState } from '../../../shared/model/state.js';
import { stateAfterSpecChange } from '../../../shared/renewal/spec-change.js';
import { declareSpec } from '../../../shared/usecases/declare-certificates.js';
import { amendState } from '../../../shared/inventory/inventory.js';

/** A config whose first certificate is `web` with the given delivery fields. */
function config(
  certificate: Partial<CertificateSpecInput>,
  extra: Partial<DeploymentConfigInput> = {},
): DeploymentConfigInput {
  return {
    certificates: [{ name: 'web', identifiers: ['203.0.113.10'], ...certificate }],
    ...extra,
  };
}

function refusal(input: DeploymentConfigInput): ValidationError {
  try {
    parseDeploymentConfig(input);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error('the config was accepted');
}

/** 203.0.113.1, .2, ...: IP certificates, so the 160-hour shortlived profile by default. */
const ipCertificates = (count: number, acmRegions: string[]) =>
  Array.from({ length: count }, (_, i) => ({
    name: `node-${i + 1}`,
    identifiers: [`203.0.113.${i + 1}`],
    acmRegions,
  }));

describe('delivery targets in the config', () => {
  it('accepts host:port, [v6]:port and objects with an SNI; declared agents are registry agents with a selector', () => {
    const parsed = parseDeploymentConfig(
      config(
        {
          probes: [
            '203.0.113.10:443',
            '[2001:db8::1]:8443',
            'www.example.com:443',
            { host: '198.51.100.7', port: 443, sni: 'www.example.com' },
          ],
          acmRegions: ['us-east-1', 'eu-west-1'],
        },
        { agents: [{ name: 'web-1', certificates: ['web'] }] },
      ),
    );
    // Agents are no longer written into the certificates: the registry's selectors decide.
    expect(parsed.agents).toEqual([{ name: 'web-1', selector: { certificates: ['web'], labels: {} } }]);
    expect(parsed.certificates[0]!.delivery).toEqual({
      agents: [],
      probes: [
        { host: '203.0.113.10', port: 443 },
        { host: '2001:db8::1', port: 8443 },
        { host: 'www.example.com', port: 443 },
        { host: '198.51.100.7', port: 443, sni: 'www.example.com' },
      ],
      acmRegions: ['us-east-1', 'eu-west-1'],
    });
    expect(parsed.fleet).toEqual({
      lagMinutes: 30,
      acmImportsPerYear: ACM_IMPORTS_PER_YEAR,
      agentIdentityHours: 168,
    });
  });

  it('refuses a probe endpoint that is not host:port, naming the field and the form expected', () => {
    const err = refusal(config({ probes: ['203.0.113.10:443', 'www.example.com'] }));
    expect(err.field).toBe('config.certificates[0] (web).probes[1]');
    expect(err.message).toContain('"www.example.com" is not host:port');
    expect(err.fix).toContain('"203.0.113.10:443"');
    expect(err.fix).toContain('"[2001:db8::1]:443"');
  });

  it('refuses an IPv6 endpoint without brackets', () => {
    const err = refusal(config({ probes: ['2001:db8::1:443'] }));
    expect(err.field).toBe('config.certificates[0] (web).probes[0]');
    expect(err.message).toContain('is not host:port');
    expect(err.fix).toContain('[2001:db8::1]:443');
  });

  it('refuses brackets around something that is not an IPv6 address', () => {
    const err = refusal(config({ probes: ['[203.0.113.10]:443'] }));
    expect(err.message).toContain('has no IPv6 address inside [ ]');
  });

  it('refuses a port out of range', () => {
    const err = refusal(config({ probes: ['203.0.113.10:70000'] }));
    expect(err.field).toBe('config.certificates[0] (web).probes[0]');
    expect(err.message).toContain('port 70000 is out of range');
  });

  it('refuses an SNI that is an IP address (RFC 6066 §3), naming the sni field', () => {
    const err = refusal(config({ probes: [{ host: '203.0.113.10', port: 443, sni: '203.0.113.10' }] }));
    expect(err.field).toBe('config.certificates[0] (web).probes[0].sni');
    expect(err.message).toContain('RFC 6066');
    expect(err.fix).toBe('leave sni out for an IP certificate');
  });

  it('refuses an ACM region that does not exist, suggesting close ones', () => {
    const err = refusal(config({ acmRegions: ['us-east-1', 'eu-east-1'] }));
    expect(err.field).toBe('config.certificates[0] (web).acmRegions[1]');
    expect(err.message).toContain('"eu-east-1" is not an AWS region with ACM');
    expect(err.fix).toMatch(/close: eu-central-1, .*eu-west-1/);
  });

  it('refuses a region listed twice', () => {
    const err = refusal(config({ acmRegions: ['eu-west-1', 'us-east-1', 'eu-west-1'] }));
    expect(err.field).toBe('config.certificates[0] (web).acmRegions[2]');
    expect(err.message).toContain('"eu-west-1" is listed twice');
  });
});

describe('the ACM import quota, at declaration', () => {
  it('counts a 160-hour certificate at about 110 imports a year, a 90-day one at about 6', () => {
    const shortlived = parseCertificateSpec({ name: 'ip', identifiers: ['203.0.113.10'] });
    expect(Math.round(importsPerYear(shortlived))).toBe(110);
    const classic = parseCertificateSpec({
      name: 'www',
      identifiers: ['www.example.com'],
      profile: 'classic',
    });
    expect(importsPerYear(classic)).toBeCloseTo(6.08, 1);
  });

  it('refuses 50 shortlived certificates into one region, naming the region and fleet.acmImportsPerYear', () => {
    const err = refusal({ certificates: ipCertificates(50, ['eu-west-1']) });
    expect(err.field).toBe('config.certificates[].acmRegions');
    expect(err.message).toContain('50 certificates would be imported into ACM in eu-west-1 about 5475 times');
    expect(err.message).toContain(`over the quota of ${ACM_IMPORTS_PER_YEAR}`);
    expect(err.fix).toContain('eu-west-1');
    expect(err.fix).toContain('fleet.acmImportsPerYear');
  });

  it('accepts 45 of them (about 4,930 imports), and 50 once the quota is raised', () => {
    expect(() => parseDeploymentConfig({ certificates: ipCertificates(45, ['eu-west-1']) })).not.toThrow();
    expect(() =>
      parseDeploymentConfig({
        certificates: ipCertificates(50, ['eu-west-1']),
        fleet: { acmImportsPerYear: 10_000 },
      }),
    ).not.toThrow();
  });

  it('counts each region on its own: 30 certificates into two regions is 3,285 imports in each', () => {
    const parsed = parseDeploymentConfig({ certificates: ipCertificates(30, ['us-east-1', 'eu-west-1']) });
    expect(parsed.certificates).toHaveLength(30);
  });
});

describe('a delivery-only change', () => {
  const NOW = new Date('2026-11-20T12:00:00Z');
  const failing: CertificateState = {
    status: 'failing',
    attempts: 4,
    current: {
      serial: '04AA01',
      notBefore: new Date(NOW.getTime() - 40 * 24 * HOUR).toISOString(),
      notAfter: new Date(NOW.getTime() + 50 * 24 * HOUR).toISOString(),
      manifestKey: 'certificates/web/current.json',
    },
    nextAttemptAt: new Date(NOW.getTime() + 2 * HOUR).toISOString(),
    dueAt: new Date(NOW.getTime() + 2 * HOUR).toISOString(),
    updatedAt: new Date(NOW.getTime() - HOUR).toISOString(),
  };

  it('leaves the state alone: no reset of attempts, not due, no reissue', () => {
    const before = parseCertificateSpec({ name: 'web', identifiers: ['203.0.113.10'] });
    const after = parseCertificateSpec({
      name: 'web',
      identifiers: ['203.0.113.10'],
      probes: ['203.0.113.10:443'],
    });
    expect(stateAfterSpecChange(failing, before, after, NOW)).toBe(failing);
    // A new ACM region for an issued certificate only brings the check forward, to import it.
    const imported = { ...after, delivery: { ...after.delivery!, acmRegions: ['us-east-1'] } };
    expect(stateAfterSpecChange(failing, before, imported, NOW)).toEqual({
      ...failing,
      dueAt: NOW.toISOString(),
    });
    // While a change of what the certificate says does reset and reissue.
    const renamed = parseCertificateSpec({ name: 'web', identifiers: ['203.0.113.11'] });
    expect(stateAfterSpecChange(failing, before, renamed, NOW)).toMatchObject({
      attempts: 0,
      reissue: true,
      dueAt: NOW.toISOString(),
    });
  });

  it('is stored by the file inventory with the new delivery and the old state', async () => {
    const root = await mkdtemp(join(tmpdir(), 'certkeeper-delivery-'));
    try {
      const clock = new ManualClock(NOW);
      const lock = new FileLeaseLock({ dir: join(root, 'locks'), clock });
      const inventory = new FileInventory({ dir: join(root, 'inventory'), lock });
      await declareSpec(
        inventory,
        parseCertificateSpec({ name: 'web', identifiers: ['203.0.113.10'] }),
        clock,
      );
      await amendState(inventory, 'web', () => failing);

      clock.advance(HOUR);
      await declareSpec(
        inventory,
        parseCertificateSpec({ name: 'web', identifiers: ['203.0.113.10'], probes: ['203.0.113.10:443'] }),
        clock,
      );
      const stored = await inventory.get('web');
      expect(stored?.spec.delivery?.probes).toEqual([{ host: '203.0.113.10', port: 443 }]);
      expect(stored?.state).toEqual(failing);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
